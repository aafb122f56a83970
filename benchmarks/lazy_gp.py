"""The lazy gradient penalty (the default since it proved stable with the tanh output) against WGAN-GP's penalty
at every step.

Trains layergan with the quality benchmark's data, seed, profile and budget, but with the interval that is not
the default (`loss.gp_interval: 1` today), and records its held-out MAE curve, its evaluation and its speed
beside the quality benchmark's layergan row (the default: StyleGAN2's lazy regularisation, the penalty every
4 steps, weighted by 4). Writes benchmarks/results/lazy_gp.json.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from benchmarks.common import RESULTS, evaluate_runs, run_measured, save_result
from benchmarks.quality import PROFILE, SEED, _final_metrics, _train_speed, make_dataset
from layergan.methods.config import LossConfig, merge
from layergan.pipeline import PROFILES, run_config

QUICK = {"profile": "smoke"}
DEFAULT = LossConfig().gp_interval
INTERVAL = 1 if DEFAULT > 1 else 4  # the other one


def run(profile: str = PROFILE) -> dict:
    settings = PROFILES[profile]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _, data = make_dataset(root, settings)
        out = root / "runs" / "layergan-lazy"
        config = merge(run_config("layergan", data, out, settings, SEED),
                       {"loss": {"gp_interval": INTERVAL}, "checkpoint_every": max(1, settings.steps // 5)}, "lazy_gp")
        (root / "lazy.yaml").write_text(config.to_yaml())
        measured = run_measured(["layergan", "train", "--config", str(root / "lazy.yaml"), "--quiet"])
        metrics = _final_metrics(out)
        (evaluation,) = evaluate_runs(data, root / "report", [out])
        losses = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        speed = _train_speed(out)
    curve = {k.removeprefix("held_out_mae_"): round(v, 2) for k, v in metrics.items() if k.startswith("held_out")}
    finite = all(abs(v) < 1e6 for line in losses for k, v in line.items() if "/" in k)
    row = {"gp_interval": INTERVAL, "steps": settings.steps, "train_seconds": measured["seconds"],
           "train_images_per_s": speed, "losses_finite_and_bounded": finite, **curve,
           "mae": round(evaluation["mae"], 3), "object_mean_error": round(evaluation["object_mean_error"], 3)}
    rows = [row]
    quality = RESULTS / "quality.json"
    if profile == PROFILE and quality.exists():  # the same run with the default interval
        q = json.loads(quality.read_text())
        train = next(r for r in q["training"] if r["method"] == "layergan")
        evaluated = next(r for r in q["evaluation"] if r["method"] == "layergan")
        rows.insert(0, {"gp_interval": DEFAULT, "steps": train["steps"], "train_seconds": train["train_seconds"],
                        "train_images_per_s": train["train_images_per_s"], "final": train["held_out_mae_final"],
                        "mae": evaluated["mae"], "object_mean_error": evaluated["object_mean_error"]})
    result = {"profile": profile, "seed": SEED, "method": "layergan", "runs": rows}
    save_result("lazy_gp" if profile == PROFILE else f"lazy_gp-{profile}", result)
    return result
