"""translate over Cityscapes-layout inputs at 256 px: images/s and peak RSS for 250, 500 and 1,000 images.

The inputs are embedded scenes relabelled with Cityscapes labelIds and instanceIds (person 24, car 26, truck 27,
bus 28, caravan 29 for minibus, building 11, road 7, vegetation 21, sky 23 for background) at 1024x512, half
Cityscapes' resolution. The model is a layergan generator with the CPU profile's widths at 256 px, trained one
step: the figures measure the streaming pipeline (read, map, letterbox, forward, restore, write), not a
converged model. Peak RSS should not grow with the number of images. Writes benchmarks/results/translate.json.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import run_measured, save_result
from layergan.classes import default_classes
from layergan.methods.config import merge
from layergan.pipeline import PROFILES, run_config

QUICK = {"counts": (8, 16), "scene_size": "256x128"}
TO_CITYSCAPES = {"background": 23, "person": 24, "car": 26, "minibus": 29, "bus": 28, "truck": 27, "building": 11,
                 "road": 7, "tree": 21}


def to_cityscapes(raw: Path, root: Path, split: str = "val", city: str = "bench") -> int:
    """The embedded VOC scenes as leftImg8bit/gtFine files (labelIds and instanceIds)."""
    classes = default_classes()
    lut = np.full(256, 0, np.uint8)
    for name, label in TO_CITYSCAPES.items():
        lut[classes.index(name)] = label
    images, labels = root / "leftImg8bit" / split / city, root / "gtFine" / split / city
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    count = 0
    for jpeg in sorted((raw / "train" / "JPEGImages").glob("*.jpg")):
        stem = f"{city}_{count:06d}_000019"
        Image.open(jpeg).convert("RGB").save(images / f"{stem}_leftImg8bit.png", compress_level=1)
        class_ids = lut[np.asarray(Image.open(raw / "train" / "SegmentationClass" / f"{jpeg.stem}.png"))]
        instances = np.asarray(Image.open(raw / "train" / "SegmentationObject" / f"{jpeg.stem}.png")).astype(np.int32)
        ids = np.where(instances > 0, class_ids.astype(np.int32) * 1000 + instances, class_ids)
        Image.fromarray(class_ids).save(labels / f"{stem}_gtFine_labelIds.png")
        Image.fromarray(ids.astype(np.uint16)).save(labels / f"{stem}_gtFine_instanceIds.png")
        count += 1
    return count


def subset(root: Path, target: Path, count: int) -> None:
    """The first `count` images and their labels, linked, not copied."""
    for sub in ("leftImg8bit", "gtFine"):
        for folder in sorted((root / sub).glob("*/*")):
            out = target / folder.relative_to(root)
            out.mkdir(parents=True)
            names = sorted(folder.iterdir())
            keep = {n.name.split("_leftImg8bit")[0].split("_gtFine")[0] for n in names}
            keep = sorted(keep)[:count]
            for path in names:
                if path.name.split("_leftImg8bit")[0].split("_gtFine")[0] in keep:
                    (out / path.name).symlink_to(path)


def run(counts: tuple[int, ...] = (250, 500, 1000), scene_size: str = "1024x512", size: int = 256) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_measured(["layergan", "synth-data", "--out", str(root / "raw"), "--train", str(max(counts)), "--test",
                      "2", "--size", scene_size, "--workers", "2", "--quiet"])
        to_cityscapes(root / "raw", root / "cityscapes")
        run_measured(["layergan", "prepare", "--src", str(root / "raw"), "--out", str(root / "prepared"),
                      "--workers", "2", "--quiet"])
        config = merge(run_config("layergan", root / "prepared", root / "run", PROFILES["smoke"], 0),
                       {"size": size, "steps": 1, "batch": 2, "checkpoint_every": 1}, "translate-benchmark")
        (root / "run.yaml").write_text(config.to_yaml())
        run_measured(["layergan", "train", "--config", str(root / "run.yaml"), "--quiet"])
        rows = []
        for count in counts:
            inputs = root / f"cityscapes-{count}"
            subset(root / "cityscapes", inputs, count)
            measured = run_measured(["layergan", "translate", "--checkpoint", str(root / "run"), "--input",
                                     str(inputs), "--out", str(root / f"out-{count}"), "--format", "tiff16,png8",
                                     "--batch", "8", "--workers", "2", "--device", "cpu", "--quiet"])
            rows.append({"images": count, "seconds": measured["seconds"],
                         "images_per_s": round(count / measured["seconds"], 1),
                         "peak_rss_mib": measured.get("peak_rss_mib_largest_process"),
                         "command": measured["command"]})
    result = {"input_size": scene_size, "size": size, "rows": rows,
              "target": "peak RSS flat from 250 to 1,000 images (translate streams)"}
    save_result("translate", result)
    return result
