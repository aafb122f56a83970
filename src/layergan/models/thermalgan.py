"""ThermalGAN (Kniaz et al. 2018): object temperatures first, then relative thermal contrasts.

Stage 1: a U-Net predicts a dense temperature map from RGB + segmentation; it is
painted per object by averaging inside each object (a differentiable segment mean),
which gives the predicted thermal segmentation R^.
Stage 2: a U-Net predicts contrasts (T - R) / 10 from [R / 40, RGB].
Output: R + 10 * contrast. Stage 2 sees the true R while training (as in the original
code) and stage 1's R^ at evaluation.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from layergan.data.encoding import CONDITION_LIMIT, get_encoding
from layergan.models.pix2pix import UNetGenerator, init_normal

CONTRAST_LIMIT = 10.0  # °C, the stage-2 target is clip(T - R, ±10) / 10
R_INPUT_SCALE = 40.0  # stage-2 input is R / 40, as in the original code


def stage2_condition(r_celsius: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    """Stage 2's input, which its PatchGAN also sees: [R / 40, RGB]."""
    return torch.cat([r_celsius / R_INPUT_SCALE, rgb], dim=1)


def contrast_target(thermal: torch.Tensor, r_celsius: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Stage 2's target: clip(T - R, ±10 °C) / 10 over valid pixels."""
    return (thermal - r_celsius).clamp(-CONTRAST_LIMIT, CONTRAST_LIMIT) / CONTRAST_LIMIT * valid


def segment_mean(values: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """Replace each pixel of (N, 1, H, W) `values` by the mean over its segment; -1 = no segment (kept)."""
    n = values.shape[0]
    flat = values.reshape(n, -1)
    seg = segments.reshape(n, -1)
    valid = seg >= 0
    ids = torch.where(valid, seg, torch.zeros_like(seg)) + torch.arange(n, device=seg.device)[:, None] * (2**40)
    uniq, inverse = torch.unique(ids[valid], return_inverse=True)
    sums = torch.zeros(len(uniq), device=values.device, dtype=flat.dtype).index_add(0, inverse, flat[valid])
    counts = torch.zeros(len(uniq), device=values.device, dtype=flat.dtype).index_add(
        0, inverse, torch.ones_like(flat[valid]))
    out = flat.clone()
    out[valid] = (sums / counts)[inverse]
    return out.reshape_as(values)


class ThermalGANGenerator(nn.Module):
    input_keys = ("rgb", "seg")

    def __init__(self,
                 resolution: int,  # output size S
                 encoding: str,  # the run's temperature encoding for the `thermal` output
                 ngf: int = 64):  # U-Net width
        super().__init__()
        self.init_kwargs = dict(resolution=resolution, encoding=encoding, ngf=ngf)
        self.encoding = get_encoding(encoding)
        self.stage1 = UNetGenerator(6, 1, resolution, ngf)
        self.stage2 = UNetGenerator(4, 1, resolution, ngf)
        init_normal(self)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        dense = self.stage1(torch.cat([batch["rgb"], batch["seg"]], dim=1)) * CONDITION_LIMIT
        r_pred = segment_mean(dense, batch["instances"]) * batch["valid"]
        r_used = batch["r_celsius"] if self.training else r_pred
        contrast = self.stage2(stage2_condition(r_used, batch["rgb"]))
        celsius = r_used + CONTRAST_LIMIT * contrast
        return {"thermal": self.encoding.encode(celsius, batch["r_celsius"]), "r_pred": r_pred, "contrast": contrast}
