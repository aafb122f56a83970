"""One scene rendered at chosen object temperatures, and local edits: what the studio shows and exports, and what
`translate --temperatures studio.json` reproduces.

An edit is local. Objects whose temperature differs from the base temperatures take their pixels from a render at
the edited temperatures; every other pixel keeps the base render's value. The generator's styles are global (T
reaches every layer), so without this a warmer car would also shift the texture of the trees a little.

The studio file (JSON) names the scene and gives every object's base and edited temperature as "class/instance",
e.g. {"car/2": 31.5}: enough to render the same frame again, with no other state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from layergan.data.batch import collate
from layergan.data.dataset import ItemBuilder
from layergan.data.labels import SEGMENT_STRIDE, objects_for_temperatures, segment_keys
from layergan.data.readers import RawSample
from layergan.errors import ConfigError
from layergan.models.pretrained import LoadedGenerator, predict_celsius

ObjectKey = tuple[int, int]  # (class index, instance id)
STUDIO_FORMAT = "layergan-studio-temperatures"
STUDIO_VERSION = 1


def scene_item(raw: RawSample, temperatures: dict[ObjectKey, float], builder: ItemBuilder) -> dict:
    """The batch item of `raw` with every object at the given mean temperature (R and T follow from them)."""
    objects, class_temps = objects_for_temperatures(raw.class_map, raw.instance_map, temperatures,
                                                    builder.num_classes)
    thermal = raw.thermal if raw.thermal is not None else np.zeros(raw.class_map.shape, np.float32)
    arrays = {"rgb": raw.rgb, "class_map": raw.class_map, "instance_map": raw.instance_map,
              "thermal": thermal, "objects": objects, "class_temperatures": class_temps}
    return builder.make_item(arrays, None)


def render_batch(loaded: LoadedGenerator, builder: ItemBuilder, raws: list[RawSample],
                 temperatures: list[dict[ObjectKey, float]], device: str | torch.device = "cpu") -> list[np.ndarray]:
    """One forward pass for several scenes; each frame (°C or units) back at its input's size."""
    items = [scene_item(raw, temps, builder) for raw, temps in zip(raws, temperatures)]
    pred = predict_celsius(loaded.G, collate(items, device), loaded.encoding, masked=False)
    return [builder.restore_size(frame[0], raw.class_map.shape) for raw, frame in zip(raws, pred)]


def edited_objects(base: dict[ObjectKey, float], temperatures: dict[ObjectKey, float]) -> list[ObjectKey]:
    return sorted(key for key, value in temperatures.items() if base.get(key) != value)


def object_mask(raw: RawSample, keys: list[ObjectKey]) -> np.ndarray:
    """(H, W) True on the pixels of the given objects."""
    wanted = np.array([cls * SEGMENT_STRIDE + inst for cls, inst in keys], dtype=np.int64)
    return np.isin(segment_keys(raw.class_map, raw.instance_map), wanted)


def compose_edit(base_frame: np.ndarray, edited_frame: np.ndarray, raw: RawSample,
                 edited: list[ObjectKey]) -> np.ndarray:
    """The base frame with the edited objects' pixels taken from the edited render."""
    return np.where(object_mask(raw, edited), edited_frame, base_frame).astype(np.float32)


def render_edit(loaded: LoadedGenerator, builder: ItemBuilder, raw: RawSample, base: dict[ObjectKey, float],
                temperatures: dict[ObjectKey, float], device: str | torch.device = "cpu",
                base_frame: np.ndarray | None = None) -> np.ndarray:
    """The frame of a studio edit: one render per temperature set, each alone (batch of 1), so that the studio,
    which keeps the base frame, and translate, which renders both, compute the same numbers."""
    if base_frame is None:
        base_frame = render_batch(loaded, builder, [raw], [base], device)[0]
    edited = edited_objects(base, temperatures)
    if not edited:
        return base_frame
    edited_frame = render_batch(loaded, builder, [raw], [temperatures], device)[0]
    return compose_edit(base_frame, edited_frame, raw, edited)


def object_name(class_names: tuple[str, ...], key: ObjectKey) -> str:
    return f"{class_names[key[0]]}/{key[1]}"


def parse_object_name(class_names: tuple[str, ...], name: str, source: str) -> ObjectKey:
    cls, slash, inst = name.rpartition("/")
    if not slash or cls not in class_names or not inst.isdigit():
        raise ConfigError(f"{source}: {name!r} is not CLASS/INSTANCE with a class of the model "
                          f"({', '.join(class_names)})")
    return class_names.index(cls), int(inst)


@dataclass(frozen=True)
class StudioScene:
    """What a studio file says about one scene."""

    scene: str  # the sample id
    split: str | None
    base: dict[ObjectKey, float]
    temperatures: dict[ObjectKey, float]


def studio_record(scene: StudioScene, class_names: tuple[str, ...], unit: str, settings: dict) -> dict:
    """The JSON document of a studio export; `settings` records the sliders (for people, not for rendering)."""
    def named(values):
        return {object_name(class_names, key): float(v) for key, v in sorted(values.items())}  # exact: JSON keeps every bit

    return {"format": STUDIO_FORMAT, "version": STUDIO_VERSION, "scene": scene.scene, "split": scene.split,
            "unit": unit, "base": named(scene.base), "temperatures": named(scene.temperatures),
            "edited": [object_name(class_names, k) for k in edited_objects(scene.base, scene.temperatures)],
            "settings": settings}


def read_studio_file(path: str | Path, class_names: tuple[str, ...], unit: str) -> StudioScene:
    """A studio export, checked against the model that will render it."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: studio temperatures file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: not a JSON studio export ({error})") from None
    if not isinstance(document, dict) or document.get("format") != STUDIO_FORMAT:
        raise ConfigError(f"{path}: not a studio export (no \"format\": \"{STUDIO_FORMAT}\")")
    if document.get("version") != STUDIO_VERSION:
        raise ConfigError(f"{path}: studio export version {document.get('version')}; this layergan reads "
                          f"{STUDIO_VERSION}")
    if document.get("unit") != unit:
        raise ConfigError(f"{path}: temperatures in {document.get('unit')}, but this model works in {unit}")

    def temperatures(field: str) -> dict[ObjectKey, float]:
        values = document.get(field)
        if not isinstance(values, dict) or not values:
            raise ConfigError(f"{path}: {field!r} must map CLASS/INSTANCE to a temperature")
        out = {}
        for name, value in values.items():
            if not isinstance(value, (int, float)) or not np.isfinite(value):
                raise ConfigError(f"{path}: {field}[{name!r}] = {value!r} is not a finite temperature")
            out[parse_object_name(class_names, name, str(path))] = float(value)
        return out

    if not isinstance(document.get("scene"), str) or not document["scene"]:
        raise ConfigError(f"{path}: no \"scene\" (the sample id) in the studio export")
    return StudioScene(document["scene"], document.get("split"), temperatures("base"), temperatures("temperatures"))
