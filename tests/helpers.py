"""Builders of tiny hand-made raw datasets."""

from pathlib import Path

import numpy as np
from PIL import Image

from layergan.classes import default_classes
from layergan.data import voc
from layergan.data.voc import VOC_FOLDERS

CLASSES = default_classes()


def write_voc_sample(root: Path, split: str, name: str, class_map, instance_map, thermal, rgb=None,
                     class_mode="P"):
    """One sample through the project's VOC writer (lossless PNG colour); class_mode "RGB" re-saves the
    class map as plain colours, as some datasets ship it."""
    base = Path(root) / split
    for sub in VOC_FOLDERS:
        (base / sub).mkdir(parents=True, exist_ok=True)
    h, w = class_map.shape
    rgb = rgb if rgb is not None else np.full((h, w, 3), 100, np.uint8)
    voc.write_voc_sample(root, split, name, rgb, class_map, instance_map, thermal, CLASSES, rgb_suffix=".png")
    if class_mode != "P":
        Image.fromarray(CLASSES.palette_array()[class_map]).save(base / "SegmentationClass" / f"{name}.png")


def two_object_scene(h=24, w=40):
    """Background road (class 7) with a car (class 2, id 1) and a person (class 1, id 2)."""
    cls = np.full((h, w), 7, np.uint8)
    inst = np.zeros((h, w), np.uint8)
    cls[4:12, 5:20], inst[4:12, 5:20] = 2, 1
    cls[10:20, 25:30], inst[10:20, 25:30] = 1, 2
    rng = np.random.default_rng(0)
    thermal = rng.normal(10, 1, (h, w)).astype(np.float32)
    thermal[inst == 1] += 15
    thermal[inst == 2] += 22
    return cls, inst, thermal
