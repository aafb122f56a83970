"""Readers for the input layouts, with checks whose errors name the file and the problem.

VOC (ThermalWorld):  <root>/<split>/JPEGImages/<id>.jpg, SegmentationClass/<id>.png,
                     SegmentationObject/<id>.png, ThermalImages/<id>.npy (°C)
ThermalGAN:          <root>/<split>/TV/<id>.png|jpg, IR_32/<id>.npy (°C),
                     LABEL_TEMP/<id>.npy: class ids (H, W), or (H, W, 2) = class id and
                     object temperature; instances are the connected regions of equal values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage

from layergan.classes import EDGE_COLOR, VOID_COLOR, VOID_LABEL, ClassList
from layergan.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LAYOUT_FOLDERS = {
    "voc": ("JPEGImages", "SegmentationClass", "SegmentationObject", "ThermalImages"),
    "thermalgan": ("TV", "LABEL_TEMP", None, "IR_32"),
}


@dataclass(frozen=True)
class SampleRef:
    """Where one sample's files are; `thermal` may be None when temperatures are not needed."""

    id: str
    split: str
    rgb: Path
    labels: Path
    instances: Path | None
    thermal: Path | None
    layout: str


@dataclass
class RawSample:
    ref: SampleRef
    rgb: np.ndarray  # (H, W, 3) uint8
    class_map: np.ndarray  # (H, W) uint8, VOID_LABEL = unlabelled
    instance_map: np.ndarray  # (H, W) int32
    thermal: np.ndarray | None  # (H, W) float32 °C
    thermal_dtype: str | None = None  # the dtype the file stored, before conversion to float32


def is_split_folder(path: Path) -> bool:
    """A folder holding a layout's colour folder (JPEGImages/ or TV/): one split of a dataset."""
    return any((Path(path) / folders[0]).is_dir() for folders in LAYOUT_FOLDERS.values())


def detect_layout(root: Path, splits: list[str]) -> str:
    for split in splits:
        if (root / split / "JPEGImages").is_dir():
            return "voc"
        if (root / split / "TV").is_dir():
            return "thermalgan"
    raise DataError(f"{root}: unknown or empty layout; expected <split>/JPEGImages,SegmentationClass,... (VOC) "
                    f"or <split>/TV,IR_32,LABEL_TEMP (ThermalGAN) for splits {','.join(splits)}")


def _find(folder: Path, stem: str, suffixes) -> Path | None:
    for suffix in suffixes:
        path = folder / f"{stem}{suffix}"
        if path.exists():
            return path
    return None


def list_samples(root: str | Path, split: str, layout: str, need_thermal: bool = True) -> tuple[list[SampleRef], list[tuple[str, str]]]:
    """All samples of a split, sorted by id, and (path, reason) for files that lack a partner."""
    root = Path(root)
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


def _open_image(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
        return image
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{path}: corrupt or truncated image ({error})") from None


def read_rgb(path: Path) -> np.ndarray:
    image = _open_image(path)
    if image.mode not in ("RGB", "P"):
        channels = len(image.getbands())
        raise DataError(f"{path}: expected a 3-channel colour image, got mode {image.mode} with {channels} channel(s)")
    return np.asarray(image.convert("RGB"))


def match_palette(colors: np.ndarray, classes: ClassList, tolerance: float) -> np.ndarray:
    """Class index of each (N, 3) colour, VOID_LABEL for void/edge colours, -1 beyond `tolerance`."""
    reference = np.concatenate([classes.palette_array(), [VOID_COLOR, EDGE_COLOR]]).astype(np.float32)
    distance = np.linalg.norm(colors[:, None, :].astype(np.float32) - reference[None], axis=2)
    nearest = distance.argmin(axis=1)
    result = np.where(nearest >= len(classes), VOID_LABEL, nearest)
    return np.where(distance.min(axis=1) <= tolerance, result, -1)


def read_class_map(path: Path, classes: ClassList, tolerance: float) -> np.ndarray:
    """(H, W) uint8 class ids from a palette, grayscale-id or RGB class PNG."""
    image = _open_image(path)
    if image.mode == "L":
        ids = np.asarray(image)
        bad = (ids >= len(classes)) & (ids != VOID_LABEL)
        if bad.any():
            raise DataError(f"{path}: {int(bad.sum())} pixels have class ids {sorted(set(ids[bad].tolist()))[:5]} "
                            f"outside 0..{len(classes) - 1}")
        return ids.astype(np.uint8)
    if image.mode == "P":
        indices = np.asarray(image)
        palette = np.asarray(image.getpalette() or [], dtype=np.uint8).reshape(-1, 3)
        used = np.unique(indices)
        lut = np.full(256, -1, dtype=np.int64)
        colours = palette[np.minimum(used, len(palette) - 1)] if len(palette) else np.zeros((len(used), 3), np.uint8)
        lut[used] = match_palette(colours, classes, tolerance)
        # a VOC-style file whose palette differs from ours: indices are class ids
        if (lut[used] < 0).any() and all(u < len(classes) or u == VOID_LABEL for u in used):
            lut[used] = used
        ids = lut[indices]
    elif image.mode in ("RGB", "RGBA"):
        rgb = np.asarray(image.convert("RGB"))
        packed = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
        uniq, inverse = np.unique(packed.reshape(-1), return_inverse=True)
        colours = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1)
        ids = match_palette(colours, classes, tolerance)[inverse].reshape(packed.shape)
    else:
        raise DataError(f"{path}: class map must be a palette, grayscale or RGB PNG, got mode {image.mode}")
    unknown = ids < 0
    if unknown.any():
        examples = np.unique(np.asarray(image.convert("RGB"))[unknown].reshape(-1, 3), axis=0)[:3].tolist()
        raise DataError(f"{path}: {int(unknown.sum())} pixels have colours beyond the palette tolerance "
                        f"({tolerance}), e.g. {examples}; fix classes.yaml or raise --palette-tolerance")
    return ids.astype(np.uint8)


