"""The studio's state and actions, apart from the web page: open a scene, set temperatures, render, export.

Temperatures of an object, in order of precedence: its own instance slider; its class slider; else its base
temperature (the data's, or sampled) plus the ambient shift. Renders are local edits (translate/render.py), so
the exported JSON reproduces the exported frame through `layergan translate --temperatures FILE.json`.
"""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from layergan.classes import VOID_LABEL
from layergan.data.dataset import ItemBuilder
from layergan.data.encoding import check_temperatures
from layergan.data.labels import segment_pixels
from layergan.data.readers import RawSample
from layergan.errors import ConfigError
from layergan.io import make_dirs, write_json
from layergan.models.pretrained import load_generator
from layergan.studio.scenes import SceneLibrary, read_upload
from layergan.translate import image_rng, object_temperatures
from layergan.translate.camera import output_paths, write_thermal
from layergan.translate.render import ObjectKey, StudioScene, object_name, render_edit, studio_record

SLIDER_MARGIN = 20.0  # °C beyond the training range of a class
AMBIENT_RANGE = (-20.0, 20.0)  # °C, the ambient shift
EXPORT_FORMATS = ("npy", "tiff16", "png8", "preview")


@dataclass
class SceneState:
    name: str
    raw: RawSample
    base: dict[ObjectKey, float]  # every object's base temperature
    base_source: str  # where the base came from, for the page
    base_frame: np.ndarray
    class_values: dict[int, float] = field(default_factory=dict)  # class sliders the user moved
    instance_values: dict[ObjectKey, float] = field(default_factory=dict)
    ambient_shift: float = 0.0
    sample_seed: int = 0
    selected: ObjectKey | None = None
    frame: np.ndarray | None = None  # the last render

    def temperatures(self) -> dict[ObjectKey, float]:
        out = {}
        for key, value in self.base.items():
            if key in self.instance_values:
                out[key] = self.instance_values[key]
            elif key[0] in self.class_values:
                out[key] = self.class_values[key[0]]
            else:
                out[key] = value + self.ambient_shift if self.ambient_shift else value
        return out

    def classes_present(self) -> list[int]:
        return sorted({cls for cls, _ in self.base})

    def class_value(self, cls: int) -> float:
        """What the class slider shows: the value set, else the pixel-weighted mean of its objects now."""
        if cls in self.class_values:
            return self.class_values[cls]
        temps, pixels = self.temperatures(), self.pixels
        keys = [k for k in self.base if k[0] == cls]
        weights = np.array([pixels[k] for k in keys], np.float64)
        return float(np.average([temps[k] for k in keys], weights=weights))

    @cached_property
    def pixels(self) -> dict[ObjectKey, int]:
        """Pixels per object: fixed for the scene, so counted once."""
        return segment_pixels(self.raw.class_map, self.raw.instance_map)


