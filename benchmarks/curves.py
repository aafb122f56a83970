"""Longer runs of the three style-based methods: held-out MAE, SWD and the object contrast error every 250
steps up to 1,000, on the quality benchmark's data and seed; a PNG of each metric against step.

Writes benchmarks/results/curves.json and docs/images/curves.png. About 1.5 CPU-hours on 2 cores, so each
method's curve is kept in benchmarks/results/curves-methods/ as it finishes and is not run again.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from benchmarks.common import RESULTS, evaluate_runs, save_result
from benchmarks.quality import PROFILE, SEED, make_dataset, train
from layergan.pipeline import PROFILES

METHODS = ("layergan-reduced", "layergan", "seg2thermal")  # the cheapest first: each is kept as it finishes
METRICS = (("mae", "held-out MAE (°C)"), ("swd", "SWD x1e3"), ("contrast_error", "contrast error (°C)"))
PLOT = Path(__file__).parent.parent / "docs" / "images" / "curves.png"
QUICK = {"steps": 4, "every": 2, "profile": "smoke"}


def plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 3.2), constrained_layout=True)
    for ax, (key, label) in zip(axes, METRICS):
        for method, points in curves.items():
            ax.plot([p["step"] for p in points], [p.get(key) for p in points], marker="o", label=method)
        ax.set_xlabel("step")
        ax.set_title(label, fontsize=10)
    axes[0].legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)


def method_folder(profile: str) -> Path:
    """Each method's curve is kept here as it finishes: the three runs need not fit one session."""
    return RESULTS / ("curves-methods" if profile == PROFILE else f"curves-methods-{profile}")


def run(steps: int = 1000, every: int = 250, profile: str = PROFILE) -> dict:
    settings, folder = PROFILES[profile], method_folder(profile)
    todo = [m for m in METHODS if not (folder / f"{m}.json").exists()]
    if todo:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            _, data = make_dataset(root, settings)
            for method in todo:
                out, _, _ = train(method, data, root, settings, SEED, steps=steps, checkpoint_every=every,
                                  keep_checkpoints=steps // every + 1)
                checkpoints = sorted(out.glob("ckpt-*"))
                report = root / f"report-{method}"
                table = evaluate_runs(data, report, checkpoints)
                points = [{"step": r["step"], **{k: round(r[k], 3) for k, _ in METRICS if r.get(k) is not None}}
                          for r in sorted(table, key=lambda r: r["step"])]
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{method}.json").write_text(json.dumps({"method": method, "steps": steps, "every": every,
                                                                   "points": points, "date": time.strftime(
                                                                       "%Y-%m-%d")}, indent=2) + "\n")
    curves = {m: json.loads((folder / f"{m}.json").read_text())["points"] for m in METHODS}
    if profile == PROFILE:
        plot(curves, PLOT)
    table = [{"method": method, "step": p["step"], **{label: p.get(key) for key, label in METRICS}}
             for method, points in curves.items() for p in points]
    result = {"profile": profile, "seed": SEED, "steps": steps, "every": every, "curves": curves,
              "hidden": ["curves"], "points": table,
              "plot": str(PLOT.relative_to(PLOT.parent.parent.parent)) if profile == PROFILE else None}
    save_result("curves" if profile == PROFILE else f"curves-{profile}", result)
    return result
