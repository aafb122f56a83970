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
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from layergan.classes import ClassList, VOID_LABEL
from layergan.data.dataset import PreparedDataset
from layergan.data.labels import class_temperatures_from, object_table, paint_segments, segment_keys
from layergan.data.layouts import detect_layout, list_samples, read_sample
from layergan.errors import ConfigError, DataError
from layergan.evaluation.loading import load_generator
from layergan.io import save_npy, save_pil, write_text
from layergan.viz import thermal_to_rgb


def parse_temperatures(spec: str, classes: tuple[str, ...]) -> str | dict[str, float]:
    if spec in ("gt", "auto"):
        return spec
    values = {}
    for part in spec.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in classes:
            raise ConfigError(f"--temperatures: unknown class {name!r}; classes: {', '.join(classes)}")
        try:
            values[name] = float(value)
        except ValueError:
            raise ConfigError(f"--temperatures: {part!r} is not CLASS=°C") from None
        if not np.isfinite(values[name]):
            raise ConfigError(f"--temperatures: {part!r} is not a finite temperature")
    return values


class _InferenceItems(PreparedDataset):
    """The Dataset's tensor construction, applied to in-memory samples (no prepared folder)."""

    def __init__(self, classes: ClassList, size: int, encoding):
        self.classes, self.palette = classes, classes.palette_array()
        self.size, self.encoding, self.augment = size, encoding, False


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
        cls, inst = int(key // 65536), int(key % 65536)
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


def translate(checkpoint: str, input_root: str, out: str, layout: str = "auto", temperatures: str = "auto",
              seed: int = 0, batch_size: int = 8, device: str = "cpu", splits=("train", "test"),
              progress: bool = True, expect_method: str | None = None) -> dict:
    loaded = load_generator(checkpoint, device, expect_method)
    classes = ClassList.from_dict({"classes": loaded.state["classes"]})
    mode = parse_temperatures(temperatures, classes.names)
    root, out = Path(input_root), Path(out)
    if not root.is_dir():
        raise DataError(f"{root}: input folder not found")
    splits = [s for s in splits if (root / s).is_dir()] or list(splits)
    layout = detect_layout(root, splits) if layout == "auto" else layout
    builder = _InferenceItems(classes, loaded.config.size, loaded.encoding)
    stats = loaded.state.get("class_statistics", {})
    written, started = 0, time.perf_counter()
    for split in splits:
        if not (root / split).is_dir():
            continue
        refs, problems = list_samples(root, split, layout, need_thermal=False)
        if problems:
            raise DataError(f"{problems[0][0]}: {problems[0][1]}")
        for start in tqdm(range(0, len(refs), batch_size), desc=f"translate {split}", disable=not progress):
            chunk = [read_sample(r, classes) for r in refs[start:start + batch_size]]
            items = []
            for raw in chunk:
                rng = np.random.default_rng([seed, int(hashlib.sha256(raw.ref.id.encode()).hexdigest()[:8], 16)])
                temps = object_temperatures(raw, mode, stats, classes.names, rng)
                valid = raw.class_map != VOID_LABEL
                r_map = paint_segments(raw.class_map, raw.instance_map, valid, temps,
                                       float(np.mean(list(temps.values()))))
                uniq, counts = np.unique(segment_keys(raw.class_map, raw.instance_map)[valid], return_counts=True)
                pixels = dict(zip(uniq.tolist(), counts.tolist()))
                table = np.array([[i, c, pixels[c * 65536 + i], t, 0, t, t] for (c, i), t in temps.items()],
                                 dtype=np.float64)
                arrays = {"rgb": raw.rgb, "class_map": raw.class_map, "instance_map": raw.instance_map,
                          "thermal": raw.thermal if raw.thermal is not None else r_map, "thermal_segmentation": r_map,
                          "class_temperatures": class_temperatures_from(table, len(classes))}
                items.append(builder.make_item(arrays, None))
            batch = {k: v.to(device) for k, v in torch.utils.data.default_collate(items).items()}
            with torch.no_grad():
                pred = loaded.encoding.decode(loaded.G(batch)["thermal"].float(), batch["r_celsius"])
            for raw, frame in zip(chunk, pred):
                _write(out, split, raw, _restore_size(frame[0], raw.class_map.shape, builder), classes)
                written += 1
    if written == 0:
        raise DataError(f"{root}: no input samples found")
    write_text(out / "classes.yaml", classes.dump_yaml())
    seconds = time.perf_counter() - started
    return {"images": written, "seconds": seconds, "images_per_s": written / max(seconds, 1e-9)}


def _restore_size(frame: torch.Tensor, shape: tuple[int, int], builder) -> np.ndarray:
    """Undo the letterbox: crop the image window and resize it back to the input's size."""
    (h, w), (top, left) = builder.geometry(*shape, None)
    window = frame[max(-top, 0):max(-top, 0) + h, max(-left, 0):max(-left, 0) + w]
    return F.interpolate(window[None, None].cpu(), size=shape, mode="bilinear", align_corners=False)[0, 0].numpy()


def _write(out: Path, split: str, raw, thermal: np.ndarray, classes: ClassList) -> None:
    base = out / split
    sid = raw.ref.id
    save_pil(base / "JPEGImages" / f"{sid}.jpg", Image.fromarray(raw.rgb), quality=95)
    class_png = Image.fromarray(raw.class_map, mode="P")
    class_png.putpalette(classes.pil_palette())
    save_pil(base / "SegmentationClass" / f"{sid}.png", class_png)
    if raw.instance_map.max() < 256:
        save_pil(base / "SegmentationObject" / f"{sid}.png", Image.fromarray(raw.instance_map.astype(np.uint8), "L"))
    else:
        save_pil(base / "SegmentationObject" / f"{sid}.png", Image.fromarray(raw.instance_map.astype(np.uint16)))
    save_npy(base / "ThermalImages" / f"{sid}.npy", thermal.astype(np.float32))
    lo, hi = np.percentile(thermal, [1, 99])
    save_pil(base / "Previews" / f"{sid}.png", Image.fromarray(thermal_to_rgb(thermal, lo, max(hi, lo + 1))))

