"""Timing, peak-memory and result-file helpers shared by every benchmark."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def reference_conv_ms(repeats: int = 5) -> float:
    """A yardstick for comparing hosts: one 3x3 conv (64 -> 64 channels, 8x64x64) forward + backward, median ms.

    Hosts sold as the same "2 cores" differed by 2-3x in this project's sessions; this figure, saved with
    every result, tells whether two results are comparable.
    """
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, 64, 64, 64, generator=generator, requires_grad=True)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    times = []
    for i in range(repeats + 2):  # two warm-up passes
        start = time.perf_counter()
        conv(x).square().mean().backward()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return round(1000 * sorted(times)[len(times) // 2], 1)


def machine() -> dict:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "reference_conv_ms": reference_conv_ms(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    }


def run_measured(command: list[str]) -> dict:
    """Run a command in a fresh process: wall seconds and peak RSS (MiB) of it and its children.

    `layergan ...` runs as `python -m layergan ...` with this interpreter, so an unactivated venv works.
    """
    executable = [sys.executable, "-m", "layergan", *command[1:]] if command[0] == "layergan" else command
    wrapper = [sys.executable, "-m", "benchmarks.measure", "--", *executable]
    start = time.perf_counter()
    done = subprocess.run(wrapper, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"benchmark command failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    stats = json.loads(lines[-1])
    return {"command": " ".join(command), "seconds": round(wall, 2), **stats, "stdout": "\n".join(lines[:-1])}


def peak_rss_mib() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _without_stdout(value):
    if isinstance(value, dict):
        return {k: _without_stdout(v) for k, v in value.items() if k != "stdout"}
    if isinstance(value, list):
        return [_without_stdout(v) for v in value]
    return value


def evaluate_runs(data: Path, report: Path, runs, *options: str) -> list[dict]:
    """`layergan evaluate` without FID of run (or checkpoint) folders into `report`: its entry for each run."""
    run_measured(["layergan", "evaluate", "--data", str(data), "--out", str(report), "--no-fid", "--quiet", *options,
                  *[arg for run in runs for arg in ("--runs", str(run))]])
    return list(json.loads((report / "metrics.json").read_text())["runs"].values())


def save_result(name: str, result: dict, machine_info: dict | None = None) -> Path:
    """benchmarks/results/<name>.json with the machine (this one unless given) and date; commands' stdout is left out."""
    result = _without_stdout(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    result = {"benchmark": name, "machine": machine_info or machine(), "date": time.strftime("%Y-%m-%d"), **result}
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
