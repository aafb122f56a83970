"""Self-describing generators, as diffusers' `save_pretrained` does it.

Beside `G_ema.safetensors` every checkpoint holds `G_ema.json`: the generator's class name, its
constructor arguments, the class list, the temperature encoding and the per-class temperature
statistics that `translate --temperatures auto` samples from. Those two files rebuild the generator
alone: no training config, no critics, no data folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from layergan import checkpoint as ckpt
from layergan.classes import ClassList
from layergan.data.encoding import TemperatureEncoding, encoding_from, get_encoding
from layergan.data.thermal_units import ThermalUnits
from layergan.errors import CheckpointError
from layergan.models.generators import ConditionalStyleGenerator
from layergan.models.pix2pix import Pix2PixGenerator
from layergan.models.thermalgan import ThermalGANGenerator

GENERATOR_CLASSES = {cls.__name__: cls for cls in (ConditionalStyleGenerator, Pix2PixGenerator, ThermalGANGenerator)}
SPEC_FILE = "G_ema.json"
WEIGHTS_FILE = "G_ema.safetensors"
SPEC_VERSION = 1


def describe_generator(G: nn.Module, method: str, classes: ClassList, encoding: str, takes_temperatures: bool,
                       class_statistics: dict, thermal_units: dict | None = None) -> dict:
    """The JSON document that rebuilds `G` (its class must be in GENERATOR_CLASSES)."""
    name = type(G).__name__
    assert GENERATOR_CLASSES.get(name) is type(G), f"{name} cannot be described"
    return {"spec_version": SPEC_VERSION, "class": name, "kwargs": dict(G.init_kwargs), "method": method,
            **classes.to_dict(), "encoding": encoding, "encoding_limit_celsius": get_encoding(encoding).limit,
            "encoding_compand_celsius": get_encoding(encoding).compand,
            "takes_temperatures": takes_temperatures,
            "class_statistics": class_statistics,
            "thermal_units": thermal_units or ThermalUnits().describe()}


def build_generator(spec: dict, source: str) -> nn.Module:
    """An untrained generator with the architecture that `spec` describes."""
    try:
        cls = GENERATOR_CLASSES[spec["class"]]
        return cls(**spec["kwargs"])
    except KeyError as error:
        raise CheckpointError(f"{source}: unknown generator or missing field {error}") from None
    except (TypeError, ValueError, AssertionError) as error:
        raise CheckpointError(f"{source}: arguments do not fit {spec.get('class')} ({error})") from None


@dataclass
class LoadedGenerator:
    G: nn.Module  # the EMA generator, in eval mode
    spec: dict  # G_ema.json
    state: dict  # the checkpoint's state.json
    folder: Path
    classes: ClassList
    encoding: TemperatureEncoding

    @property
    def method(self) -> str:
        return self.spec["method"]

    @property
    def units(self) -> ThermalUnits:
        """What the training frames held: °C, or uncalibrated units."""
        return ThermalUnits.from_dict(self.spec.get("thermal_units"))

    @property
    def size(self) -> int:
        return int(self.spec["kwargs"]["resolution"])


def load_generator(path: str | Path, device: str | torch.device = "cpu", expect_method: str | None = None,
                   warn=print) -> LoadedGenerator:
    """The EMA generator of a checkpoint folder, or of a run folder's newest intact checkpoint."""
    skipped: list[str] = []
    folder, state = ckpt.resolve(path, required=(SPEC_FILE, WEIGHTS_FILE), warn=skipped.append)
    for message in skipped:
        warn(message)
    if skipped:
        warn(f"using {folder} instead")
    spec = ckpt.load_document(folder, SPEC_FILE)
    source = str(folder / SPEC_FILE)
    if expect_method and spec.get("method") != expect_method:
        raise CheckpointError(f"{folder}: a {spec.get('method')} checkpoint, not {expect_method}")
    G = build_generator(spec, source)
    try:
        G.load_state_dict(ckpt.load_weights(folder, WEIGHTS_FILE))
    except RuntimeError as error:
        raise CheckpointError(f"{folder}: weights do not fit a {spec['class']} generator "
                              f"({str(error).splitlines()[0]})") from None
    classes = ClassList.from_dict(spec, source=source)
    encoding = encoding_from(spec)
    return LoadedGenerator(G.eval().to(device), spec, state, folder, classes, encoding)


@torch.no_grad()
def predict_celsius(G: nn.Module, batch: dict[str, torch.Tensor], encoding: TemperatureEncoding,
                    masked: bool = True) -> torch.Tensor:
    """G's output decoded to °C, (N, 1, S, S); 0 outside the valid pixels unless `masked` is False."""
    celsius = encoding.decode(G(batch)["thermal"].float(), batch["r_celsius"])
    return celsius * batch["valid"] if masked else celsius