class Studio:
    """One loaded model and its scenes; the page holds a SceneState per browser session."""

    def __init__(self, checkpoint: str | Path, data: str | Path | None = None, device: str = "cpu",
                 layout: str = "auto", warn=print):
        self.loaded = load_generator(checkpoint, device, warn=warn)
        if not self.loaded.spec.get("takes_temperatures", True):
            raise ConfigError(f"{checkpoint}: a {self.loaded.method} checkpoint takes no temperatures, so the studio "
                              "cannot set them; use a layergan, layergan-reduced or seg2thermal checkpoint")
        self.device, self.classes, self.units = device, self.loaded.classes, self.loaded.units
        self.builder = ItemBuilder(self.classes, self.loaded.size, self.loaded.encoding)
        self.stats = self.loaded.spec.get("class_statistics", {})
        self.library = SceneLibrary(data, self.classes, self.units, self.loaded.size, self.loaded.encoding, layout,
                                    warn=warn)

    @property
    def unit(self) -> str:
        return self.units.symbol

    def slider_range(self, cls: int) -> tuple[float, float]:
        """The documented slider span: the class's training range, widened by SLIDER_MARGIN."""
        s = self.stats.get(self.classes.names[cls]) or {}
        low, high = s.get("min"), s.get("max")
        if low is None or high is None:
            low, high = -20.0, 60.0
        return float(np.floor(low - SLIDER_MARGIN)), float(np.ceil(high + SLIDER_MARGIN))

    def open(self, name: str) -> SceneState:
        return self._start(name, self.library.load(name))

    def open_upload(self, rgb_path: str | Path, labels_path: str | Path) -> SceneState:
        raw = read_upload(rgb_path, labels_path, self.classes)
        return self._start(f"upload/{raw.ref.id}", raw)

    def _start(self, name: str, raw: RawSample) -> SceneState:
        base, source = self.data_temperatures(raw)
        state = SceneState(name, raw, base, source, self._render_base(raw, base))
        state.frame = state.base_frame
        return state

    def data_temperatures(self, raw: RawSample) -> tuple[dict[ObjectKey, float], str]:
        """The scene's own object means where it has a thermal frame, else translate's `auto` with seed 0."""
        mode = "gt" if raw.thermal is not None else "auto"
        temps = object_temperatures(raw, mode, self.stats, self.classes.names, image_rng(0, raw.ref.id))
        return temps, "the data's thermal frame" if mode == "gt" else "sampled (auto, seed 0)"

    def _render_base(self, raw: RawSample, base: dict[ObjectKey, float]) -> np.ndarray:
        return render_edit(self.loaded, self.builder, raw, base, base, self.device)

    def reset(self, state: SceneState) -> SceneState:
        base, source = self.data_temperatures(state.raw)
        return self._rebase(state, base, source, seed=0)

    def sample(self, state: SceneState) -> SceneState:
        """New `auto` temperatures (translate's sampling from the training statistics), the next seed each time."""
        seed = state.sample_seed + 1
        base = object_temperatures(state.raw, "auto", self.stats, self.classes.names, image_rng(seed, state.raw.ref.id))
        return self._rebase(state, base, f"sampled (auto, seed {seed})", seed)

    def _rebase(self, state: SceneState, base, source: str, seed: int) -> SceneState:
        fresh = SceneState(state.name, state.raw, base, source, self._render_base(state.raw, base),
                           sample_seed=seed, selected=state.selected)
        fresh.frame = fresh.base_frame
        return fresh

    def render(self, state: SceneState) -> np.ndarray:
        temperatures = state.temperatures()
        check_temperatures(min(temperatures.values()), max(temperatures.values()), "the temperatures set",
                           allow_extreme=not self.units.calibrated)  # as translate: never below absolute zero
        state.frame = render_edit(self.loaded, self.builder, state.raw, state.base, temperatures, self.device,
                                  base_frame=state.base_frame)
        return state.frame

    def select(self, state: SceneState, x: int, y: int) -> ObjectKey | None:
        """The object at pixel (x, y) of the input, or None on unlabelled pixels."""
        height, width = state.raw.class_map.shape
        if not (0 <= x < width and 0 <= y < height) or state.raw.class_map[y, x] == VOID_LABEL:
            state.selected = None
        else:
            state.selected = (int(state.raw.class_map[y, x]), int(state.raw.instance_map[y, x]))
        return state.selected

    def object_label(self, key: ObjectKey) -> str:
        return object_name(self.classes.names, key)

    def class_errors(self, state: SceneState) -> list[dict]:
        """Per class present: the mean of the render and of the ground truth over the class's pixels, and the MAE."""
        if state.raw.thermal is None or state.frame is None:
            return []
        rows = []
        for cls in state.classes_present():
            mask = state.raw.class_map == cls
            rows.append({"class": self.classes.names[cls], "pixels": int(mask.sum()),
                         "render": float(state.frame[mask].mean()), "truth": float(state.raw.thermal[mask].mean()),
                         "mae": float(np.abs(state.frame[mask] - state.raw.thermal[mask]).mean())})
        return rows

    def export(self, state: SceneState, root: str | Path | None = None) -> list[Path]:
        """The current frame in translate's formats and layout, the temperatures JSON, and a zip of all of them:
        [npy, tiff16 (calibrated models only: it holds centikelvin), png8, JSON, zip]."""
        frame = state.frame if state.frame is not None else self.render(state)
        folder = Path(tempfile.mkdtemp(prefix="export-", dir=make_dirs(root or Path(tempfile.gettempdir())
                                                                      / "layergan-studio")))
        scene_id, split = state.raw.ref.id, state.raw.ref.split
        formats = EXPORT_FORMATS if self.units.calibrated else tuple(f for f in EXPORT_FORMATS if f != "tiff16")
        write_thermal(folder, split, scene_id, frame, formats, self.unit)
        settings = {"ambient_shift": state.ambient_shift, "base": state.base_source,
                    "classes": {self.classes.names[c]: v for c, v in sorted(state.class_values.items())},
                    "instances": {self.object_label(k): v for k, v in sorted(state.instance_values.items())},
                    "checkpoint": str(self.loaded.folder)}
        record = studio_record(StudioScene(scene_id, split, state.base, state.temperatures()), self.classes.names,
                               self.unit, settings)
        temperatures = folder / f"{scene_id}-temperatures.json"
        write_json(temperatures, record)
        written = output_paths(folder, split, scene_id, formats)
        archive = folder / f"{scene_id}-studio.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for path in [*written, temperatures]:
                bundle.write(path, path.relative_to(folder))
        by_format = dict(zip(formats, written))
        return [by_format[f] for f in ("npy", "tiff16", "png8") if f in by_format] + [temperatures, archive]
