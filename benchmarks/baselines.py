"""The two baselines for 4x the quality benchmark's budget, with the held-out L1 every 250 steps.

pix2pix and ThermalGAN see no temperatures, and the embedded data's colours do not predict them (DESIGN.md),
so the best they can do is about the class-mean reference (references.py). This records whether they keep
learning towards it after the quality benchmark's 250 steps. Same data, seed and settings as quality.py.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from benchmarks.common import run_measured, save_result
from benchmarks.quality import PROFILE, SEED, _final_metrics, make_dataset
from layergan.pipeline import PROFILES, run_config

METHODS = ("pix2pix", "thermalgan")
QUICK = {"steps": 4, "every": 2, "profile": "smoke"}


def run(steps: int = 1000, every: int = 250, profile: str = PROFILE) -> dict:
    settings = dataclasses.replace(PROFILES[profile], steps=steps)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        _, data = make_dataset(Path(tmp), settings)
        for method in METHODS:
            out, config_path = Path(tmp) / "runs" / method, Path(tmp) / f"{method}.yaml"
            config = run_config(method, data, out, settings, SEED)
            config.checkpoint_every = every  # each checkpoint records the held-out L1; the last holds them all
            config_path.write_text(config.to_yaml())
            measured = run_measured(["layergan", "train", "--config", str(config_path), "--quiet"])
            metrics = _final_metrics(out)
            row = {"method": method, "batch": settings.batch, "size": settings.size, "train_seconds": measured["seconds"],
                   "held_out_mae_initial": round(metrics["held_out_mae_initial"], 2)}
            row.update({f"step_{s}": round(metrics[f"held_out_mae_step_{s}"], 2) for s in range(every, steps + 1, every)})
            rows.append(row)
    result = {"profile": profile, "seed": SEED, "steps": steps, "held_out_mae_by_step": rows}
    save_result("baselines" if profile == PROFILE else f"baselines-{profile}", result)
    return result
