"""GPU figures for every method, for a machine with a CUDA GPU: `python -m benchmarks gpu`.

Per method, with its gpu-256 profile at 256 px and bf16 autocast + channels_last:
- training images/s at batch 16 (median of 10 steps after 3 warm-up steps, synthetic batches);
- peak GPU memory of those steps (torch.cuda.max_memory_allocated);
- translate's generator images/s at 256 px (eval mode, no gradients, batch 16).
Writes benchmarks/results/gpu.json. Without CUDA it stops and says so; nothing is written.
"""

from __future__ import annotations

import statistics
import time

import torch

from benchmarks.common import save_result
from layergan.classes import default_classes
from layergan.data.batch import to_device
from layergan.methods.registry import METHODS, resolve
from layergan.models.example_batch import example_batch
from layergan.training.trainer import build_models, optimization_step

CLASSES = tuple(default_classes().names)
PROFILE, SIZE, BATCH = "gpu-256", 256, 16


def _autocast():
    return torch.autocast("cuda", dtype=torch.bfloat16)


def _synchronized_seconds(fn) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(method: str, steps: int = 10, warmup: int = 3) -> dict:
    cfg = resolve(method, profile=PROFILE, overrides={"size": SIZE, "batch": BATCH, "precision": "bf16"},
                  source="benchmark")
    built = build_models(cfg, CLASSES)
    G, Ds = built.G.cuda().to(memory_format=torch.channels_last), built.Ds.cuda().to(memory_format=torch.channels_last)
    groups = built.param_groups(G, Ds, cfg)
    optimizers = {name: torch.optim.Adam(g, betas=(cfg.optim.beta1, cfg.optim.beta2)) for name, g in groups.items()}
    loss = built.make_loss(Ds, _autocast)
    batch = to_device(example_batch(BATCH, SIZE, len(CLASSES)), "cuda", channels_last=True)
    torch.cuda.reset_peak_memory_stats()
    times = [_synchronized_seconds(lambda: optimization_step(G.train(), loss, optimizers, batch, i, _autocast))
             for i in range(warmup + steps)][warmup:]
    peak = torch.cuda.max_memory_allocated() / 2**30
    G.eval()
    with torch.no_grad(), _autocast():
        inference = [_synchronized_seconds(lambda: G(batch)) for _ in range(warmup + steps)][warmup:]
    return {"method": method, "profile": PROFILE, "size": SIZE, "batch": BATCH,
            "train_images_per_s": round(BATCH / statistics.median(times), 1),
            "peak_gpu_memory_gib": round(peak, 2),
            "translate_images_per_s": round(BATCH / statistics.median(inference), 1)}


def run() -> dict:
    if not torch.cuda.is_available():
        raise SystemExit("python -m benchmarks gpu needs a CUDA GPU; none is visible, so nothing was measured")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    result = {"methods": [measure(m) for m in METHODS]}
    save_result("gpu", result)
    return result
