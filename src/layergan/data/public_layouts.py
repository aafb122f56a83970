"""The public RGB-thermal datasets with per-pixel labels, and any folders of paired files.

MFNet (Ha et al. 2017):  <root>/images/<id>.png  RGBA 640x480, thermal in the 4th channel
                         <root>/labels/<id>.png  class index
                         <root>/{train,val,test}.txt  the ids of each split
PST900 (Shivakumar et al. 2020):
                         <root>/<split>/{rgb,thermal,thermal_raw,labels}/<id>.png; thermal is 8-bit
                         AGC, thermal_raw 16-bit (preferred when present); labels class index
Cityscapes (Cordts et al. 2016), for translate: leftImg8bit/<split>/<city>/<id>_leftImg8bit.png with
                         gtFine/<split>/<city>/<id>_gtFine_labelIds.png and, when present,
                         <id>_gtFine_instanceIds.png (id // 1000 = class, id % 1000 = instance)
folders:                 --rgb-dir, --thermal-dir and --labels-dir (relative to the root; `{split}` in
                         a path is replaced by the split's name); labels class-index or palette PNGs,
                         the class list from --source-classes

Without instance masks, instances are the connected components of each class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layergan.data.readers import (RawSample, Reading, SampleRef, connected_instances, image_bands, open_image,
                                   read_class_map, read_label_ids, read_rgb, read_thermal)
from layergan.errors import DataError

MFNET_CLASSES = ("unlabeled", "car", "person", "bike", "curve", "car_stop", "guardrail", "color_cone", "bump")
PST900_CLASSES = ("background", "fire_extinguisher", "backpack", "hand_drill", "survivor")
CITYSCAPES_CLASSES = (  # labelIds 0..33
    "unlabeled", "ego vehicle", "rectification border", "out of roi", "static", "dynamic", "ground", "road",
    "sidewalk", "parking", "rail track", "building", "wall", "fence", "guard rail", "bridge", "tunnel", "pole",
    "polegroup", "traffic light", "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "caravan", "trailer", "train", "motorcycle", "bicycle")
# onto the built-in classes; everything else becomes background. --class-map overrides it.
CITYSCAPES_TO_MODEL = {"person": "person", "rider": "person", "car": "car", "truck": "truck", "bus": "bus",
                       "building": "building", "road": "road", "vegetation": "tree"}
SOURCE_CLASSES = {"mfnet": MFNET_CLASSES, "pst900": PST900_CLASSES, "cityscapes": CITYSCAPES_CLASSES}
PST900_FOLDERS = ("rgb", "labels", "thermal")
DEFAULT_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class FolderSpec:
    """The folders layout: where colour images, thermal frames and labels are, relative to the root."""

    rgb_dir: str
    labels_dir: str
    thermal_dir: str | None = None  # None: no thermal frames (translate only)

    def folder(self, root: Path, pattern: str, split: str) -> Path:
        return root / pattern.replace("{split}", split)

    @property
    def has_splits(self) -> bool:
        return "{split}" in self.rgb_dir


def is_mfnet(root: Path) -> bool:
    return (root / "images").is_dir() and (root / "labels").is_dir() and any(root.glob("*.txt"))


def is_cityscapes(root: Path) -> bool:
    return (root / "leftImg8bit").is_dir() and (root / "gtFine").is_dir()


def cityscapes_splits(root: Path) -> tuple[str, ...]:
    return tuple(d.name for d in sorted((root / "leftImg8bit").iterdir()) if d.is_dir())


def list_cityscapes(root: Path, split: str):
    folder = root / "leftImg8bit" / split
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found (layout cityscapes)")
    images = sorted(folder.glob("*/*_leftImg8bit.png"))
    if not images:
        raise DataError(f"{folder}: no <city>/*_leftImg8bit.png images found")
    refs, problems = [], []
    for image in images:
        base = image.name.removesuffix("_leftImg8bit.png")
        labels = root / "gtFine" / split / image.parent.name / f"{base}_gtFine_labelIds.png"
        instances = labels.with_name(f"{base}_gtFine_instanceIds.png")
        if not labels.exists():
            problems.append((str(image), f"missing its label partner {labels}"))
        else:
            refs.append(SampleRef(base, split, image, labels, instances if instances.exists() else None, None,
                                  "cityscapes"))
    return refs, problems


def cityscapes_instances(path: Path, class_map: np.ndarray) -> np.ndarray:
    """Instance ids from *_instanceIds.png: the full id (class * 1000 + k) where it is >= 1000, else none.

    The full id stays unique when two source classes (person, rider) map onto one class.
    """
    ids = np.asarray(open_image(path)).astype(np.int64)
    if ids.shape != class_map.shape:
        raise DataError(f"{path}: sizes differ: {ids.shape[1]}x{ids.shape[0]} here, {class_map.shape[1]}x"
                        f"{class_map.shape[0]} in its labelIds")
    return np.where(ids >= 1000, ids, 0).astype(np.int32)


def is_pst900_split(folder: Path) -> bool:
    return all((folder / name).is_dir() for name in PST900_FOLDERS[:2]) and (
        (folder / "thermal").is_dir() or (folder / "thermal_raw").is_dir())


def mfnet_splits(root: Path) -> tuple[str, ...]:
    names = sorted(p.stem for p in root.glob("*.txt"))
    return tuple(sorted(names, key=lambda n: (DEFAULT_SPLITS.index(n) if n in DEFAULT_SPLITS else 3, n)))


def _pairs(ids, split, layout, rgb_of, labels_of, thermal_of, need_thermal):
    refs, problems = [], []
    for sample_id in ids:
        rgb, labels, thermal = rgb_of(sample_id), labels_of(sample_id), thermal_of(sample_id)
        if rgb is None or not rgb.exists():
            problems.append((str(rgb), f"missing colour image for id {sample_id}"))
        elif not labels.exists():
            problems.append((str(rgb), f"missing labels {labels}"))
        elif need_thermal and (thermal is None or not thermal.exists()):
            problems.append((str(rgb), f"missing thermal frame {thermal}"))
        else:
            refs.append(SampleRef(sample_id, split, rgb, labels, None, thermal, layout))
    return refs, problems


def list_mfnet(root: Path, split: str, need_thermal: bool):
    listing = root / f"{split}.txt"
    if not listing.is_file():
        raise DataError(f"{listing}: split list not found; MFNet lists the ids of each split in "
                        f"{', '.join(s + '.txt' for s in DEFAULT_SPLITS)}")
    ids = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    if not ids:
        raise DataError(f"{listing}: no ids listed")
    image = lambda i: root / "images" / f"{i}.png"  # noqa: E731
    return _pairs(ids, split, "mfnet", image, lambda i: root / "labels" / f"{i}.png", image, need_thermal)


def list_pst900(root: Path, split: str, need_thermal: bool):
    folder = root / split
    if not (folder / "rgb").is_dir():
        raise DataError(f"{folder / 'rgb'}: folder not found (layout pst900)")
    ids = sorted(p.stem for p in (folder / "rgb").glob("*.png"))
    if not ids:
        raise DataError(f"{folder / 'rgb'}: no images found")

    def thermal(i):  # the 16-bit frame where there is one, else the 8-bit AGC image
        raw = folder / "thermal_raw" / f"{i}.png"
        return raw if raw.exists() else folder / "thermal" / f"{i}.png"

    return _pairs(ids, split, "pst900", lambda i: folder / "rgb" / f"{i}.png",
                  lambda i: folder / "labels" / f"{i}.png", thermal, need_thermal)


def list_folders(root: Path, split: str, spec: FolderSpec, need_thermal: bool):
    rgb_dir = spec.folder(root, spec.rgb_dir, split)
    if not rgb_dir.is_dir():
        raise DataError(f"{rgb_dir}: --rgb-dir folder not found")
    stems = sorted(p.stem for p in rgb_dir.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not stems:
        raise DataError(f"{rgb_dir}: no images found")
    labels_dir = spec.folder(root, spec.labels_dir, split)
    thermal_dir = spec.folder(root, spec.thermal_dir, split) if spec.thermal_dir else None

    def first(folder: Path | None, stem: str, suffixes) -> Path | None:
        if folder is None:
            return None
        found = [folder / f"{stem}{s}" for s in suffixes if (folder / f"{stem}{s}").exists()]
        return found[0] if found else folder / f"{stem}{suffixes[0]}"

    return _pairs(stems, split, "folders",
                  lambda i: first(rgb_dir, i, (".png", ".jpg", ".jpeg")),
                  lambda i: first(labels_dir, i, (".png",)),
                  lambda i: first(thermal_dir, i, (".png", ".tif", ".tiff", ".npy")), need_thermal)


def _labels(path: Path, reading: Reading):
    """Class map in the output classes, and pixels per source id that the mapping sent to background."""
    names = reading.mapping.source_names if reading.mapping else reading.classes.names
    if image_bands(path)[0] in ("RGB", "RGBA"):  # palette colours; otherwise class indices
        if reading.source is None:
            raise DataError(f"{path}: RGB class labels need the classes' colours (--source-classes YAML)")
        ids = read_class_map(path, reading.source, reading.tolerance)
    else:
        ids = read_label_ids(path, names)
    if reading.mapping is None:
        return ids, None
    return reading.mapping.apply(ids)


def read_public_sample(ref: SampleRef, reading: Reading) -> RawSample:
    """One MFNet, PST900, Cityscapes or folders sample, thermal converted with `reading.units`."""
    thermal, dtype = None, None
    if ref.layout == "mfnet":
        mode, bands = image_bands(ref.rgb)
        if bands != 4:
            raise DataError(f"{ref.rgb}: MFNet images are RGBA with the thermal frame in the 4th channel; this one "
                            f"has {bands} channel(s) (mode {mode})")
        rgba = np.asarray(open_image(ref.rgb))
        rgb = np.ascontiguousarray(rgba[..., :3])
        if ref.thermal is not None:
            frame = rgba[..., 3]
            thermal, dtype = reading.units.to_celsius(frame), str(frame.dtype)
    else:
        rgb = read_rgb(ref.rgb)
        if ref.thermal is not None:
            frame, dtype = read_thermal(ref.thermal)
            if ref.layout == "pst900" and ref.thermal.parent.name == "thermal_raw" and frame.dtype.itemsize < 2:
                raise DataError(f"{ref.thermal}: thermal_raw holds 16-bit frames, this one is {frame.dtype}; an "
                                "8-bit AGC image belongs in thermal/")
            thermal = reading.units.to_celsius(frame)
    class_map, remapped = _labels(ref.labels, reading)
    for path, shape in ((ref.labels, class_map.shape), (ref.thermal, None if thermal is None else thermal.shape)):
        if shape is not None and shape != rgb.shape[:2]:
            raise DataError(f"{path}: sizes differ: {shape[1]}x{shape[0]} here, {rgb.shape[1]}x{rgb.shape[0]} in "
                            f"the colour image {ref.rgb.name}")
    if ref.instances is not None:
        instances = cityscapes_instances(ref.instances, class_map)
    else:
        instances = connected_instances(class_map)
    return RawSample(ref, rgb, class_map, instances, thermal, dtype, remapped)
