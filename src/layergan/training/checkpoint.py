"""Checkpoints that are safe to load and never mistaken for complete when they are not.

A checkpoint is a folder `ckpt-<step>`:
  G.safetensors, G_ema.safetensors, D.safetensors   weights (safetensors: no code)
  optim.pt, rng.pt                                 tensors only, read with torch.load(weights_only=True)
  state.json                                       step, config, data signature, metrics, sha256 of every file
It is written as a temporary folder and renamed; state.json is written last.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from layergan.errors import CheckpointError

PREFIX = "ckpt-"
WEIGHT_FILES = ("G.safetensors", "G_ema.safetensors", "D.safetensors")
TENSOR_FILES = ("optim.pt", "rng.pt")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def save_checkpoint(run_dir: Path, step: int, G, G_ema, Ds, optimizers: dict, rng: dict, state: dict,
                    keep: int) -> Path:
    run_dir = Path(run_dir)
    final = run_dir / f"{PREFIX}{step:08d}"
    tmp = run_dir / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(_tensors(G), str(tmp / "G.safetensors"))
    save_file(_tensors(G_ema), str(tmp / "G_ema.safetensors"))
    save_file(_tensors(Ds), str(tmp / "D.safetensors"))
    torch.save({name: opt.state_dict() for name, opt in optimizers.items()}, tmp / "optim.pt")
    torch.save(rng, tmp / "rng.pt")
    files = {name: _sha256(tmp / name) for name in (*WEIGHT_FILES, *TENSOR_FILES)}
    (tmp / "state.json").write_text(json.dumps({**state, "step": step, "files": files}, indent=2))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    return sorted(p for p in run_dir.iterdir() if p.is_dir() and p.name.startswith(PREFIX))


def verify(folder: Path) -> dict:
    """The checkpoint's state.json if every file is present and intact, else CheckpointError."""
    folder = Path(folder)
    state_path = folder / "state.json"
    if not state_path.exists():
        raise CheckpointError(f"{folder}: incomplete checkpoint (no state.json)")
    try:
        state = json.loads(state_path.read_text())
        files = state["files"]
    except (json.JSONDecodeError, KeyError) as error:
        raise CheckpointError(f"{state_path}: unreadable ({error})") from None
    for name in (*WEIGHT_FILES, *TENSOR_FILES):
        path = folder / name
        if not path.exists():
            raise CheckpointError(f"{path}: missing from the checkpoint")
        if files.get(name) != _sha256(path):
            raise CheckpointError(f"{path}: corrupt (checksum differs from state.json)")
    return state


def latest_valid(run_dir: Path, warn=print) -> tuple[Path, dict] | None:
    """The newest intact checkpoint; broken ones are reported and skipped, never used."""
    for folder in reversed(list_checkpoints(run_dir)):
        try:
            return folder, verify(folder)
        except CheckpointError as error:
            warn(f"warning: skipping checkpoint: {error}")
    return None


def resolve(path: str | Path) -> tuple[Path, dict]:
    """A checkpoint folder, or a run folder (its newest intact checkpoint)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    if (path / "state.json").exists():
        return path, verify(path)
    found = latest_valid(path, warn=lambda m: None)
    if found is None:
        raise CheckpointError(f"{path}: no intact checkpoint found (expected {PREFIX}<step>/ folders)")
    return found


def load_weights(folder: Path, name: str) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(Path(folder) / name))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{Path(folder) / name}: unreadable weights ({error})") from None


def load_tensors(path: Path):
    """torch.load restricted to tensors and plain containers: a pickle that would run code is refused."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError and friends: never fall back to unsafe loading
        raise CheckpointError(f"{path}: refused to load ({type(error).__name__}: {str(error)[:200]})") from None
