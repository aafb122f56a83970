"""The one generic training loop: the step, the EMA and the loop. It knows phases and optimizers, never a method.

What it writes (logs, grids) is `RunLog`'s; what a checkpoint holds is `run_state`'s. Held-out
monitoring and sample grids are functions passed in (`Monitor`), so training imports no evaluation.
"""

from __future__ import annotations

import contextlib
import copy
import math
import json
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
from torch.utils.data import Dataset
from tqdm import tqdm

from layergan import checkpoint as ckpt
from layergan.classes import ClassList
from layergan.data.batch import to_device
from layergan.data.dataset import PreparedDataset, ResumableSampler, load_meta
from layergan.data.encoding import get_encoding
from layergan.data.thermal_units import ThermalUnits
from layergan.errors import CheckpointError, ConfigError, DataError, LayerganError
from layergan.io import FolderLock, write_text
from layergan.methods.config import TrainConfig
from layergan.methods.registry import get_method
from layergan.models.pretrained import describe_generator
from layergan.training import run_state
from layergan.training.distributed import any_rank, average_gradients, barrier, broadcast_module, init_distributed
from layergan.training.run_log import RunLog, SampleGrid


class TrainingDiverged(LayerganError):
    pass


@dataclass(frozen=True)
class Monitor:
    """What the loop reports about G_ema on held-out data; evaluation provides it (`evaluation.monitor`)."""

    held_out_mae: Callable[[nn.Module, Dataset, object], float]  # (G, dataset, device) -> °C
    sample_grid: SampleGrid | None = None


