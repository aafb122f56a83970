"""What a run writes while it trains: metrics.jsonl, TensorBoard scalars and sample grids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch.nn as nn
from torch.utils.data import Dataset

# (G, dataset, device, path, title) -> the grid as an (H, W, 3) uint8 image, also written to `path`
SampleGrid = Callable[[nn.Module, Dataset, object, Path, str], np.ndarray]


class RunLog:
    """Only the main rank writes; on other ranks every method is a no-op."""

    def __init__(self, run_dir: Path, enabled: bool, sample_grid: SampleGrid | None):
        self.run_dir, self.enabled, self.sample_grid = Path(run_dir), enabled, sample_grid
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter  # slow to import: main rank only

            self.writer = SummaryWriter(str(self.run_dir / "tensorboard"))

    def scalars(self, step: int, images_seen: int, images_per_s: float, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        record = {"step": step, "images_seen": images_seen, "images_per_s": round(images_per_s, 2), **values}
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        for k, v in values.items():
            self.writer.add_scalar(k, v, step)
        self.writer.add_scalar("speed/images_per_s", images_per_s, step)

    def samples(self, step: int, G: nn.Module, dataset: Dataset, device, title: str) -> None:
        if not self.enabled or self.sample_grid is None:
            return
        image = self.sample_grid(G, dataset, device, self.run_dir / "samples" / f"step-{step:08d}.png", title)
        self.writer.add_image("samples", image, step, dataformats="HWC")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
