"""The prepared format against a GPU's appetite: bytes on disk per sample, and training items per second that
one loader worker makes at 256 px from 640x480 and 593x445 sources (warm page cache).

One worker is one process running `PreparedDataset.__getitem__` (read, decode, the paper's random resize and
crop, the derived maps); a DataLoader with k workers makes about k times as many. Writes
benchmarks/results/loader.json.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import run_measured, save_result
from layergan.data.dataset import PreparedDataset
from layergan.data.encoding import RESIDUAL

QUICK = {"samples": 16, "passes": 2}
SOURCES = ("640x480", "593x445")


def items_per_second(data: Path, size: int, passes: int) -> tuple[float, float]:
    """Median and best over `passes` timed passes (after one warm-up pass that fills the page cache).

    The best pass is the steadier figure on a shared host, where a neighbour's load slows some passes.
    """
    dataset = PreparedDataset(data, "train", size, RESIDUAL, augment=True, seed=0)
    threads, rates = torch.get_num_threads(), []
    torch.set_num_threads(1)  # as in a DataLoader worker
    try:
        for p in range(passes + 1):
            start = time.perf_counter()
            for i in range(len(dataset)):
                dataset[(i, p * len(dataset) + i)]
            if p:
                rates.append(len(dataset) / (time.perf_counter() - start))
    finally:
        torch.set_num_threads(threads)
    return sorted(rates)[len(rates) // 2], max(rates)


def run(samples: int = 64, passes: int = 5, size: int = 256) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in SOURCES:
            raw, data = Path(tmp) / f"raw-{source}", Path(tmp) / f"data-{source}"
            run_measured(["layergan", "synth-data", "--out", str(raw), "--train", str(samples), "--test", "0",
                          "--size", source, "--workers", "2", "--quiet"])
            run_measured(["layergan", "prepare", "--src", str(raw), "--out", str(data), "--workers", "2", "--quiet"])
            files = [f for f in (data / "train").rglob("shard-*/*") if f.is_file()]
            median, best = items_per_second(data, size, passes)
            rows.append({
                "source": source,
                "samples": len(files),
                "bytes_per_sample": round(sum(f.stat().st_size for f in files) / len(files)),
                "items_per_s_one_worker_median": round(median, 1),
                "items_per_s_one_worker_best": round(best, 1),
            })
    result = {"size": size, "rows": rows,
              "target": "at least 3x smaller than format 2 (edges, R, int32 instances, all uncompressed), "
                        "and at least format 2's items/s per worker"}
    save_result("loader", result)
    return result
