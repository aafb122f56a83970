"""Every metric of the evaluate report for one predictor, fed batch by batch: the one place that combines them."""

from __future__ import annotations

import torch

from layergan.evaluation.fid import FID_WINDOW
from layergan.evaluation.metrics import TemperatureMetrics
from layergan.evaluation.objects import ObjectMetrics
from layergan.evaluation.realism import RealismMetrics


class EvaluationMetrics:
    """Temperature errors, realism (SWD, spectrum) and small objects of predictions against a batch's truth."""

    def __init__(self, class_names: tuple[str, ...], window=FID_WINDOW):
        self.temperature = TemperatureMetrics(class_names, window)
        self.realism = RealismMetrics()
        self.objects = ObjectMetrics(class_names)

    def update(self, pred: torch.Tensor, batch: dict[str, torch.Tensor]) -> None:
        """pred: (N, 1, S, S) in °C (or units); batch: a collated item batch (thermal, valid, masks, instances)."""
        truth, valid = batch["thermal"], batch["valid"]
        self.temperature.update(pred, truth, valid, batch["masks"], batch["instances"])
        self.realism.update(pred, truth, valid)
        self.objects.update(pred, truth, valid, batch["instances"])

    def result(self) -> dict:
        return {**self.temperature.result(), **self.realism.result(), **self.objects.result()}
