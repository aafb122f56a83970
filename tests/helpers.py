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


def index_scene(h=24, w=40, seed=0):
    """Class-index labels (MFNet ids: 0 unlabeled, 1 car, 2 person, 3 bike) with 16-bit counts: two cars."""
    labels = np.zeros((h, w), np.uint8)
    labels[3:9, 4:14] = 1
    labels[14:20, 4:14] = 1  # a second car, not touching the first
    labels[10:20, 25:30] = 2
    labels[0:3, 30:38] = 3
    rng = np.random.default_rng(seed)
    counts = rng.normal(7500, 20, (h, w))
    counts[labels == 1] += 600
    counts[labels == 2] += 900
    return labels, np.round(counts).astype(np.uint16)


def write_mfnet(root: Path, splits=(("train", ("a", "b")), ("test", ("c",)))):
    """MFNet: images/<id>.png RGBA with 8-bit thermal in channel 4, labels/<id>.png, <split>.txt."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for split, ids in splits:
        (root / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for i, sample_id in enumerate(ids):
            labels, counts = index_scene(seed=i)
            rgba = np.dstack([np.full(labels.shape + (3,), 90, np.uint8), (counts // 64 % 256).astype(np.uint8)])
            Image.fromarray(rgba).save(root / "images" / f"{sample_id}.png")
            Image.fromarray(labels).save(root / "labels" / f"{sample_id}.png")


def write_pst900(root: Path, split="train", ids=("a", "b"), raw=True):
    """PST900: <split>/{rgb,labels,thermal,thermal_raw}/<id>.png; thermal_raw 16-bit."""
    base = root / split
    for sub in ("rgb", "labels", "thermal", "thermal_raw"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for i, sample_id in enumerate(ids):
        labels, counts = index_scene(seed=i)
        labels = np.minimum(labels, 4)
        Image.fromarray(np.full(labels.shape + (3,), 90, np.uint8)).save(base / "rgb" / f"{sample_id}.png")
        Image.fromarray(labels).save(base / "labels" / f"{sample_id}.png")
        Image.fromarray((counts // 64 % 256).astype(np.uint8)).save(base / "thermal" / f"{sample_id}.png")
        if raw:
            Image.fromarray(counts).save(base / "thermal_raw" / f"{sample_id}.png")


CITYSCAPES_IDS = {"road": 7, "building": 11, "vegetation": 21, "sky": 23, "person": 24, "rider": 25, "car": 26}


def write_cityscapes(root: Path, split="val", city="aachen", ids=("aachen_000000_000019", "aachen_000001_000019"),
                     instances=True, h=40, w=64):
    """leftImg8bit/<split>/<city>/<id>_leftImg8bit.png, gtFine/.../<id>_gtFine_labelIds.png and instanceIds."""
    (root / "leftImg8bit" / split / city).mkdir(parents=True, exist_ok=True)
    (root / "gtFine" / split / city).mkdir(parents=True, exist_ok=True)
    labels = np.full((h, w), CITYSCAPES_IDS["road"], np.uint8)
    labels[:10] = CITYSCAPES_IDS["sky"]
    labels[10:18, :20] = CITYSCAPES_IDS["building"]
    labels[10:18, 40:] = CITYSCAPES_IDS["vegetation"]
    labels[20:34, 5:10] = CITYSCAPES_IDS["person"]
    labels[20:34, 12:17] = CITYSCAPES_IDS["rider"]
    labels[24:34, 30:50] = CITYSCAPES_IDS["car"]
    instance_ids = labels.astype(np.int32)
    for name, k in (("person", 0), ("rider", 0), ("car", 0)):
        instance_ids[labels == CITYSCAPES_IDS[name]] = CITYSCAPES_IDS[name] * 1000 + k
    for sample_id in ids:
        Image.fromarray(np.full((h, w, 3), 70, np.uint8)).save(
            root / "leftImg8bit" / split / city / f"{sample_id}_leftImg8bit.png")
        Image.fromarray(labels).save(root / "gtFine" / split / city / f"{sample_id}_gtFine_labelIds.png")
        if instances:
            Image.fromarray(instance_ids.astype(np.uint16)).save(root / "gtFine" / split / city / f"{sample_id}_gtFine_instanceIds.png")
    return labels
