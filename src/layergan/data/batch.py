"""The batch schema: the one definition of what a dataset item holds and how inputs are gathered.

Every item (and every collated batch, with a leading N) is a dict of tensors at the output size S x S.
Networks, losses, metrics and translate read the keys from here.
"""

from __future__ import annotations

from typing import Iterable, TypedDict

import torch
from torch.utils.data import default_collate


class Item(TypedDict):
    rgb: torch.Tensor  # (3, S, S) colour in [-1, 1]
    seg: torch.Tensor  # (3, S, S) class colours with white object edges, in [-1, 1]
    masks: torch.Tensor  # (C, S, S) one-hot class masks, 0 outside `valid`
    edges: torch.Tensor  # (1, S, S)
    r: torch.Tensor  # (1, S, S) thermal segmentation R on the absolute scale (CONDITION_LIMIT)
    r_celsius: torch.Tensor  # (1, S, S) R in °C
    t: torch.Tensor  # (2C,) T: class mean temperatures (absolute scale) and presence flags
    target: torch.Tensor  # (1, S, S) the thermal frame in the run's encoding
    thermal: torch.Tensor  # (1, S, S) the thermal frame in °C
    valid: torch.Tensor  # (1, S, S) 1 where labelled and inside the image (not padding, not void)
    instances: torch.Tensor  # (S, S) int64 segment keys (class * SEGMENT_STRIDE + instance), -1 outside `valid`


# Channels of each image-like key that a network can take as input; "masks" has one per class.
INPUT_CHANNELS = {"rgb": 3, "seg": 3, "r": 1, "edges": 1}


def condition_channels(keys: Iterable[str], num_classes: int) -> int:
    return sum(num_classes if k == "masks" else INPUT_CHANNELS[k] for k in keys)


def gather_condition(batch: dict[str, torch.Tensor], keys: Iterable[str]) -> torch.Tensor:
    """The named inputs concatenated along channels, in the order given."""
    return torch.cat([batch[k] for k in keys], dim=1)


def collate(items: list[dict[str, torch.Tensor]], device: str | torch.device = "cpu",
            channels_last: bool = False) -> dict[str, torch.Tensor]:
    """Stack items into a batch on `device`."""
    return to_device(default_collate(items), device, channels_last)


def to_device(batch: dict[str, torch.Tensor], device: str | torch.device,
              channels_last: bool = False) -> dict[str, torch.Tensor]:
    """Move a batch; image tensors optionally in channels_last (the CUDA fast path)."""
    out = {}
    for key, value in batch.items():
        value = value.to(device, non_blocking=True)
        if channels_last and value.ndim == 4:
            value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out
