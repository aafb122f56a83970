"""Image grids: input RGB | segmentation | ground truth | output(s), thermal in °C with a shared colorbar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from layergan.data.batch import collate
from layergan.models.pretrained import predict_celsius
from layergan.viz import save_grid


def to_rgb_image(tensor: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) uint8."""
    return ((tensor.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def sample_grid(G, dataset, device, path: Path, title: str, count: int = 4) -> np.ndarray:
    """The first `count` samples of `dataset` through G; written to `path` and returned as an image."""
    batch = collate([dataset[i] for i in range(min(count, len(dataset)))], device)
    pred = predict_celsius(G, batch, dataset.encoding)
    rows = [[to_rgb_image(batch["rgb"][i]), to_rgb_image(batch["seg"][i]), batch["thermal"][i, 0].cpu().numpy(),
             pred[i, 0].cpu().numpy()] for i in range(len(pred))]
    unit = dataset.units.symbol
    save_grid(path, rows, ["input RGB", "segmentation", f"ground truth ({unit})", f"output ({unit})"],
              thermal_columns=[2, 3], title=title, unit=unit)
    return np.asarray(Image.open(path).convert("RGB"))
