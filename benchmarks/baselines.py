"""The two baselines for 4x the quality benchmark's budget, with the held-out L1 every 250 steps.

pix2pix and ThermalGAN see no temperatures, and the embedded data's colours do not predict them (by construction),
so the best they can do is about the class-mean reference (references.py). This records whether they keep
learning towards it after the quality benchmark's 250 steps. Same data, seed and settings as quality.py.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from benchmarks.common import save_result
from benchmarks.quality import PROFILE, SEED, make_dataset, train
from layergan.pipeline import PROFILES

METHODS = ("pix2pix", "thermalgan")
QUICK = {"steps": 4, "every": 2, "profile": "smoke"}


def run(steps: int = 1000, every: int = 250, profile: str = PROFILE) -> dict:
    settings = dataclasses.replace(PROFILES[profile], steps=steps)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        _, data = make_dataset(Path(tmp), settings)
        for method in METHODS:
            # each checkpoint records the held-out L1, and the last one holds them all
            _, measured, metrics = train(method, data, Path(tmp), settings, checkpoint_every=every)
            row = {"method": method, "batch": settings.batch, "size": settings.size, "train_seconds": measured["seconds"],
                   "held_out_mae_initial": round(metrics["held_out_mae_initial"], 2)}
            row.update({f"step_{s}": round(metrics[f"held_out_mae_step_{s}"], 2) for s in range(every, steps + 1, every)})
            rows.append(row)
    result = {"profile": profile, "seed": SEED, "steps": steps, "held_out_mae_by_step": rows}
    save_result("baselines" if profile == PROFILE else f"baselines-{profile}", result)
    return result
