"""A reference predictor on the quality benchmark's test split (same seed and profile, so the same data).

output = the training set's mean °C of each pixel's class (meta.json class_statistics), no network: about
the best that a method seeing only RGB and segmentation can do on data whose colours do not predict
temperature (pix2pix; ThermalGAN at evaluation, where stage 2 gets stage 1's R^). The quality table has
the other reference, output = R, the floor for the methods that are given R.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from benchmarks.common import save_result
from benchmarks.quality import PROFILE, SEED, _evaluation_row, make_dataset
from layergan.data.dataset import PreparedDataset, load_meta
from layergan.data.encoding import RESIDUAL
from layergan.evaluation.evaluate import batches
from layergan.evaluation.metrics import TemperatureMetrics
from layergan.pipeline import PROFILES

QUICK = {"profile": "smoke"}


def run(profile: str = PROFILE) -> dict:
    settings = PROFILES[profile]
    with tempfile.TemporaryDirectory() as tmp:
        _, data = make_dataset(Path(tmp), settings)
        stats = load_meta(data)["class_statistics"]
        dataset = PreparedDataset(data, "test", settings.size, RESIDUAL, augment=False)
        class_means = torch.tensor([(stats.get(n) or {}).get("mean") or 0.0 for n in dataset.classes.names])
        class_mean = TemperatureMetrics(dataset.classes.names)
        for b in batches(dataset, 8):
            constant = (b["masks"] * class_means.reshape(1, -1, 1, 1)).sum(1, keepdim=True)
            class_mean.update(constant, b["thermal"], b["valid"], b["masks"], b["instances"])
    result = {"profile": profile, "seed": SEED, "size": settings.size, "test_images": len(dataset),
              "predictors": [_evaluation_row({**class_mean.result(), "step": 0, "images": len(dataset),
                                              "method": "reference: output = training mean of the pixel's class"})]}
    save_result("references" if profile == PROFILE else f"references-{profile}", result)
    return result
