"""Model sizes and generator cost for every method.

- parameters and forward GFLOPs (torch.utils.flop_counter; 1 multiply-add = 2 FLOPs) for each profile at its
  size (cpu-64 at 64 px, gpu-256 at 256, gpu-512 at 512), with the 9 default classes;
- one whole training step of layergan and layergan-reduced at the CPU profile, side by side (the cost of
  per-class layers and critics), and one layergan step with the gpu-256 profile at 256 px, batch 2, on this
  CPU, with its peak RSS;
- wall time of one generator forward + backward at 64 px, batch 4, on this machine, for the default
  config and for the CPU profile (src/layergan/configs/cpu-64.yaml);
- generator inference images/s at 256 px (default config, eval mode, no gradients): translate's network cost.

Writes benchmarks/results/networks.json and the generated table in docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import run_measured, save_result
from layergan.classes import default_classes
from layergan.io import markdown_table
from layergan.methods.registry import METHODS, get_method, resolve
from layergan.models.example_batch import example_batch
from layergan.training.trainer import build_models, optimization_step

ARCHITECTURE_DOC = Path(__file__).parent.parent / "docs" / "architecture.md"
BEGIN, END = "<!-- begin generated: python -m benchmarks networks -->", "<!-- end generated -->"
CLASSES = tuple(default_classes().names)
QUICK = {"profiles": ("cpu-64",), "repeats": 1, "gpu_step": False}


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


PROFILE_SIZES = {"cpu-64": 64, "gpu-256": 256, "gpu-512": 512}


def model_size(method: str, profile: str) -> dict:
    size = PROFILE_SIZES[profile]
    built = build_models(resolve(method, profile=profile, overrides={"size": size}, source="benchmark"), CLASSES)
    batch = example_batch(1, size, len(CLASSES))
    with FlopCounterMode(display=False) as counter:  # grad mode on: the counter's module hooks need it
        built.G.eval()(batch)
    critics = len(CLASSES) if get_method(method).class_critics else 1
    return {"method": method, "profile": profile, "size": size, "G_params_M": round(_count(built.G) / 1e6, 2),
            "D_params_M": round(_count(built.Ds) / 1e6, 2), "discriminators": critics,
            "G_forward_GFLOPs": round(counter.get_total_flops() / 1e9, 2)}


def forward_backward_seconds(method: str, profile: str, size: int = 64, batch_size: int = 4,
                             repeats: int = 5) -> float:
    config = resolve(method, profile=None if profile == "default" else profile, overrides={"size": size},
                     source="benchmark")
    built = build_models(config, CLASSES)
    G, batch = built.G.train(), example_batch(batch_size, size, len(CLASSES))
    times = []
    for i in range(repeats + 2):  # two warm-up passes
        start = time.perf_counter()
        G(batch)["thermal"].square().mean().backward()
        if i >= 2:
            times.append(time.perf_counter() - start)
        G.zero_grad(set_to_none=True)
    return statistics.median(times)


def train_step_seconds(method: str, profile: str = "cpu-64", size: int = 64, batch_size: int = 8,
                       repeats: int = 3) -> float:
    """One whole training step (G forward, every critic and penalty phase, both optimizer steps), median."""
    cfg = resolve(method, profile=profile, overrides={"size": size, "batch": batch_size}, source="benchmark")
    built = build_models(cfg, CLASSES)
    groups = built.param_groups(built.G, built.Ds, cfg)
    optimizers = {name: torch.optim.Adam(g, betas=(cfg.optim.beta1, cfg.optim.beta2)) for name, g in groups.items()}
    loss = built.make_loss(built.Ds, contextlib.nullcontext)
    batch, times = example_batch(batch_size, size, len(CLASSES)), []
    for i in range(repeats + 1):  # one warm-up step
        start = time.perf_counter()
        optimization_step(built.G.train(), loss, optimizers, batch, i, contextlib.nullcontext)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def inference_images_per_s(method: str, size: int = 256, batch_size: int = 4, repeats: int = 3) -> float:
    """Generator forward in eval mode without gradients (translate's network cost), default config."""
    built = build_models(resolve(method, overrides={"size": size}, source="benchmark"), CLASSES)
    G, batch = built.G.eval(), example_batch(batch_size, size, len(CLASSES))
    times = []
    with torch.no_grad():
        for i in range(repeats + 1):  # one warm-up pass
            start = time.perf_counter()
            G(batch)
            if i:
                times.append(time.perf_counter() - start)
    return batch_size / statistics.median(times)


def gpu_profile_step_on_cpu() -> dict:
    """One layergan step with the gpu-256 profile at 256 px, batch 2, in a fresh process: seconds and peak RSS."""
    code = ("import torch; torch.set_num_threads(2); from benchmarks.networks import train_step_seconds; "
            "print(round(train_step_seconds('layergan', 'gpu-256', 256, 2, repeats=1), 2))")
    measured = run_measured([sys.executable, "-c", code])
    return {"method": "layergan", "profile": "gpu-256", "size": 256, "batch": 2,
            "step_seconds": float(measured["stdout"].strip().splitlines()[-1]),
            "peak_rss_mib": measured["peak_rss_mib_largest_process"]}


def run(profiles: tuple[str, ...] = tuple(PROFILE_SIZES), repeats: int = 5, gpu_step: bool = True) -> dict:
    torch.manual_seed(0)
    sizes_table = [model_size(m, p) for p in profiles for m in METHODS]
    timing = []
    for profile in ("default", "cpu-64"):
        row = {"config": profile}
        for method in METHODS:
            row[method] = round(forward_backward_seconds(method, profile, repeats=repeats), 3)
        row["layergan / layergan-reduced"] = round(row["layergan"] / row["layergan-reduced"], 2)
        timing.append(row)
    step = {m: round(train_step_seconds(m, repeats=repeats), 3) for m in ("layergan-reduced", "layergan")}
    step["layergan / layergan-reduced"] = round(step["layergan"] / step["layergan-reduced"], 2)
    inference = [{"size": 256, "batch": 4, **{m: round(inference_images_per_s(m), 2) for m in METHODS}}]
    result = {"model_sizes": sizes_table, "generator_forward_backward_s_64px_batch4": timing,
              "train_step_s_cpu64_64px_batch8": [step],
              "gpu256_step_on_cpu": [gpu_profile_step_on_cpu()] if gpu_step else [],
              "generator_inference_images_per_s_256px": inference,
              "threads": torch.get_num_threads()}
    save_result("networks", result)
    _write_architecture_tables(sizes_table, timing)
    return result


def _write_architecture_tables(sizes_table: list[dict], timing: list[dict]) -> None:
    columns = ["method", "profile", "size", "G_params_M", "D_params_M", "discriminators", "G_forward_GFLOPs"]
    names = list(timing[0])
    lines = [BEGIN, "", markdown_table(columns, [[row[c] for c in columns] for row in sizes_table]), "",
             "Generator forward + backward, 64 px, batch 4, seconds on this machine "
             f"({torch.get_num_threads()} threads):", "",
             markdown_table(names, [[row[n] for n in names] for row in timing]), "", END]
    text = ARCHITECTURE_DOC.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{ARCHITECTURE_DOC}: no generated block ({BEGIN} ... {END}) to replace")
    ARCHITECTURE_DOC.write_text(pattern.sub(lambda _: "\n".join(lines), text))
