"""The one generic training loop. It knows phases and optimizers, never a specific method."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import signal
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from layergan.data.dataset import PreparedDataset, ResumableSampler, load_meta
from layergan.data.encoding import get_encoding
from layergan.errors import ConfigError, LayerganError
from layergan.io import write_text
from layergan.models.registry import get_method
from layergan.training import checkpoint as ckpt
from layergan.training.config import TrainConfig, from_dict
from layergan.training.distributed import (DistInfo, all_ranks_agree, average_gradients, broadcast_module,
                                           init_distributed)

RESUME_MAY_CHANGE = {"steps", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints", "workers",
                     "data", "out", "compile"}


class TrainingDiverged(LayerganError):
    pass


def build_models(cfg: TrainConfig, classes: tuple[str, ...]):
    torch.manual_seed(cfg.seed)
    return get_method(cfg.method).build(cfg, classes)


def held_out_mae(G, dataset: PreparedDataset, device, count: int = 16, batch: int = 8) -> float:
    """Mean absolute error in °C over valid pixels of the first `count` test samples (eval geometry)."""
    encoding, total, pixels = dataset.encoding, 0.0, 0.0
    with torch.no_grad():
        for start in range(0, min(count, len(dataset)), batch):
            items = [dataset[i] for i in range(start, min(start + batch, count, len(dataset)))]
            b = {k: v.to(device) for k, v in torch.utils.data.default_collate(items).items()}
            pred = encoding.decode(G(b)["thermal"].float(), b["r_celsius"])
            total += float(((pred - b["thermal"]).abs() * b["valid"]).sum())
            pixels += float(b["valid"].sum())
    return total / max(pixels, 1.0)


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool = True, progress: bool = True):
        self.info, self.device = init_distributed()
        self.cfg, self.progress = cfg, progress and self.info.is_main
        self.run_dir = Path(cfg.out)
        self.meta = load_meta(cfg.data)
        classes = tuple(c["name"] for c in self.meta["classes"])
        found = ckpt.latest_valid(self.run_dir, warn=self.log) if resume else None
        if found is None and ckpt.list_checkpoints(self.run_dir) and not resume:
            raise ConfigError(f"{self.run_dir} already holds checkpoints; pass --resume or choose another --out")
        if found is not None:
            self.cfg = cfg = self._resume_config(cfg, found[1])
        cfg.validate(self.info.world_size)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
        self.cuda = self.device.type == "cuda"
        self.amp = self.cuda and not cfg.fp32
        if self.cuda:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        built = build_models(cfg, classes)
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
        G_run, Ds_run = self.G, self.Ds
        if cfg.compile:
            G_run, Ds_run = torch.compile(self.G), torch.nn.ModuleDict({k: torch.compile(v) for k, v in self.Ds.items()})
        self.loss = built.make_loss(G_run, Ds_run, self.autocast)
        self.encoding = get_encoding(cfg.encoding)
        self.step, self.images_seen, self.metrics = 0, 0, {}
        if found is not None:
            self._load(*found)
        self.stop_requested = False

    # -- setup helpers -----------------------------------------------------
    def log(self, message: str) -> None:
        if self.info.is_main:
            tqdm.write(message)

    def autocast(self):
        if self.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _resume_config(self, cfg: TrainConfig, state: dict) -> TrainConfig:
        saved = from_dict(state["config"], source="checkpoint config")
        new, old = cfg.to_dict(), saved.to_dict()
        changed = sorted(k for k in new if new[k] != old[k] and k not in RESUME_MAY_CHANGE)
        if changed and cfg.method != "__resume__":
            raise ConfigError(f"{self.run_dir}: resuming with different settings ({', '.join(changed)}); "
                              "use another --out for a new run")
        for key in RESUME_MAY_CHANGE:
            setattr(saved, key, getattr(cfg, key))
        if state.get("data_signature") not in (None, self.meta.get("signature")):
            self.log(f"warning: {cfg.data} differs from the data this run started with")
        return saved

    def _load(self, folder: Path, state: dict) -> None:
        self.G.load_state_dict(ckpt.load_weights(folder, "G.safetensors"))
        self.G_ema.load_state_dict(ckpt.load_weights(folder, "G_ema.safetensors"))
        self.Ds.load_state_dict(ckpt.load_weights(folder, "D.safetensors"))
        optim_state = ckpt.load_tensors(folder / "optim.pt")
        for name, opt in self.optimizers.items():
            opt.load_state_dict(optim_state[name])
        rng = ckpt.load_tensors(folder / "rng.pt")
        torch.set_rng_state(rng["torch"])
        if self.cuda and rng.get("cuda"):
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.step, self.images_seen = state["step"], state["images_seen"]
        self.metrics = state.get("metrics", {})
        self.log(f"resumed from {folder} at step {self.step}")

    def _data(self):
        cfg = self.cfg
        self.train_set = PreparedDataset(cfg.data, "train", cfg.size, self.encoding, augment=True, seed=cfg.seed)
        held_split = "test" if "test" in self.meta["splits"] else "train"
        self.held_out = PreparedDataset(cfg.data, held_split, cfg.size, self.encoding, augment=False)
        sampler = ResumableSampler(len(self.train_set), cfg.batch, cfg.seed, self.step, self.info.rank,
                                   self.info.world_size)
        loader = torch.utils.data.DataLoader(self.train_set, batch_size=cfg.batch // self.info.world_size,
                                             sampler=sampler, num_workers=cfg.workers, pin_memory=self.cuda,
                                             persistent_workers=cfg.workers > 0,
                                             generator=torch.Generator().manual_seed(cfg.seed))  # not the global RNG
        return iter(loader)

    def _to_device(self, batch: dict) -> dict:
        out = {}
        for k, v in batch.items():
            v = v.to(self.device, non_blocking=True)
            if self.amp and v.ndim == 4:
                v = v.contiguous(memory_format=torch.channels_last)
            out[k] = v
        return out

    # -- the loop ------------------------------------------------------------
    def train_step(self, batch: dict) -> dict[str, float]:
        logs: dict[str, torch.Tensor] = {}
        phases = list(self.loss.phases)
        for i, phase in enumerate(phases):
            first = i == 0 or phases[i - 1].optimizer != phase.optimizer
            last = i == len(phases) - 1 or phases[i + 1].optimizer != phase.optimizer
            if first:
                self.optimizers[phase.optimizer].zero_grad(set_to_none=True)
            logs.update(self.loss.accumulate_gradients(phase.name, batch, self.step))
            if last:
                average_gradients(self.params[phase.optimizer], self.info)
                self.optimizers[phase.optimizer].step()
        values = {k: float(v) for k, v in logs.items()}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise TrainingDiverged(f"step {self.step + 1}: loss {bad[0]} is {values[bad[0]]}; stopped. "
                                   f"The last good checkpoint in {self.run_dir} is kept; lower the learning rate "
                                   "or use --fp32")
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

    def run(self) -> dict:
        cfg = self.cfg
        if self.info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_text(self.run_dir / "config.yaml", cfg.to_yaml())
        batches = self._data()
        writer = self._writer()
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        if self.step == 0 and self.info.is_main:
            self.metrics["held_out_mae_initial"] = held_out_mae(self.G_ema, self.held_out, self.device)
        bar = tqdm(total=cfg.steps, initial=self.step, desc=f"train {cfg.method}", unit="step",
                   disable=not self.progress, dynamic_ncols=True)
        start, start_step = time.perf_counter(), self.step
        try:
            while self.step < cfg.steps:
                values = self.train_step(self._to_device(next(batches)))
                self.step += 1
                self.images_seen += cfg.batch
                self.update_ema()
                bar.update()
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    rate = (self.step - start_step) * cfg.batch / (time.perf_counter() - start)
                    bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in values.items() if "total" in k or "l1" in k})
                    self._log_scalars(writer, values, rate)
                if self.info.is_main and (self.step % cfg.sample_every == 0 or self.step == cfg.steps):
                    self.save_samples(writer)
                stop = all_ranks_agree(self.stop_requested, self.info)
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps or stop:
                    self.save()
                if stop:
                    break
        finally:
            bar.close()
            for s, handler in previous.items():
                signal.signal(s, handler)
            if writer is not None:
                writer.close()
        return {"step": self.step, "metrics": self.metrics, "interrupted": self.stop_requested}

    # -- outputs -------------------------------------------------------------
    def _writer(self):
        if not self.info.is_main:
            return None
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(self.run_dir / "tensorboard"))

    def _log_scalars(self, writer, values: dict, images_per_s: float) -> None:
        if not self.info.is_main:
            return
        record = {"step": self.step, "images_seen": self.images_seen, "images_per_s": round(images_per_s, 2), **values}
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        for k, v in values.items():
            writer.add_scalar(k, v, self.step)
        writer.add_scalar("speed/images_per_s", images_per_s, self.step)

    def save_samples(self, writer) -> None:
        from layergan.evaluation.grids import sample_grid

        path = self.run_dir / "samples" / f"step-{self.step:08d}.png"
        image = sample_grid(self.G_ema, self.held_out, self.device, path, title=f"{self.cfg.method} step {self.step}")
        writer.add_image("samples", image, self.step, dataformats="HWC")

    def save(self) -> None:
        if self.info.is_main:
            self.metrics[f"held_out_mae_step_{self.step}"] = held_out_mae(self.G_ema, self.held_out, self.device)
            self.metrics["held_out_mae_final"] = self.metrics[f"held_out_mae_step_{self.step}"]
            rng = {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if self.cuda else []}
            state = {"images_seen": self.images_seen, "config": self.cfg.to_dict(), "method": self.cfg.method,
                     "data_signature": self.meta.get("signature"), "classes": self.meta["classes"],
                     "class_statistics": self.meta.get("class_statistics", {}), "metrics": self.metrics,
                     "world_size": self.info.world_size}
            folder = ckpt.save_checkpoint(self.run_dir, self.step, self.G, self.G_ema, self.Ds, self.optimizers, rng,
                                          state, self.cfg.keep_checkpoints)
            self.log(f"step {self.step}: checkpoint {folder.name}, held-out MAE "
                     f"{self.metrics['held_out_mae_final']:.2f} °C")
        if self.info.world_size > 1:
            torch.distributed.barrier()
