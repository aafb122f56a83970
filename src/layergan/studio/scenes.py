"""Where the studio's scenes come from: `--data` (a prepared dataset, or any input that translate reads) and uploads.

Scenes are listed once, at start, and requests name them by that listing only: no request parameter ever becomes
a path, so nothing outside `--data` (and gradio's own upload folder) is read.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Callable

from PIL import Image

from layergan.classes import ClassList
from layergan.data.dataset import PreparedDataset, load_meta
from layergan.data.encoding import TemperatureEncoding
from layergan.data.layouts import detect_layout, list_samples, read_sample, split_exists
from layergan.data.readers import RawSample, SampleRef, connected_instances, read_class_map, read_rgb
from layergan.data.reading import make_reading
from layergan.data.thermal_units import ThermalUnits
from layergan.errors import DataError
from layergan.translate import input_splits

UPLOAD_MAX_BYTES = 20 * 1024 * 1024
UPLOAD_MAX_SIDE = 4096
PALETTE_TOLERANCE = 30.0  # as prepare's default: JPEG-smeared class colours still match


class SceneLibrary:
    """The scenes of `--data`, by name ("split/id"), each read on demand."""

    def __init__(self, data: str | Path | None, classes: ClassList, units: ThermalUnits, size: int,
                 encoding: TemperatureEncoding, layout: str = "auto", splits=("train", "val", "test"), warn=print):
        self.loaders: dict[str, Callable[[], RawSample]] = {}
        if data is None:
            return
        root = Path(data)
        if not root.is_dir():
            raise DataError(f"{root}: --data folder not found")
        if (root / "meta.json").exists():
            self._add_prepared(root, classes, size, encoding, units)
        else:
            self._add_input(root, classes, units, layout, splits, warn)
        if not self.loaders:
            raise DataError(f"{root}: no scenes found (a prepared dataset, or RGB + segmentation in a layout "
                            "that translate reads)")

    def _add_prepared(self, root: Path, classes: ClassList, size: int, encoding: TemperatureEncoding,
                      units: ThermalUnits) -> None:
        for split in load_meta(root)["splits"]:
            dataset = PreparedDataset(root, split, size, encoding, augment=False)
            if dataset.classes.names != classes.names:
                raise DataError(f"{root}: prepared with the classes {', '.join(dataset.classes.names)}, but the "
                                f"model has {', '.join(classes.names)}")
            use_thermal = dataset.units.symbol == units.symbol
            for index, entry in enumerate(dataset.entries):
                self.loaders[f"{split}/{entry['id']}"] = (
                    lambda d=dataset, i=index, s=split, e=entry, u=use_thermal: _prepared_sample(d, i, s, e, u))

    def _add_input(self, root: Path, classes: ClassList, units: ThermalUnits, layout: str, splits, warn) -> None:
        root, splits = input_splits(root, splits, layout, None)
        layout = detect_layout(root, splits) if layout == "auto" else layout
        reading = make_reading(layout, root, classes)
        use_thermal = reading.units.symbol == units.symbol
        if not use_thermal:
            warn(f"note: the thermal frames in {root} are {reading.units.kind}, the model's {units.symbol}: "
                 "they are not shown")
        for split in splits:
            if not split_exists(root, split, layout, None):
                continue
            refs, problems = list_samples(root, split, layout, need_thermal=False)
            if problems:
                raise DataError(f"{problems[0][0]}: {problems[0][1]}")
            for ref in refs:
                ref = ref if use_thermal else replace(ref, thermal=None)
                self.loaders[f"{split}/{ref.id}"] = lambda r=ref: read_sample(r, reading)

    @property
    def names(self) -> list[str]:
        return list(self.loaders)

    def load(self, name: str) -> RawSample:
        if name not in self.loaders:
            raise DataError(f"no scene {name!r} in --data")
        return self.loaders[name]()


def _prepared_sample(dataset: PreparedDataset, index: int, split: str, entry: dict, use_thermal: bool) -> RawSample:
    arrays = dataset.load(index)
    path = dataset.root / entry["file"]
    ref = SampleRef(entry["id"], split, path, path, path, path if use_thermal else None, "prepared")
    return RawSample(ref, arrays["rgb"], arrays["class_map"], arrays["instance_map"].astype("int32"),
                     arrays["thermal"] if use_thermal else None)


def _check_upload_size(path: Path, what: str) -> None:
    if path.stat().st_size > UPLOAD_MAX_BYTES:
        raise DataError(f"{what} {path.name}: {path.stat().st_size / 2**20:.1f} MB; the limit is "
                        f"{UPLOAD_MAX_BYTES // 2**20} MB")
    try:
        with Image.open(path) as image:  # the header only: a huge image is refused before it is decoded
            width, height = image.size
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{what} {path.name}: not an image ({error})") from None
    if max(width, height) > UPLOAD_MAX_SIDE:
        raise DataError(f"{what} {path.name}: {width}x{height}; the limit is {UPLOAD_MAX_SIDE}x{UPLOAD_MAX_SIDE}")


def read_upload(rgb_path: str | Path, labels_path: str | Path, classes: ClassList) -> RawSample:
    """An uploaded RGB image and its class segmentation (the model's palette colours, or class ids); instances
    are the connected components of each class."""
    rgb_path, labels_path = Path(rgb_path), Path(labels_path)
    _check_upload_size(rgb_path, "RGB image")
    _check_upload_size(labels_path, "segmentation")
    rgb = read_rgb(rgb_path)
    class_map = read_class_map(labels_path, classes, PALETTE_TOLERANCE)
    if rgb.shape[:2] != class_map.shape:
        raise DataError(f"the RGB image is {rgb.shape[1]}x{rgb.shape[0]} but the segmentation is "
                        f"{class_map.shape[1]}x{class_map.shape[0]}: they must be the same size")
    scene_id = re.sub(r"[^A-Za-z0-9_.-]", "_", rgb_path.stem)[:80] or "upload"
    ref = SampleRef(scene_id, "upload", rgb_path, labels_path, None, None, "upload")
    return RawSample(ref, rgb, class_map, connected_instances(class_map), None)
