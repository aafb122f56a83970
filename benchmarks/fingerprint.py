"""A fast numeric fingerprint of all five methods, to prove that a refactor changes no number.

Trains every method for a few steps on a tiny embedded dataset through the public CLI only
(`synth-data`, `prepare`, `train`, `evaluate`), with the CPU profile for the style-based
methods as the demo uses it, and records every held-out MAE and every evaluation metric
at full precision. Run it before and after a change on the same host: equal output means
the change kept the numbers. It takes about a minute, where the 250-step quality
benchmark takes over twenty.

Writes benchmarks/results/fingerprint.json (or the path given with --out).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from benchmarks.common import evaluate_runs, run_measured, save_result

METHODS = ("pix2pix", "thermalgan", "seg2thermal", "layergan-reduced", "layergan")
CPU_PROFILE = Path(__file__).parent.parent / "src" / "layergan" / "configs" / "cpu-64.yaml"
STEPS = 6


def run() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        raw, data = root / "raw", root / "prepared"
        run_measured(["layergan", "synth-data", "--out", str(raw), "--train", "12", "--test", "4", "--size", "96x72",
                      "--seed", "5", "--quiet"])
        run_measured(["layergan", "prepare", "--src", str(raw), "--out", str(data), "--quiet"])
        metrics, runs = {}, []
        for method in METHODS:
            out = root / "runs" / method
            style = [] if method in ("pix2pix", "thermalgan") else ["--config", str(CPU_PROFILE)]
            run_measured(["layergan", "train", "--method", method, *style, "--data", str(data), "--out", str(out),
                          "--size", "32", "--batch", "2", "--steps", str(STEPS), "--workers", "0", "--quiet"])
            state = json.loads(sorted(out.glob("ckpt-*"))[-1].joinpath("state.json").read_text())
            metrics[method] = state["metrics"]
            runs.append(out)
        evaluation = {r["method"]: {k: r[k] for k in ("mae", "rmse", "object_mean_error", "ssim", "psnr")}
                      for r in evaluate_runs(data, root / "report", runs)}
    result = {"steps": STEPS, "training": metrics, "evaluation": evaluation}
    save_result("fingerprint", result)
    return result