def read_instance_map(path: Path) -> np.ndarray:
    """(H, W) int32 instance ids from palette/grayscale ids, or RGB (#010101 greys or one colour per instance)."""
    image = _open_image(path)
    if image.mode in ("P", "L", "I", "I;16"):
        return np.asarray(image).astype(np.int32)
    if image.mode in ("RGB", "RGBA"):
        rgb = np.asarray(image.convert("RGB")).astype(np.int32)
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            return rgb[..., 0]
        packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        uniq, inverse = np.unique(packed.reshape(-1), return_inverse=True)
        ids = np.arange(len(uniq)) + (0 if uniq[0] == 0 else 1)  # black stays "no instance"
        return ids[inverse].reshape(packed.shape).astype(np.int32)
    raise DataError(f"{path}: instance map must be a palette, grayscale or RGB PNG, got mode {image.mode}")


def read_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError) as error:
        raise DataError(f"{path}: not a readable .npy array ({error})") from None


def read_thermal(path: Path) -> tuple[np.ndarray, str]:
    """(H, W) float32 °C and the dtype the file stored."""
    frame = read_array(path)
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[..., 0]
    if frame.ndim != 2:
        raise DataError(f"{path}: thermal frame must be 2-D (H, W) in °C, got shape {frame.shape}")
    if not np.issubdtype(frame.dtype, np.number) or np.issubdtype(frame.dtype, np.complexfloating):
        raise DataError(f"{path}: thermal frame must be real numbers, got dtype {frame.dtype}")
    stored = str(frame.dtype)
    frame = frame.astype(np.float32)
    bad = ~np.isfinite(frame)
    if bad.any():
        raise DataError(f"{path}: {int(bad.sum())} NaN or inf temperatures")
    return frame, stored


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


def read_sample(ref: SampleRef, classes: ClassList, tolerance: float = 30.0) -> RawSample:
    rgb = read_rgb(ref.rgb)
    if ref.layout == "thermalgan":
        class_map, instance_map = _thermalgan_labels(ref.labels, len(classes))
    else:
        class_map = read_class_map(ref.labels, classes, tolerance)
        instance_map = read_instance_map(ref.instances)
    thermal, thermal_dtype = read_thermal(ref.thermal) if ref.thermal is not None else (None, None)
    others = [(ref.labels, class_map.shape), (ref.instances or ref.labels, instance_map.shape)]
    if thermal is not None:
        others.append((ref.thermal, thermal.shape))
    for path, shape in others:
        if shape != rgb.shape[:2]:
            raise DataError(f"{path}: sizes differ: {shape[1]}x{shape[0]} here, "
                            f"{rgb.shape[1]}x{rgb.shape[0]} in the colour image {ref.rgb.name}")
    return RawSample(ref, rgb, class_map, instance_map, thermal, thermal_dtype)
