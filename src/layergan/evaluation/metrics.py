"""Temperature metrics in °C (MAE, RMSE, per class, object means) and SSIM/PSNR (scikit-image), streamed over batches.

FID is in `fid.py`."""

from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import structural_similarity

from layergan.evaluation.fid import FID_WINDOW


def masked_ssim_psnr(pred: torch.Tensor, truth: torch.Tensor, inside: np.ndarray, window) -> tuple[float, float]:
    """SSIM and PSNR of one (H, W) °C frame over the valid pixels only, both mapped to [0, 1] through `window`.

    Padding and void hold 0 in both frames: counted, they would look perfectly predicted. SSIM is the mean
    of scikit-image's SSIM map over the valid pixels; PSNR uses the mean squared error over them.
    """
    lo, hi = window
    a = np.clip((pred.float().cpu().numpy() - lo) / (hi - lo), 0, 1)
    b = np.clip((truth.float().cpu().numpy() - lo) / (hi - lo), 0, 1)
    _, ssim_map = structural_similarity(a, b, data_range=1.0, full=True)
    mse = float(np.mean((a[inside] - b[inside]) ** 2))
    psnr = float(10 * np.log10(1.0 / mse)) if mse > 0 else float("inf")
    return float(ssim_map[inside].mean()), psnr


class TemperatureMetrics:
    """Streaming MAE/RMSE (all valid pixels and per class), object-mean error, SSIM and PSNR."""

    def __init__(self, class_names: tuple[str, ...], window=FID_WINDOW):
        self.names, self.window = class_names, window
        n = len(class_names)
        self.abs = self.sq = self.pixels = 0.0
        self.class_abs, self.class_sq, self.class_pixels = np.zeros(n), np.zeros(n), np.zeros(n)
        self.object_errors: list[float] = []
        self.ssim: list[float] = []
        self.psnr: list[float] = []

    def update(self, pred: torch.Tensor, truth: torch.Tensor, valid: torch.Tensor, masks: torch.Tensor,
               segments: torch.Tensor) -> None:
        """pred, truth, valid: (N, 1, H, W) °C; masks (N, C, H, W); segments (N, H, W), -1 = none."""
        err = (pred.float() - truth.float()) * valid
        self.abs += float(err.abs().sum())
        self.sq += float(err.square().sum())
        self.pixels += float(valid.sum())
        self.class_abs += (err.abs() * masks).sum(dim=(0, 2, 3)).double().cpu().numpy()
        self.class_sq += (err.square() * masks).sum(dim=(0, 2, 3)).double().cpu().numpy()
        self.class_pixels += masks.sum(dim=(0, 2, 3)).double().cpu().numpy()
        for i in range(pred.shape[0]):
            seg = segments[i].reshape(-1)
            keep = seg >= 0
            uniq, inverse = torch.unique(seg[keep], return_inverse=True)
            counts = torch.zeros(len(uniq)).index_add(0, inverse.cpu(), torch.ones(int(keep.sum())))
            p = torch.zeros(len(uniq)).index_add(0, inverse.cpu(), pred[i, 0].reshape(-1)[keep].float().cpu())
            t = torch.zeros(len(uniq)).index_add(0, inverse.cpu(), truth[i, 0].reshape(-1)[keep].float().cpu())
            self.object_errors += ((p - t).abs() / counts).tolist()
            inside = valid[i, 0].cpu().numpy() > 0.5
            if inside.any():
                ssim, psnr = masked_ssim_psnr(pred[i, 0], truth[i, 0], inside, self.window)
                self.ssim.append(ssim)
                self.psnr.append(psnr)

    def result(self) -> dict:
        px = max(self.pixels, 1.0)
        per_class = {}
        for i, name in enumerate(self.names):
            if self.class_pixels[i] > 0:
                per_class[name] = {"mae": self.class_abs[i] / self.class_pixels[i],
                                   "rmse": float(np.sqrt(self.class_sq[i] / self.class_pixels[i])),
                                   "pixels": int(self.class_pixels[i])}
        return {"mae": self.abs / px, "rmse": float(np.sqrt(self.sq / px)),
                "object_mean_error": float(np.mean(self.object_errors)) if self.object_errors else None,
                "ssim": float(np.mean(self.ssim)) if self.ssim else None,
                "psnr": float(np.mean([p for p in self.psnr if np.isfinite(p)] or [np.inf])),
                "per_class": per_class}
