"""`layergan translate`: synthesize thermal frames for new RGB + segmentation at chosen temperatures.

Object temperatures (which the conditional methods take as R and T) come from
  gt:    the thermal frame, where the input has one;
  auto:  sampled per object from the training set's per-class statistics (in the checkpoint);
  "car=25,person=34.5": fixed per class; other classes use gt if present, else auto;
  FILE.json: a studio export (translate/render.py): only its scene, exactly as the studio rendered it.
The output is a ThermalWorld VOC folder that `layergan prepare` accepts, with the thermal frames in the
formats of translate/camera.py (float °C .npy by default, 16-bit radiometric TIFF, 8-bit AGC PNG, previews).
"""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from layergan.classes import VOID_LABEL
from layergan.data.dataset import ItemBuilder
from layergan.data.encoding import check_temperatures
from layergan.data.labels import object_table, segment_pixels
from layergan.data.layouts import detect_layout, is_split_folder, layout_splits, list_samples, read_sample, split_exists
from layergan.data.public_layouts import FolderSpec
from layergan.data.reading import make_reading
from layergan.data.thermal_units import ThermalUnits
from layergan.data.voc import write_voc_sample
from layergan.errors import ConfigError, DataError
from layergan.io import check_separate, write_text
from layergan.models.pretrained import load_generator
from layergan.translate.camera import SensorModel, output_paths, write_thermal
from layergan.translate.render import StudioScene, read_studio_file, render_batch, render_edit


def parse_temperatures(spec: str, classes: tuple[str, ...], allow_extreme: bool = False,
                       unit: str = "°C") -> str | dict[str, float] | StudioScene:
    if spec in ("gt", "auto"):
        return spec
    if spec.lower().endswith(".json"):
        return read_studio_file(spec, classes, unit)
    values = {}
    for part in spec.split(","):
        name, equals, value = part.partition("=")
        name = name.strip()
        if not equals:
            raise ConfigError(f"--temperatures: {part!r} is not CLASS=°C (for example car=25,person=34.5), "
                              "gt or auto")
        if name not in classes:
            raise ConfigError(f"--temperatures: unknown class {name!r}; classes: {', '.join(classes)}")
        try:
            values[name] = float(value)
        except ValueError:
            raise ConfigError(f"--temperatures: {part!r} is not CLASS=°C") from None
        if not np.isfinite(values[name]):
            raise ConfigError(f"--temperatures: {part!r} is not a finite temperature")
        check_temperatures(values[name], values[name], f"--temperatures {part.strip()}", allow_extreme)
    return values


def object_temperatures(raw, mode, stats: dict, class_names, rng) -> dict[tuple[int, int], float]:
    """Mean °C of every segment (class, instance) present in the sample."""
    valid = raw.class_map != VOID_LABEL
    gt = {}
    if raw.thermal is not None:
        table, _ = object_table(raw.class_map, raw.instance_map, raw.thermal, valid)
        gt = {(int(r[1]), int(r[0])): float(r[3]) for r in table}
    if mode == "gt" and raw.thermal is None:
        raise DataError(f"{raw.ref.rgb}: --temperatures gt needs a thermal frame; use auto or CLASS=°C")
    out = {}
    for cls, inst in segment_pixels(raw.class_map, raw.instance_map):
        name = class_names[cls]
        if isinstance(mode, dict) and name in mode:
            out[(cls, inst)] = mode[name]
        elif mode != "auto" and (cls, inst) in gt:
            out[(cls, inst)] = gt[(cls, inst)]
        else:
            s = stats.get(name) or {}
            if s.get("mean") is None:
                raise DataError(f"{raw.ref.rgb}: no training statistics for class {name!r}; give it explicitly")
            value = rng.normal(s["mean"], s["std"] or 0.0)
            out[(cls, inst)] = float(np.clip(value, s["min"], s["max"]))
    return out


def input_splits(root: Path, splits, layout: str, folders: FolderSpec | None) -> tuple[Path, list[str]]:
    """(dataset root, splits to read). `root` may be a dataset root or one split folder itself."""
    if layout in ("auto", "voc", "thermalgan", "pst900") and is_split_folder(root):
        return root.parent, [root.name]
    if layout == "auto":
        layout = detect_layout(root, list(splits))
    present = [s for s in splits if split_exists(root, s, layout, folders)]
    return root, present or list(layout_splits(root, layout, folders)) or list(splits)


