"""A random batch with every key the generators and losses read, for tests, benchmarks and model-size counts."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from layergan.data.labels import SEGMENT_STRIDE


def example_batch(n: int = 2, size: int = 32, num_classes: int = 3, seed: int = 0,
                  device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Blocky random class maps (8x8-pixel cells), per-class masks and random images in the dataset's ranges."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, num_classes, (n, max(1, size // 8), max(1, size // 8)), generator=g)
    labels = F.interpolate(labels[:, None].float(), size=size, mode="nearest")[:, 0].long()
    masks = F.one_hot(labels, num_classes).permute(0, 3, 1, 2).float()
    r = torch.rand(n, 1, size, size, generator=g) * 2 - 1
    batch = {
        "rgb": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
        "seg": torch.rand(n, 3, size, size, generator=g),
        "masks": masks,
        "edges": torch.zeros(n, 1, size, size),
        "r": r,
        "r_celsius": r * 50,
        "t": torch.rand(n, 2 * num_classes, generator=g),
        "target": torch.rand(n, 1, size, size, generator=g) * 2 - 1,
        "thermal": torch.rand(n, 1, size, size, generator=g) * 30,
        "valid": torch.ones(n, 1, size, size),
        "instances": labels * SEGMENT_STRIDE,
    }
    return {k: v.to(device) for k, v in batch.items()}
