"""Realism without downloaded weights: the multi-scale sliced Wasserstein distance and a power-spectrum distance.

Both compare the *sets* of predicted and real frames (not pixel to pixel), on the valid pixels, in °C:

- **SWD** (Karras et al. 2018, "Progressive Growing of GANs", section 5): a Laplacian pyramid of each frame
  down to 16 px; at every level, the 7x7 neighbourhoods centred on a grid (at most 16 x 16 per frame, only
  where all 49 pixels are valid) are the descriptors. The distance per level is the sliced Wasserstein-1
  distance between the real and predicted descriptor sets over 512 fixed random directions; reported x 1e3,
  per level (the finest first) and averaged. The fixed normalisation: descriptors are divided by 10 °C
  (ProGAN normalised each set by its own mean and std, which would hide a wrong temperature level).
  Grid positions instead of random patches make the result independent of the order of the frames.
- **Spectrum distance**: each frame with its non-valid pixels filled by its valid mean, times a Hann
  window; the power |FFT|^2 averaged over rings of one cycle per frame, then over the frames of a set.
  The distance is the mean absolute difference of the log10 spectra over the non-zero frequencies.
  Over-smoothed output loses power at high frequencies; noise adds it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SCALE_CELSIUS = 10.0  # the fixed descriptor normalisation
PATCH = 7
DIRECTIONS = 512
MIN_LEVEL = 16
GRID = 16  # descriptors per frame and level: at most GRID x GRID


def gaussian_kernel() -> torch.Tensor:
    taps = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    kernel = taps[:, None] * taps[None, :]
    return (kernel / kernel.sum())[None, None]


def _blur(x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), gaussian_kernel().to(x))


def _erode(mask: torch.Tensor, radius: int = 3) -> torch.Tensor:
    return -F.max_pool2d(-mask, 2 * radius + 1, stride=1, padding=radius)


def laplacian_pyramid(frames: torch.Tensor, valid: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """[(band, valid)] from the full size down to MIN_LEVEL; the last level is the Gaussian residual.

    frames, valid: (N, 1, S, S). A level's valid mask is the min-pool of the finer one, eroded by 3 px so
    that no band value near padding or void has blurred their zeros in.
    """
    levels, current, mask = [], frames.float() * valid, valid.float()
    while current.shape[-1] > MIN_LEVEL:
        smaller = F.avg_pool2d(_blur(current), 2)
        smaller_mask = -F.max_pool2d(-mask, 2)
        up = F.interpolate(smaller, scale_factor=2, mode="bilinear", align_corners=False)
        levels.append((current - up, _erode(mask)))
        current, mask = smaller, smaller_mask
    levels.append((current, mask))
    return levels


def descriptors(band: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(M, 49) 7x7 neighbourhoods on a grid of centres, those wholly inside the valid pixels, / SCALE_CELSIUS."""
    size = band.shape[-1]
    patches = F.unfold(band, PATCH)  # (N, 49, L): every 7x7 window, row-major positions
    inside = F.unfold(mask, PATCH).min(dim=1).values  # (N, L)
    side = size - PATCH + 1
    stride = max(1, side // GRID)
    grid = torch.arange(0, side, stride)
    positions = (grid[:, None] * side + grid[None, :]).reshape(-1)
    chosen = patches[:, :, positions].permute(0, 2, 1).reshape(-1, PATCH * PATCH)
    keep = inside[:, positions].reshape(-1) > 0.5
    return chosen[keep] / SCALE_CELSIUS


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, seed: int = 0) -> float:
    """Mean over DIRECTIONS fixed unit directions of the 1-D Wasserstein-1 distance of the projections."""
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(a.shape[1], DIRECTIONS, generator=generator, dtype=torch.float64)
    directions /= directions.norm(dim=0, keepdim=True)
    pa, pb = (x.double() @ directions for x in (a, b))
    count = min(len(pa), len(pb))
    quantiles = (torch.arange(count, dtype=torch.float64) + 0.5) / count
    qa = torch.quantile(pa, quantiles, dim=0) if len(pa) != count else pa.sort(dim=0).values
    qb = torch.quantile(pb, quantiles, dim=0) if len(pb) != count else pb.sort(dim=0).values
    return float((qa - qb).abs().mean())


def radial_power(frames: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(N, S // 2) power per ring of integer frequency radius, after filling and a Hann window."""
    frames, valid = frames.double()[:, 0], valid.double()[:, 0]
    count = valid.sum(dim=(1, 2)).clamp(min=1)
    mean = (frames * valid).sum(dim=(1, 2)) / count
    filled = torch.where(valid > 0.5, frames, mean[:, None, None])
    filled = filled - mean[:, None, None]
    size = frames.shape[-1]
    hann = torch.hann_window(size, periodic=False, dtype=torch.float64)
    power = torch.fft.fft2(filled * hann[:, None] * hann[None, :]).abs().square()
    freq = torch.fft.fftfreq(size, d=1.0 / size).to(torch.float64)
    radius = torch.sqrt(freq[:, None] ** 2 + freq[None, :] ** 2).round().long()
    bins = size // 2
    inside = radius < bins
    sums = torch.zeros(frames.shape[0], bins, dtype=torch.float64)
    sums.index_add_(1, radius[inside], power[:, inside])
    rings = torch.bincount(radius[inside], minlength=bins).double()
    return sums / rings.clamp(min=1)


class RealismMetrics:
    """Streams descriptors and spectra of predicted and real frames; `result()` gives SWD and spectrum distance."""

    def __init__(self):
        self.real: list[list[torch.Tensor]] = []
        self.fake: list[list[torch.Tensor]] = []
        self.power = {"real": None, "fake": None}
        self.frames = 0

    def update(self, pred: torch.Tensor, truth: torch.Tensor, valid: torch.Tensor) -> None:
        """pred, truth, valid: (N, 1, S, S) in °C (or units)."""
        pred, truth, valid = pred.float().cpu(), truth.float().cpu(), valid.float().cpu()
        for store, frames in ((self.real, truth), (self.fake, pred)):
            levels = [descriptors(band, mask) for band, mask in laplacian_pyramid(frames, valid)]
            if not store:
                store.extend([] for _ in levels)
            for kept, new in zip(store, levels):
                kept.append(new)
        for name, frames in (("real", truth), ("fake", pred)):
            spectrum = radial_power(frames, valid).sum(dim=0)
            self.power[name] = spectrum if self.power[name] is None else self.power[name] + spectrum
        self.frames += pred.shape[0]

    def result(self) -> dict:
        if not self.frames:
            return {"swd": None, "swd_per_scale": [], "spectrum_distance": None}
        per_scale = [1e3 * sliced_wasserstein(torch.cat(r), torch.cat(f)) for r, f in zip(self.real, self.fake)]
        real = torch.log10(self.power["real"][1:] / self.frames + 1e-12)
        fake = torch.log10(self.power["fake"][1:] / self.frames + 1e-12)
        finite = [v for v in per_scale if np.isfinite(v)]
        return {"swd": float(np.mean(finite)) if finite else None, "swd_per_scale": per_scale,
                "spectrum_distance": float((real - fake).abs().mean())}
