"""synth-data throughput: scenes/s at 640x480 against --workers and dataset size; peak memory."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from benchmarks.common import run_measured, save_result


def run(scenes: int = 1000, size: str = "640x480", workers: tuple[int, ...] = (1, 2),
        sizes: tuple[int, ...] = (100, 200, 400)) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        def one(n, k):
            out = Path(tmp) / f"n{n}_w{k}"
            res = run_measured(["layergan", "synth-data", "--out", str(out), "--train", str(n), "--test", "0",
                                "--size", size, "--workers", str(k), "--seed", "0", "--quiet"])
            shutil.rmtree(out)
            res.update(scenes=n, workers=k, scenes_per_s=round(n / res["seconds"], 1))
            return res

        headline = one(scenes, 2)
        for k in workers:
            rows.append(one(sizes[-1], k))
        scaling = [one(n, 2) for n in sizes]
    result = {"size": size, "headline": headline, "by_workers": rows, "by_size": scaling,
              "target": f"{scenes} scenes at {size} in <= 180 s with --workers 2"}
    save_result("synth", result)
    return result
