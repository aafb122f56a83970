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


def machine() -> dict:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
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


def save_result(name: str, result: dict) -> Path:
    """benchmarks/results/<name>.json with the machine and date; commands' stdout is left out."""
    result = _without_stdout(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    result = {"benchmark": name, "machine": machine(), "date": time.strftime("%Y-%m-%d"), **result}
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