def ignore_stop_signals(worker_id: int) -> None:
    """DataLoader workers leave SIGINT and SIGTERM to the main process, which checkpoints and then stops
    them. A signal to the whole process group (Slurm preemption, Kubernetes, `timeout`, Ctrl-C) would
    otherwise kill the workers first, and the run would end in a traceback without a checkpoint."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def worker_error(error: LayerganError) -> LayerganError:
    """The message a DataLoader worker raised, without the worker traceback PyTorch puts into it."""
    text = str(error).strip()
    if text.startswith("Caught "):
        last = text.splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return type(error)(text)


def optimization_step(G, loss, optimizers: dict, batch: dict, step: int, autocast,
                      reduce_gradients=lambda optimizer_name: None) -> dict[str, torch.Tensor]:
    """One step: G forward once; then every phase due at `step`, each optimizer stepping after its last phase."""
    with autocast():
        output = G(batch)
    phases = [p for p in loss.phases if step % p.interval == 0]
    logs: dict[str, torch.Tensor] = {}
    for i, phase in enumerate(phases):
        first = i == 0 or phases[i - 1].optimizer != phase.optimizer
        last = i == len(phases) - 1 or phases[i + 1].optimizer != phase.optimizer
        if first:
            optimizers[phase.optimizer].zero_grad(set_to_none=True)
        logs.update(loss.accumulate_gradients(phase.name, batch, output))
        if last:
            reduce_gradients(phase.optimizer)
            optimizers[phase.optimizer].step()
    return logs


def build_models(cfg: TrainConfig, classes: tuple[str, ...]):
    torch.manual_seed(cfg.seed)
    return get_method(cfg.method).build(cfg, classes)


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool = True, progress: bool = True, monitor: Monitor | None = None,
                 restart: bool = False):
        """`restart`: start from step 0 in a folder with checkpoints, deleting them (when all are corrupt)."""
        self.info, self.device = init_distributed()
        self.cfg, self.progress, self.monitor = cfg, progress and self.info.is_main, monitor
        self.run_dir = Path(cfg.out)
        self.meta = load_meta(cfg.data)
        self.unit = ThermalUnits.from_dict(self.meta.get("thermal_units")).symbol  # °C, or units
        self.classes = ClassList.from_dict(self.meta, source=str(Path(cfg.data) / "meta.json"))
        self.lock = FolderLock(self.run_dir, "layergan train").acquire() if self.info.is_main else None
        try:
            self._setup(cfg, resume, restart)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the run folder (run() does this when it ends)."""
        if self.lock is not None:
            self.lock.release()

    def _setup(self, cfg: TrainConfig, resume: bool, restart: bool) -> None:
        if self.info.is_main:
            for path in ckpt.remove_stale_temporaries(self.run_dir):
                self.log(f"removed {path}, left by a process that died while saving a checkpoint")
        existing = ckpt.list_checkpoints(self.run_dir)
        if restart and self.info.is_main:
            for folder in existing:
                shutil.rmtree(folder)
            existing = []
        found = run_state.find_resumable(self.run_dir, warn=self.log) if resume and existing else None
        if existing and not resume:
            raise ConfigError(f"{self.run_dir} already holds checkpoints; pass --resume or choose another --out")
        if existing and found is None:
            raise CheckpointError(f"{self.run_dir}: none of its {len(existing)} checkpoints is intact (see the "
                                  "warnings above); pass --restart to train from step 0 and replace them, "
                                  "or choose another --out")
        if found is not None:
            self.cfg = cfg = run_state.resume_config(cfg, found[1], self.run_dir)
            if found[1].get("data_signature") not in (None, self.meta.get("signature")):
                self.log(f"warning: {cfg.data} differs from the data this run started with")
        cfg.validate(self.info.world_size)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
        self.cuda = self.device.type == "cuda"
        # bf16 autocast and channels_last where asked, on whatever device runs (CPU included, for tests)
        self.amp = cfg.precision == "bf16" or (cfg.precision == "auto" and self.cuda)
        if self.cuda:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        built = build_models(cfg, self.classes.names)
        self.G, self.Ds = built.G.to(self.device), built.Ds.to(self.device)
        if self.amp:
            self.G.to(memory_format=torch.channels_last)
            self.Ds.to(memory_format=torch.channels_last)
        broadcast_module(self.G, self.info)
        broadcast_module(self.Ds, self.info)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        groups = built.param_groups(self.G, self.Ds, cfg)
        betas = (cfg.optim.beta1, cfg.optim.beta2)
        self.optimizers = {name: torch.optim.Adam(g, betas=betas) for name, g in groups.items()}
        self.params = {name: [p for group in g for p in group["params"]] for name, g in groups.items()}
        self.G_run, Ds_run = self.G, self.Ds
        if cfg.compile:
            self.G_run = torch.compile(self.G)
            Ds_run = nn.ModuleDict({k: torch.compile(v) for k, v in self.Ds.items()})
        self.loss = built.make_loss(Ds_run, self.autocast)
        self.encoding = get_encoding(cfg.encoding)
        self.step, self.images_seen, self.metrics = 0, 0, {}
        if found is not None:
            run_state.load(found[0], self.G, self.G_ema, self.Ds, self.optimizers, self.cuda)
            self.step, self.images_seen = found[1]["step"], found[1]["images_seen"]
            self.metrics = found[1].get("metrics", {})
            self.log(f"resumed from {found[0]} at step {self.step}")
        self.stop_requested = False

    def log(self, message: str) -> None:
        if self.info.is_main:
            tqdm.write(message)

    def autocast(self):
        if self.amp:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def make_batches(self):
        """The training batches (an endless, resumable stream); also opens the held-out and preview sets."""
        cfg = self.cfg
        self.train_set = PreparedDataset(cfg.data, "train", cfg.size, self.encoding, augment=True, seed=cfg.seed)
        # Held-out figures only from a held-out split; sample grids fall back to unaugmented training scenes.
        self.held_out = (PreparedDataset(cfg.data, "test", cfg.size, self.encoding, augment=False)
                         if "test" in self.meta["splits"] else None)
        self.preview = self.held_out if self.held_out is not None else \
            PreparedDataset(cfg.data, "train", cfg.size, self.encoding, augment=False)
        if self.held_out is None and self.monitor:
            self.log(f"note: {cfg.data} has no test split, so no held-out MAE is computed; sample grids show "
                     "training scenes")
        sampler = ResumableSampler(len(self.train_set), cfg.batch, cfg.seed, self.step, self.info.rank,
                                   self.info.world_size)
        loader = torch.utils.data.DataLoader(self.train_set, batch_size=cfg.batch // self.info.world_size,
                                             sampler=sampler, num_workers=cfg.workers, pin_memory=self.cuda,
                                             persistent_workers=cfg.workers > 0, worker_init_fn=ignore_stop_signals,
                                             generator=torch.Generator().manual_seed(cfg.seed))  # not the global RNG
        return iter(loader)

    def next_batch(self, batches) -> dict[str, torch.Tensor]:
        try:
            return to_device(next(batches), self.device, channels_last=self.amp)
        except LayerganError as error:
            raise worker_error(error) from None

    def held_out_mae(self) -> float | None:
        if self.monitor is None or self.held_out is None:
            return None
        return self.monitor.held_out_mae(self.G_ema, self.held_out, self.device)

    # -- the step --------------------------------------------------------------
    def train_step(self, batch: dict) -> dict[str, float]:
        logs = optimization_step(self.G_run, self.loss, self.optimizers, batch, self.step, self.autocast,
                                 lambda name: average_gradients(self.params[name], self.info))
        values = {k: float(v) for k, v in logs.items()}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            kept = (f"The last good checkpoint in {self.run_dir} is kept" if ckpt.list_checkpoints(self.run_dir)
                    else "No checkpoint had been written yet")
            raise TrainingDiverged(f"step {self.step + 1}: loss {bad[0]} is {values[bad[0]]}; stopped. {kept}; "
                                   "lower the learning rate or use --precision fp32")
        return values

    def update_ema(self) -> None:
        cfg = self.cfg
        half_life = min(cfg.ema_half_life_images, self.images_seen * cfg.ema_rampup)
        beta = 0.5 ** (cfg.batch / max(half_life, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.lerp_(p, 1.0 - beta)
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)
        broadcast_module(self.G, self.info)  # batch-norm statistics differ per rank; keep rank 0's

    def _on_signal(self, signum, frame):
        self.stop_requested = True
        self.log(f"received signal {signum}: saving a checkpoint at the end of this step")

    # -- the loop ----------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.cfg
        if self.info.is_main:
            write_text(self.run_dir / "config.yaml", cfg.to_yaml())
            self._trim_metrics_log()
        batches = self.make_batches()
        run_log = RunLog(self.run_dir, self.info.is_main, self.monitor.sample_grid if self.monitor else None)
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        if self.step == 0 and self.info.is_main and (mae := self.held_out_mae()) is not None:
            self.metrics["held_out_mae_initial"] = mae
        bar = tqdm(total=cfg.steps, initial=self.step, desc=f"train {cfg.method}", unit="step",
                   disable=not self.progress, dynamic_ncols=True)
        start, start_step = time.perf_counter(), self.step
        try:
            while self.step < cfg.steps:
                try:
                    batch = self.next_batch(batches)
                except DataError:
                    if self.step > start_step and self.step % cfg.checkpoint_every:
                        self.save()  # keep the steps done so far; the same command resumes after the fix
                    raise
                values = self.train_step(batch)
                self.step += 1
                self.images_seen += cfg.batch
                self.update_ema()
                bar.update()
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    rate = (self.step - start_step) * cfg.batch / (time.perf_counter() - start)
                    bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in values.items() if "total" in k or "l1" in k})
                    run_log.scalars(self.step, self.images_seen, rate, values)
                if self.step % cfg.sample_every == 0 or self.step == cfg.steps:
                    run_log.samples(self.step, self.G_ema, self.preview, self.device,
                                    f"{cfg.method} step {self.step}")
                stop = any_rank(self.stop_requested, self.info)
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps or stop:
                    self.save()
                if stop:
                    break
        finally:
            bar.close()
            for s, handler in previous.items():
                signal.signal(s, handler)
            run_log.close()
            self.close()
        return {"step": self.step, "metrics": self.metrics, "interrupted": self.stop_requested}

    def _trim_metrics_log(self) -> None:
        """A resume from an older checkpoint drops the log lines of the steps it will run again."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        lines = path.read_text().splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= self.step]
        if len(kept) != len(lines):
            write_text(path, "".join(line + "\n" for line in kept))

    def save(self) -> None:
        if self.info.is_main:
            mae = self.held_out_mae()
            if mae is not None:
                self.metrics[f"held_out_mae_step_{self.step}"] = self.metrics["held_out_mae_final"] = mae
            method = get_method(self.cfg.method)
            spec = describe_generator(self.G_ema, self.cfg.method, self.classes, self.cfg.encoding,
                                      method.takes_temperatures, self.meta.get("class_statistics", {}),
                                      self.meta.get("thermal_units"))
            state = {"images_seen": self.images_seen, "config": self.cfg.to_dict(), "method": self.cfg.method,
                     "data_signature": self.meta.get("signature"), "classes": self.meta["classes"],
                     "metrics": self.metrics, "world_size": self.info.world_size}
            folder = run_state.save(self.run_dir, self.step, self.G, self.G_ema, self.Ds, self.optimizers, spec,
                                    state, self.cfg.keep_checkpoints, self.cuda)
            self.log(f"step {self.step}: checkpoint {folder.name}" + (f", held-out MAE {mae:.2f} {self.unit}" if mae else ""))
        barrier(self.info)
