"""Rebuild a trained generator (the EMA copy) from a checkpoint: config from JSON, weights from safetensors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from layergan.data.encoding import TemperatureEncoding, get_encoding
from layergan.errors import CheckpointError
from layergan.models.registry import get_method
from layergan.training import checkpoint as ckpt
from layergan.training.config import TrainConfig, from_dict


@dataclass
class LoadedGenerator:
    G: torch.nn.Module
    config: TrainConfig
    state: dict
    folder: Path
    classes: tuple[str, ...]
    encoding: TemperatureEncoding


def load_generator(path: str | Path, device="cpu", expect_method: str | None = None) -> LoadedGenerator:
    folder, state = ckpt.resolve(path)
    config = from_dict(state["config"], source=str(folder / "state.json"))
    if expect_method and config.method != expect_method:
        raise CheckpointError(f"{folder}: a {config.method} checkpoint, not {expect_method}")
    classes = tuple(c["name"] for c in state["classes"])
    G = get_method(config.method).build(config, classes).G
    try:
        G.load_state_dict(ckpt.load_weights(folder, "G_ema.safetensors"))
    except RuntimeError as error:
        raise CheckpointError(f"{folder}: weights do not fit a {config.method} generator "
                              f"({str(error).splitlines()[0]})") from None
    return LoadedGenerator(G.eval().to(device), config, state, folder, classes, get_encoding(config.encoding))
