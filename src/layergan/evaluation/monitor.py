"""What the training loop reports about its EMA generator: held-out MAE and sample grids."""

from __future__ import annotations

import torch.nn as nn
from torch.utils.data import Dataset

from layergan.data.batch import collate
from layergan.evaluation.grids import sample_grid
from layergan.evaluation.metrics import TemperatureMetrics
from layergan.models.pretrained import predict_celsius
from layergan.training.trainer import Monitor


def held_out_mae(G: nn.Module, dataset: Dataset, device, count: int = 16, batch: int = 8) -> float:
    """MAE in °C over the valid pixels of the first `count` samples of `dataset` (evaluation geometry)."""
    metrics = TemperatureMetrics(dataset.classes.names)
    n = min(count, len(dataset))
    for start in range(0, n, batch):
        b = collate([dataset[i] for i in range(start, min(start + batch, n))], device)
        metrics.update(predict_celsius(G, b, dataset.encoding), b["thermal"], b["valid"], b["masks"], b["instances"])
    return metrics.result()["mae"]


def training_monitor() -> Monitor:
    return Monitor(held_out_mae=held_out_mae, sample_grid=sample_grid)
