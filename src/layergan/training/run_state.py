"""Run state on disk: what a checkpoint holds beyond the weights, and how a resume restores it.

A training checkpoint holds G, G_ema and the critics (safetensors), G_ema.json (which rebuilds
the generator alone, for evaluate and translate), the optimizers and RNG states (tensors only)
and state.json (counters, config, metrics).
"""

from __future__ import annotations

from pathlib import Path

import torch

from layergan import checkpoint as ckpt
from layergan.errors import ConfigError
from layergan.methods.config import TrainConfig, from_dict
from layergan.models.pretrained import SPEC_FILE

TRAINING_FILES = ("G.safetensors", "G_ema.safetensors", "D.safetensors", "optim.pt", "rng.pt", SPEC_FILE)
# Settings a resumed run may change; any other difference means a different run.
RESUME_MAY_CHANGE = {"steps", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints", "workers",
                     "data", "out", "compile"}


def find_resumable(run_dir: Path, warn) -> tuple[Path, dict] | None:
    return ckpt.latest_valid(run_dir, warn=warn, required=TRAINING_FILES)


def resume_config(cfg: TrainConfig, state: dict, run_dir: Path) -> TrainConfig:
    """The saved config, with only the RESUME_MAY_CHANGE settings taken from `cfg`."""
    saved = from_dict(state["config"], source="checkpoint config")
    new, old = cfg.to_dict(), saved.to_dict()
    changed = sorted(k for k in new if new[k] != old[k] and k not in RESUME_MAY_CHANGE)
    if changed:
        raise ConfigError(f"{run_dir}: resuming with different settings ({', '.join(changed)}); "
                          "use another --out for a new run")
    for key in RESUME_MAY_CHANGE:
        setattr(saved, key, getattr(cfg, key))
    return saved


def save(run_dir: Path, step: int, G, G_ema, Ds, optimizers: dict, generator_spec: dict, state: dict,
         keep: int, cuda: bool) -> Path:
    rng = {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if cuda else []}
    return ckpt.save_checkpoint(
        run_dir, step,
        weights={"G.safetensors": ckpt.module_tensors(G), "G_ema.safetensors": ckpt.module_tensors(G_ema),
                 "D.safetensors": ckpt.module_tensors(Ds)},
        tensors={"optim.pt": {name: opt.state_dict() for name, opt in optimizers.items()}, "rng.pt": rng},
        documents={SPEC_FILE: generator_spec}, state=state, keep=keep)


def load(folder: Path, G, G_ema, Ds, optimizers: dict, cuda: bool) -> None:
    G.load_state_dict(ckpt.load_weights(folder, "G.safetensors"))
    G_ema.load_state_dict(ckpt.load_weights(folder, "G_ema.safetensors"))
    Ds.load_state_dict(ckpt.load_weights(folder, "D.safetensors"))
    optim_state = ckpt.load_tensors(folder / "optim.pt")
    for name, opt in optimizers.items():
        opt.load_state_dict(optim_state[name])
    rng = ckpt.load_tensors(folder / "rng.pt")
    torch.set_rng_state(rng["torch"])
    if cuda and rng.get("cuda"):
        torch.cuda.set_rng_state_all(rng["cuda"])
