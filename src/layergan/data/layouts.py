"""Which files make a sample, per input layout; detection, listing and reading for every layout.

VOC (ThermalWorld):  <root>/<split>/JPEGImages/<id>.jpg, SegmentationClass/<id>.png,
                     SegmentationObject/<id>.png, ThermalImages/<id>.npy (°C)
ThermalGAN:          <root>/<split>/TV/<id>.png|jpg, IR_32/<id>.npy (°C),
                     LABEL_TEMP/<id>.npy: class ids (H, W), or (H, W, 2) = class id and
                     object temperature; instances are the connected regions of equal values.
MFNet, PST900, folders: public_layouts.py. File decoding: readers.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from layergan.classes import VOID_LABEL
from layergan.data.public_layouts import (FolderSpec, cityscapes_splits, is_cityscapes, is_mfnet, is_pst900_split,
                                          list_cityscapes, list_folders, list_mfnet, list_pst900, mfnet_splits,
                                          read_public_sample)
from layergan.data.readers import (RawSample, Reading, SampleRef, read_array, read_class_map, read_instance_map,
                                   read_rgb, read_thermal)
from layergan.errors import DataError

LAYOUTS = ("voc", "thermalgan", "mfnet", "pst900", "folders")  # what prepare reads
INPUT_LAYOUTS = (*LAYOUTS, "cityscapes")  # what translate reads: Cityscapes has no thermal frames
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LAYOUT_FOLDERS = {
    "voc": ("JPEGImages", "SegmentationClass", "SegmentationObject", "ThermalImages"),
    "thermalgan": ("TV", "LABEL_TEMP", None, "IR_32"),
}

def is_split_folder(path: Path) -> bool:
    """A folder holding a layout's colour folder (JPEGImages/, TV/ or PST900's rgb/ and labels/): one split."""
    path = Path(path)
    return any((path / folders[0]).is_dir() for folders in LAYOUT_FOLDERS.values()) or is_pst900_split(path)


def detect_layout(root: Path, splits: list[str]) -> str:
    if is_mfnet(root):
        return "mfnet"
    if is_cityscapes(root):
        return "cityscapes"
    for split in splits:
        if (root / split / "JPEGImages").is_dir():
            return "voc"
        if (root / split / "TV").is_dir():
            return "thermalgan"
        if is_pst900_split(root / split):
            return "pst900"
    raise DataError(f"{root}: unknown or empty layout; expected <split>/JPEGImages,SegmentationClass,... (VOC), "
                    f"<split>/TV,IR_32,LABEL_TEMP (ThermalGAN), images/,labels/,train.txt (MFNet), "
                    f"<split>/rgb,labels,thermal (PST900) or leftImg8bit/,gtFine/ (Cityscapes) for splits {','.join(splits)}; for other folders pass "
                    "--layout folders with --rgb-dir, --labels-dir and --thermal-dir")


def layout_splits(root: Path, layout: str, folders: FolderSpec | None = None) -> tuple[str, ...]:
    """The splits a source has, without being told: MFNet's lists, Cityscapes' folders, or the split folders
    (any other layout, "auto" included)."""
    if layout == "mfnet":
        return mfnet_splits(root)
    if layout == "cityscapes":
        return cityscapes_splits(root)
    if layout == "folders":
        if folders is None or not folders.has_splits:
            return ("train",)
        return tuple(d.name for d in sorted(root.iterdir()) if d.is_dir() and
                     folders.folder(root, folders.rgb_dir, d.name).is_dir())
    return tuple(d.name for d in sorted(root.iterdir()) if d.is_dir() and is_split_folder(d))


def split_exists(root: Path, split: str, layout: str, folders: FolderSpec | None = None) -> bool:
    if layout == "mfnet":
        return (root / f"{split}.txt").is_file()
    if layout == "cityscapes":
        return (root / "leftImg8bit" / split).is_dir()
    if layout == "folders":
        return folders is not None and folders.folder(root, folders.rgb_dir, split).is_dir()
    return (root / split).is_dir()


def _find(folder: Path, stem: str, suffixes) -> Path | None:
    for suffix in suffixes:
        path = folder / f"{stem}{suffix}"
        if path.exists():
            return path
    return None


def list_samples(root: str | Path, split: str, layout: str, need_thermal: bool = True,
                 folders: FolderSpec | None = None) -> tuple[list[SampleRef], list[tuple[str, str]]]:
    """All samples of a split, sorted by id, and (path, reason) for files that lack a partner."""
    root = Path(root)
    if layout == "mfnet":
        return list_mfnet(root, split, need_thermal)
    if layout == "pst900":
        return list_pst900(root, split, need_thermal)
    if layout == "cityscapes":
        return list_cityscapes(root, split)
    if layout == "folders":
        if folders is None:
            raise DataError("--layout folders needs --rgb-dir and --labels-dir (and --thermal-dir to prepare)")
        return list_folders(root, split, folders, need_thermal)
    rgb_dir, label_dir, inst_dir, thermal_dir = (root / split / f if f else None for f in LAYOUT_FOLDERS[layout])
    if not rgb_dir.is_dir():
        raise DataError(f"{rgb_dir}: folder not found (layout {layout})")
    stems = sorted({p.stem for p in rgb_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES})
    if not stems:
        raise DataError(f"{rgb_dir}: no images found")
    refs, problems = [], []
    label_suffixes = (".npy",) if layout == "thermalgan" else (".png",)
    for stem in stems:
        rgb = _find(rgb_dir, stem, IMAGE_SUFFIXES)
        labels = _find(label_dir, stem, label_suffixes)
        instances = _find(inst_dir, stem, (".png",)) if inst_dir else None
        thermal = _find(thermal_dir, stem, (".npy",))
        if labels is None:
            problems.append((str(rgb), f"missing segmentation {label_dir / stem}{label_suffixes[0]}"))
        elif layout == "voc" and instances is None:
            problems.append((str(rgb), f"missing instance segmentation {inst_dir / stem}.png"))
        elif need_thermal and thermal is None:
            problems.append((str(rgb), f"missing thermal frame {thermal_dir / stem}.npy"))
        else:
            refs.append(SampleRef(stem, split, rgb, labels, instances, thermal, layout))
    return refs, problems

def _thermalgan_labels(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    labels = read_array(path)
    if labels.ndim == 3 and labels.shape[0] == 2 and labels.shape[2] != 2:
        labels = np.moveaxis(labels, 0, 2)
    if labels.ndim == 2:
        class_map, temps = labels, np.zeros(labels.shape, np.float32)
    elif labels.ndim == 3 and labels.shape[2] == 2:
        class_map, temps = labels[..., 0], labels[..., 1]
    else:
        raise DataError(f"{path}: LABEL_TEMP must be (H, W) class ids or (H, W, 2) class id and temperature, "
                        f"got shape {labels.shape}")
    if not np.isfinite(temps).all():
        raise DataError(f"{path}: NaN or inf in the temperature channel")
    class_map = class_map.astype(np.int64)
    bad = ((class_map < 0) | (class_map >= num_classes)) & (class_map != VOID_LABEL)
    if bad.any():
        raise DataError(f"{path}: {int(bad.sum())} pixels have class ids outside 0..{num_classes - 1}")
    # instances: connected regions sharing class and temperature
    _, key = np.unique(class_map * 1_000_003 + np.round(temps * 100).astype(np.int64), return_inverse=True)
    key = key.reshape(class_map.shape)
    instances = np.zeros(class_map.shape, np.int32)
    next_id = 1
    for value in np.unique(key):
        labelled, count = ndimage.label(key == value)
        if class_map[key == value][0] in (0, VOID_LABEL):
            continue  # background and void carry no instance
        instances[labelled > 0] = labelled[labelled > 0] + next_id - 1
        next_id += count
    return class_map.astype(np.uint8), instances


def read_sample(ref: SampleRef, reading: Reading) -> RawSample:
    """One sample in `reading.classes`, its thermal frame converted with `reading.units`."""
    if ref.layout in ("mfnet", "pst900", "folders", "cityscapes"):
        return read_public_sample(ref, reading)
    classes, tolerance = reading.classes, reading.tolerance
    rgb = read_rgb(ref.rgb)
    if ref.layout == "thermalgan":
        class_map, instance_map = _thermalgan_labels(ref.labels, len(classes))
    else:
        class_map = read_class_map(ref.labels, classes, tolerance)
        instance_map = read_instance_map(ref.instances)
    thermal, thermal_dtype = read_thermal(ref.thermal) if ref.thermal is not None else (None, None)
    thermal = reading.units.to_celsius(thermal) if thermal is not None else None
    others = [(ref.labels, class_map.shape), (ref.instances or ref.labels, instance_map.shape)]
    if thermal is not None:
        others.append((ref.thermal, thermal.shape))
    for path, shape in others:
        if shape != rgb.shape[:2]:
            raise DataError(f"{path}: sizes differ: {shape[1]}x{shape[0]} here, "
                            f"{rgb.shape[1]}x{rgb.shape[0]} in the colour image {ref.rgb.name}")
    return RawSample(ref, rgb, class_map, instance_map, thermal, thermal_dtype)
