"""Small objects, where LayerGAN claims to keep thermal contrast: errors binned by object area, and the object
contrast error.

- An *object* is a segment with an instance id (> 0); stuff (instance 0) is not an object.
- Area bins: the object's share of the frame's valid pixels: below 0.5%, 0.5-3%, above 3%. Per class and bin,
  the MAE over the objects' pixels.
- Contrast error, for person and car: |(object mean - ring mean) predicted - (the same) on the ground truth|,
  the ring being the valid pixels within RING px of the object and outside it. Averaged over objects.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from layergan.data.labels import SEGMENT_STRIDE

AREA_BINS = (0.005, 0.03)
BIN_NAMES = ("<0.5%", "0.5-3%", ">3%")
CONTRAST_CLASSES = ("person", "car")
RING = 3  # px at the evaluation size


class ObjectMetrics:
    def __init__(self, class_names: tuple[str, ...]):
        self.names = class_names
        self.abs = np.zeros((len(class_names), len(BIN_NAMES)))
        self.pixels = np.zeros((len(class_names), len(BIN_NAMES)))
        self.objects = np.zeros((len(class_names), len(BIN_NAMES)), dtype=np.int64)
        self.contrast: dict[str, list[float]] = {name: [] for name in CONTRAST_CLASSES if name in class_names}

    def update(self, pred: torch.Tensor, truth: torch.Tensor, valid: torch.Tensor, segments: torch.Tensor) -> None:
        """pred, truth, valid: (N, 1, H, W); segments: (N, H, W) class * SEGMENT_STRIDE + instance, -1 = none."""
        for p, t, v, s in zip(pred[:, 0].float().cpu().numpy(), truth[:, 0].float().cpu().numpy(),
                              valid[:, 0].cpu().numpy() > 0.5, segments.cpu().numpy()):
            objects = (s >= 0) & (s % SEGMENT_STRIDE > 0) & v
            if not objects.any():
                continue
            keys, inverse, counts = np.unique(s[objects], return_inverse=True, return_counts=True)
            errors = np.bincount(inverse, weights=np.abs(p[objects] - t[objects]))
            classes = keys // SEGMENT_STRIDE
            bins = np.digitize(counts / max(int(v.sum()), 1), AREA_BINS)
            np.add.at(self.abs, (classes, bins), errors)
            np.add.at(self.pixels, (classes, bins), counts)
            np.add.at(self.objects, (classes, bins), 1)
            self._contrast(p, t, v, s, keys)

    def _contrast(self, pred, truth, valid, segments, keys) -> None:
        for name in self.contrast:
            cls = self.names.index(name)
            for key in keys[keys // SEGMENT_STRIDE == cls]:
                inside = segments == key
                rows, cols = np.nonzero(inside)
                top, left = max(rows.min() - RING, 0), max(cols.min() - RING, 0)
                box = (slice(top, rows.max() + RING + 1), slice(left, cols.max() + RING + 1))
                grown = ndimage.binary_dilation(inside[box], iterations=RING)  # on the box: objects, not pixels
                ring = grown & ~inside[box] & valid[box]
                if not ring.any():
                    continue
                predicted = pred[box][inside[box]].mean() - pred[box][ring].mean()
                real = truth[box][inside[box]].mean() - truth[box][ring].mean()
                self.contrast[name].append(float(abs(predicted - real)))

    def result(self) -> dict:
        by_area = {}
        for c, name in enumerate(self.names):
            if self.objects[c].any():
                by_area[name] = {b: (self.abs[c, k] / self.pixels[c, k] if self.pixels[c, k] else None)
                                 for k, b in enumerate(BIN_NAMES)}
                by_area[name]["objects"] = self.objects[c].tolist()
        errors = [e for values in self.contrast.values() for e in values]
        return {"mae_by_object_area": by_area,
                "contrast_error": float(np.mean(errors)) if errors else None,
                "contrast_error_by_class": {k: (float(np.mean(v)) if v else None) for k, v in self.contrast.items()}}
