"""Checkpoint folders that are safe to load and never mistaken for complete when they are not.

A checkpoint is a folder `ckpt-<step>`:
  *.safetensors     weights (safetensors: no code)
  *.pt              tensors only, read with torch.load(weights_only=True)
  *.json            plain data (for example the generator's description, G_ema.json)
  state.json        step, config, data signature, metrics, and the sha256 of every other file
It is written as a temporary folder and renamed; state.json is written last. This module
knows the format only, not what a trainer puts in it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from layergan.errors import CheckpointError, OutputError

PREFIX = "ckpt-"
STATE = "state.json"
STATE_SUM = "state.sha256"  # the checksum of state.json itself, so an edited step count is caught
TEMPORARY = re.compile(r"^\.ckpt-\d+\.tmp-(\d+)$")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def module_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A module's state dict as contiguous CPU tensors, ready for safetensors."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def save_checkpoint(run_dir: Path, step: int, weights: Mapping[str, dict[str, torch.Tensor]],
                    tensors: Mapping[str, object], documents: Mapping[str, object], state: dict, keep: int) -> Path:
    """Write ckpt-<step> with `weights` (name.safetensors), `tensors` (name.pt) and `documents` (name.json)."""
    run_dir = Path(run_dir)
    final = run_dir / f"{PREFIX}{step:08d}"
    tmp = run_dir / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        for name, values in weights.items():
            save_file(values, str(tmp / name))
        for name, value in tensors.items():
            torch.save(value, tmp / name)
        for name, value in documents.items():
            (tmp / name).write_text(json.dumps(value, indent=2))
        files = {name: _sha256(tmp / name) for name in (*weights, *tensors, *documents)}
        text = json.dumps({**state, "step": step, "files": files}, indent=2)
        (tmp / STATE).write_text(text)
        (tmp / STATE_SUM).write_text(hashlib.sha256(text.encode()).hexdigest())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except (OSError, RuntimeError) as error:  # disk full, read-only: leave no half-written folder behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"{final}: cannot write the checkpoint ({getattr(error, 'strerror', None) or error})") from None
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    return sorted(p for p in run_dir.iterdir() if p.is_dir() and p.name.startswith(PREFIX))


def verify(folder: Path, required: tuple[str, ...] = ()) -> dict:
    """The checkpoint's state.json if every listed file (and each of `required`) is present and intact."""
    folder = Path(folder)
    state_path = folder / STATE
    if not state_path.exists():
        raise CheckpointError(f"{folder}: incomplete checkpoint (no {STATE})")
    try:
        text = state_path.read_text()
        if not (folder / STATE_SUM).exists() or (folder / STATE_SUM).read_text().strip() != \
                hashlib.sha256(text.encode()).hexdigest():
            raise CheckpointError(f"{state_path}: corrupt or edited (checksum differs from {STATE_SUM})")
        state = json.loads(text)
        files = state["files"]
        assert isinstance(files, dict)
    except (json.JSONDecodeError, KeyError, AssertionError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{state_path}: unreadable ({type(error).__name__}: {error})") from None
    for name in sorted({*files, *required}):
        path = folder / name
        if not path.exists():
            raise CheckpointError(f"{path}: missing from the checkpoint")
        if files.get(name) != _sha256(path):
            raise CheckpointError(f"{path}: corrupt (checksum differs from {STATE})")
    return state


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the .ckpt-<step>.tmp-<pid> folders of processes that died while saving (SIGKILL, disk full)."""
    run_dir, removed = Path(run_dir), []
    if run_dir.is_dir():
        for path in run_dir.iterdir():
            match = TEMPORARY.match(path.name)
            if match and path.is_dir() and (int(match.group(1)) == os.getpid() or not process_alive(int(match.group(1)))):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def latest_valid(run_dir: Path, warn=print, required: tuple[str, ...] = ()) -> tuple[Path, dict] | None:
    """The newest intact checkpoint; broken ones are reported through `warn` and skipped, never used."""
    for folder in reversed(list_checkpoints(run_dir)):
        try:
            return folder, verify(folder, required)
        except CheckpointError as error:
            warn(f"warning: skipping checkpoint: {error}")
    return None


def resolve(path: str | Path, required: tuple[str, ...] = (), warn=print) -> tuple[Path, dict]:
    """A checkpoint folder, or a run folder (its newest intact checkpoint)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    if (path / STATE).exists():
        return path, verify(path, required)
    found = latest_valid(path, warn=warn, required=required)
    if found is None:
        raise CheckpointError(f"{path}: no intact checkpoint found (expected {PREFIX}<step>/ folders)")
    return found


def load_weights(folder: Path, name: str) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(Path(folder) / name))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{Path(folder) / name}: unreadable weights ({error})") from None


def load_document(folder: Path, name: str) -> dict:
    path = Path(folder) / name
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing from the checkpoint") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: unreadable ({error})") from None


def load_tensors(path: Path):
    """torch.load restricted to tensors and plain containers: a pickle that would run code is refused."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError and friends: never fall back to unsafe loading
        raise CheckpointError(refusal(path, error)) from None


def refusal(path: Path, error: Exception) -> str:
    """Why torch.load(weights_only=True) refused a file, in two sentences instead of PyTorch's page."""
    text = str(error)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    try:
        with open(path, "rb") as f:
            pickled = f.read(4)[:1] in (b"\x80", b"P")  # a pickle's PROTO opcode, or torch's zip container
    except OSError:
        pickled = False
    if found or ("Weights only load failed" in text and pickled):
        what = f" (it references {found.group(1)})" if found else ""
        return (f"{path}: refused to load: it holds pickled Python objects{what}, and unpickling them could run "
                "code. layergan loads tensors only (torch.load with weights_only=True); do not load this file "
                "some other way unless you trust its source.")
    first = text.strip().splitlines()[0][:300] if text.strip() else type(error).__name__
    return f"{path}: refused to load: not a readable tensor file ({type(error).__name__}: {first})"
