"""prepare throughput at 640x480: samples/s against --workers and dataset size, and peak RSS."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from benchmarks.common import run_measured, save_result

QUICK = {"sizes": (50, 100), "workers": (1, 2)}


def run(sizes: tuple[int, ...] = (200, 400, 800), workers: tuple[int, ...] = (1, 2)) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        run_measured(["layergan", "synth-data", "--out", str(raw), "--train", str(max(sizes)), "--test", "0",
                      "--size", "640x480", "--workers", "2", "--quiet"])

        def one(n, k):
            subset = Path(tmp) / f"raw{n}"
            if not subset.exists():  # a raw folder with the first n scenes, linked, not copied
                for sub in ("JPEGImages", "SegmentationClass", "SegmentationObject", "ThermalImages"):
                    (subset / "train" / sub).mkdir(parents=True)
                    for f in sorted((raw / "train" / sub).iterdir())[:n]:
                        (subset / "train" / sub / f.name).symlink_to(f)
            out = Path(tmp) / "out"
            res = run_measured(["layergan", "prepare", "--src", str(subset), "--out", str(out), "--split", "train",
                                "--workers", str(k), "--quiet"])
            shutil.rmtree(out)
            res.update(samples=n, workers=k, samples_per_s=round(n / res["seconds"], 1))
            return res

        by_workers = [one(sizes[1], k) for k in workers]
        by_size = [one(n, 2) for n in sizes]
    result = {"size": "640x480", "by_workers": by_workers, "by_size": by_size,
              "target": ">= 30 samples/s with --workers 2; peak RSS < 1.5 GiB, flat in N"}
    save_result("prepare", result)
    return result
