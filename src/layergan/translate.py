"""`layergan translate`: synthesize thermal frames for new RGB + segmentation at chosen temperatures.

Object temperatures (which the conditional methods take as R and T) come from
  gt:    the thermal frame, where the input has one;
  auto:  sampled per object from the training set's per-class statistics (in the checkpoint);
  "car=25,person=34.5": fixed per class; other classes use gt if present, else auto.
The output is a ThermalWorld VOC folder that `layergan prepare` accepts.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from layergan.classes import VOID_LABEL
from layergan.data.batch import collate
from layergan.data.dataset import ItemBuilder
from layergan.data.encoding import check_temperatures
from layergan.data.labels import SEGMENT_STRIDE, object_table, objects_for_temperatures, segment_keys
from layergan.data.layouts import detect_layout, is_split_folder, list_samples, read_sample
from layergan.data.reading import make_reading
from layergan.data.voc import write_voc_sample
from layergan.errors import ConfigError, DataError
from layergan.io import check_separate, save_pil, write_text
from layergan.models.pretrained import load_generator, predict_celsius
from layergan.viz import thermal_to_rgb


def parse_temperatures(spec: str, classes: tuple[str, ...], allow_extreme: bool = False) -> str | dict[str, float]:
    if spec in ("gt", "auto"):
        return spec
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
    keys = np.unique(segment_keys(raw.class_map, raw.instance_map)[valid])
    gt = {}
    if raw.thermal is not None:
        table, _ = object_table(raw.class_map, raw.instance_map, raw.thermal, valid)
        gt = {(int(r[1]), int(r[0])): float(r[3]) for r in table}
    if mode == "gt" and raw.thermal is None:
        raise DataError(f"{raw.ref.rgb}: --temperatures gt needs a thermal frame; use auto or CLASS=°C")
    out = {}
    for key in keys:
        cls, inst = int(key // SEGMENT_STRIDE), int(key % SEGMENT_STRIDE)
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


def input_splits(root: Path, splits) -> tuple[Path, list[str]]:
    """(dataset root, splits to read). `root` may be a dataset root or one split folder itself."""
    if is_split_folder(root):
        return root.parent, [root.name]
    return root, [s for s in splits if (root / s).is_dir()] or list(splits)


def translate(checkpoint: str, input_root: str, out: str, layout: str = "auto", temperatures: str | None = None,
              seed: int = 0, batch_size: int = 8, device: str = "cpu", splits=("train", "test"),
              progress: bool = True, expect_method: str | None = None, allow_extreme: bool = False,
              warn=print) -> dict:
    """Translate every sample of `input_root`; `temperatures` None means auto (or none, for the baselines)."""
    root, out = Path(input_root), Path(out)
    if not root.is_dir():
        raise DataError(f"{root}: input folder not found")
    check_separate(out, root, "--out", "--input")
    loaded = load_generator(checkpoint, device, expect_method, warn=warn)
    classes = loaded.classes
    if temperatures is not None and not loaded.spec.get("takes_temperatures", True):
        raise ConfigError(f"--temperatures: a {loaded.method} checkpoint takes no temperatures (it sees only the "
                          "colour image and segmentation), so they cannot be set; leave the option out, or use a "
                          "layergan or seg2thermal checkpoint")
    mode = parse_temperatures(temperatures or "auto", classes.names, allow_extreme)
    root, splits = input_splits(root, splits)
    layout = detect_layout(root, splits) if layout == "auto" else layout
    reading = make_reading(layout, root, classes)
    builder = ItemBuilder(classes, loaded.size, loaded.encoding)
    stats = loaded.spec.get("class_statistics", {})
    written, started = 0, time.perf_counter()
    for split in splits:
        if not (root / split).is_dir():
            continue
        refs, problems = list_samples(root, split, layout, need_thermal=False)
        if problems:
            raise DataError(f"{problems[0][0]}: {problems[0][1]}")
        for start in tqdm(range(0, len(refs), batch_size), desc=f"translate {split}", disable=not progress):
            chunk = [read_sample(r, reading) for r in refs[start:start + batch_size]]
            items = []
            for raw in chunk:
                if raw.thermal is not None:
                    check_temperatures(float(raw.thermal.min()), float(raw.thermal.max()), str(raw.ref.thermal),
                                       allow_extreme)
                rng = np.random.default_rng([seed, int(hashlib.sha256(raw.ref.id.encode()).hexdigest()[:8], 16)])
                temps = object_temperatures(raw, mode, stats, classes.names, rng)
                objects, class_temps = objects_for_temperatures(raw.class_map, raw.instance_map, temps,
                                                                len(classes))
                thermal = raw.thermal if raw.thermal is not None else np.zeros(raw.class_map.shape, np.float32)
                arrays = {"rgb": raw.rgb, "class_map": raw.class_map, "instance_map": raw.instance_map,
                          "thermal": thermal, "objects": objects, "class_temperatures": class_temps}
                items.append(builder.make_item(arrays, None))
            pred = predict_celsius(loaded.G, collate(items, device), loaded.encoding, masked=False)
            for raw, frame in zip(chunk, pred):
                _write(out, split, raw, builder.restore_size(frame[0], raw.class_map.shape), classes)
                written += 1
    if written == 0:
        raise DataError(f"{root}: no input samples found")
    write_text(out / "classes.yaml", classes.dump_yaml())
    seconds = time.perf_counter() - started
    return {"images": written, "seconds": seconds, "images_per_s": written / max(seconds, 1e-9)}


def _write(out: Path, split: str, raw, thermal: np.ndarray, classes) -> None:
    write_voc_sample(out, split, raw.ref.id, raw.rgb, raw.class_map, raw.instance_map, thermal, classes,
                     jpeg_quality=95)
    lo, hi = np.percentile(thermal, [1, 99])
    save_pil(out / split / "Previews" / f"{raw.ref.id}.png",
             Image.fromarray(thermal_to_rgb(thermal, lo, max(hi, lo + 1))))