def shard() -> tuple[int, int]:
    """(rank, world size) under torchrun, else (0, 1): each rank translates every world-th image."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def say_class_coverage(reading, classes, warn) -> None:
    """Once per run, not per image: which input classes the model lacks, and which model classes never occur."""
    mapping = reading.mapping
    if mapping is None:
        return
    lost = [mapping.source_names[i] for i in mapping.unmapped if mapping.source_names[i] not in ("unlabeled",)]
    if lost:
        warn(f"note: the model has no class for {', '.join(lost)}: painted as {classes.names[0]}")
    reached = set(int(v) for i, v in enumerate(mapping.lookup[:len(mapping.source_names)]) if i not in mapping.unmapped)
    unused = [name for k, name in enumerate(classes.names) if k and k not in reached]
    if unused:
        warn(f"note: the input never labels the model's classes {', '.join(unused)}")


def translate(checkpoint: str, input_root: str, out: str, layout: str = "auto", temperatures: str | None = None,
              seed: int = 0, batch_size: int = 8, device: str = "cpu", splits=("train", "val", "test"),
              progress: bool = True, expect_method: str | None = None, allow_extreme: bool = False,
              warn=print, formats: tuple[str, ...] = ("npy", "preview"), sensor: SensorModel | None = None,
              class_map: str | Path | None = None, source_classes=None, folders: FolderSpec | None = None,
              workers: int = 1, input_units: ThermalUnits | None = None) -> dict:
    """Translate every sample of `input_root`; `temperatures` None means auto (or none, for the baselines).

    Streams in batches (memory stays flat), skips images whose outputs all exist (resume), and under
    torchrun translates this rank's share only.
    """
    root, out = Path(input_root), Path(out)
    if not root.is_dir():
        raise DataError(f"{root}: input folder not found")
    check_separate(out, root, "--out", "--input")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1 (got {workers})")
    loaded = load_generator(checkpoint, device, expect_method, warn=warn)
    classes, units = loaded.classes, loaded.units
    if "tiff16" in formats and not units.calibrated:
        raise ConfigError("--format tiff16 writes centikelvin, but this model learned uncalibrated units (prepared "
                          "without --calibration); write npy, png8 or preview, or prepare with --calibration")
    if temperatures is not None and not loaded.spec.get("takes_temperatures", True):
        raise ConfigError(f"--temperatures: a {loaded.method} checkpoint takes no temperatures (it sees only the "
                          "colour image and segmentation), so they cannot be set; leave the option out, or use a "
                          "layergan or seg2thermal checkpoint")
    extreme = allow_extreme or not units.calibrated  # the °C plausibility check means nothing for raw units
    mode = parse_temperatures(temperatures or "auto", classes.names, extreme, units.symbol)
    root, splits = input_splits(root, splits, layout, folders)
    layout = detect_layout(root, splits) if layout == "auto" else layout
    reading = make_reading(layout, root, classes, class_map, source_classes, input_units)
    say_class_coverage(reading, classes, warn)
    use_thermal = reading.units.symbol == units.symbol
    if not use_thermal:
        warn(f"note: the input's thermal frames are {reading.units.kind} and the model's are {units.symbol}: they "
             "are not read, so --temperatures gt is not available")
    builder = ItemBuilder(classes, loaded.size, loaded.encoding)
    stats = loaded.spec.get("class_statistics", {})
    rank, world = shard()
    written, skipped, started = 0, 0, time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for split in splits:
            if not split_exists(root, split, layout, folders):
                continue
            refs, problems = list_samples(root, split, layout, need_thermal=False, folders=folders)
            if problems:
                raise DataError(f"{problems[0][0]}: {problems[0][1]}")
            mine = refs[rank::world] if use_thermal else [replace(r, thermal=None) for r in refs[rank::world]]
            if isinstance(mode, StudioScene):  # a studio export names one scene
                mine = [r for r in mine if r.id == mode.scene and mode.split in (None, split)]
            todo = [r for r in mine if not all(p.exists() for p in finished_paths(out, split, r.id, formats))]
            skipped += len(mine) - len(todo)
            for start in tqdm(range(0, len(todo), batch_size), desc=f"translate {split}", disable=not progress):
                chunk = list(pool.map(lambda r: read_sample(r, reading), todo[start:start + batch_size]))
                if isinstance(mode, StudioScene):
                    frames = [render_edit(loaded, builder, raw, *_studio_temperatures(raw, mode, temperatures, extreme),
                                          device) for raw in chunk]
                else:
                    temps = [_temperatures(raw, mode, stats, classes, seed, extreme) for raw in chunk]
                    frames = render_batch(loaded, builder, chunk, temps, device)
                list(pool.map(lambda job: _write(out, split, *job, classes, formats, sensor, seed, units.symbol),
                              zip(chunk, frames)))
                written += len(chunk)
    if written + skipped == 0:
        if isinstance(mode, StudioScene):
            raise DataError(f"{root}: no sample {mode.scene!r}" + (f" in split {mode.split}" if mode.split else "")
                            + f", the scene of {temperatures}")
        raise DataError(f"{root}: no input samples found")
    if skipped:
        warn(f"skipped {skipped} images whose outputs already exist in {out}")
    write_text(out / "classes.yaml", classes.dump_yaml())
    seconds = time.perf_counter() - started
    return {"images": written, "skipped": skipped, "seconds": seconds,
            "images_per_s": written / max(seconds, 1e-9), "rank": rank, "world_size": world}


def image_rng(seed: int, sample_id: str, *stream: int) -> np.random.Generator:
    """Per image, independent of the order and sharding: auto temperatures (no stream), sensor noise (stream 1)."""
    return np.random.default_rng([seed, int(hashlib.sha256(sample_id.encode()).hexdigest()[:8], 16), *stream])


def _temperatures(raw, mode, stats, classes, seed, allow_extreme) -> dict[tuple[int, int], float]:
    if raw.thermal is not None:
        check_temperatures(float(raw.thermal.min()), float(raw.thermal.max()), str(raw.ref.thermal), allow_extreme)
    return object_temperatures(raw, mode, stats, classes.names, image_rng(seed, raw.ref.id))


def _studio_temperatures(raw, studio: StudioScene, source: str, allow_extreme: bool):
    """(base, edited) temperatures of a studio export, which must name exactly the objects of the scene."""
    present = set(segment_pixels(raw.class_map, raw.instance_map))
    for field, values in (("base", studio.base), ("temperatures", studio.temperatures)):
        if set(values) != present:
            missing, extra = sorted(present - set(values)), sorted(set(values) - present)
            raise DataError(f"{source}: its {field} do not fit {raw.ref.labels}: objects (class, instance) "
                            f"missing {missing[:5]}, unknown {extra[:5]}")
        check_temperatures(min(values.values()), max(values.values()), f"{source} ({field})", allow_extreme)
    return studio.base, studio.temperatures


def finished_paths(out: Path, split: str, sample_id: str, formats) -> list[Path]:
    """The files of a translated image: the VOC colour and segmentation files, then the thermal formats."""
    base = out / split
    voc = [base / "JPEGImages" / f"{sample_id}.jpg", base / "SegmentationClass" / f"{sample_id}.png",
           base / "SegmentationObject" / f"{sample_id}.png"]
    return voc + output_paths(out, split, sample_id, formats)


def _write(out: Path, split: str, raw, thermal: np.ndarray, classes, formats, sensor, seed, unit) -> None:
    """The colour and segmentation files first and the thermal formats last: resume checks them all."""
    rgb, class_map, instance_map = raw.rgb, raw.class_map, raw.instance_map
    if sensor is not None:
        thermal = sensor.apply(thermal, image_rng(seed, raw.ref.id, 1))
        if thermal.shape != class_map.shape:  # the camera's size: resample the inputs with it
            size = (thermal.shape[1], thermal.shape[0])
            rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
            class_map = np.asarray(Image.fromarray(class_map).resize(size, Image.NEAREST))
            instance_map = np.asarray(Image.fromarray(instance_map.astype(np.int32)).resize(size, Image.NEAREST))
    write_voc_sample(out, split, raw.ref.id, rgb, class_map, instance_map, None, classes, jpeg_quality=95)
    write_thermal(out, split, raw.ref.id, thermal, formats, unit)
