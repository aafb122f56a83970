"""Temperature metrics in °C (MAE, RMSE, per class, object means) and SSIM/PSNR (scikit-image), streamed over batches.

FID is in `fid.py`."""

from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from layergan.evaluation.fid import FID_WINDOW


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
            lo, hi = self.window
            a = ((pred[i, 0] * valid[i, 0]).float().cpu().numpy() - lo) / (hi - lo)
            b = ((truth[i, 0] * valid[i, 0]).float().cpu().numpy() - lo) / (hi - lo)
            a, b = np.clip(a, 0, 1), np.clip(b, 0, 1)
            self.ssim.append(float(structural_similarity(a, b, data_range=1.0)))
            self.psnr.append(float(peak_signal_noise_ratio(b, a, data_range=1.0)))

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
