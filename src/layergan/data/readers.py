"""Decoders for the files a sample is made of, with checks whose errors name the file and the problem.

Nothing here knows a dataset's folder layout (layouts.py and public_layouts.py do). Integer images
(8- and 16-bit PNG, TIFF) are read exactly: no silent conversion to 8 bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage

from layergan.classes import EDGE_COLOR, VOID_COLOR, VOID_LABEL, ClassList
from layergan.data.class_mapping import ClassMapping
from layergan.data.thermal_units import ThermalUnits
from layergan.errors import DataError


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


@dataclass(frozen=True)
class Reading:
    """How to read a dataset's files into the classes and units that prepare and translate use."""

    classes: ClassList  # the classes of the output (prepared data, or the model)
    tolerance: float = 30.0  # max RGB distance from a palette colour, for RGB class maps
    units: ThermalUnits = ThermalUnits()  # what the thermal files hold
    mapping: ClassMapping | None = None  # class-index labels: the dataset's ids -> `classes`
    source: ClassList | None = None  # the folders layout's own classes (names and colours, for RGB labels)


@dataclass
class RawSample:
    ref: SampleRef
    rgb: np.ndarray  # (H, W, 3) uint8
    class_map: np.ndarray  # (H, W) uint8, VOID_LABEL = unlabelled
    instance_map: np.ndarray  # (H, W) int32
    thermal: np.ndarray | None  # (H, W) float32 °C
    thermal_dtype: str | None = None  # the dtype the file stored, before conversion to float32
    remapped: np.ndarray | None = None  # (256,) pixels per source label id that --class-map sent to background


def open_image(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
        return image
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{path}: corrupt or truncated image ({error})") from None


def image_bands(path: Path) -> tuple[str, int]:
    """(mode, number of channels) from the header alone."""
    try:
        with Image.open(path) as image:
            return image.mode, len(image.getbands())
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{path}: corrupt or truncated image ({error})") from None


def read_rgb(path: Path) -> np.ndarray:
    image = open_image(path)
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


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _ids_of_colours(rgb: np.ndarray, classes: ClassList, tolerance: float) -> np.ndarray:
    """Class ids of an RGB class map: exact palette colours by a sorted lookup, and only the other (smeared,
    noisy) pixels through np.unique and the nearest-colour match, which sorts and is 5x slower per pixel."""
    reference = np.concatenate([classes.palette_array(), [VOID_COLOR, EDGE_COLOR]])
    keys = _pack(reference)
    order = np.argsort(keys)
    keys, key_ids = keys[order], match_palette(reference, classes, 0.0)[order]
    packed = _pack(rgb)
    position = np.minimum(np.searchsorted(keys, packed), len(keys) - 1)
    exact = keys[position] == packed
    ids = np.where(exact, key_ids[position], -1)
    if not exact.all():
        uniq, inverse = np.unique(packed[~exact], return_inverse=True)
        colours = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1)
        ids[~exact] = match_palette(colours, classes, tolerance)[inverse.reshape(-1)]
    return ids


def read_class_map(path: Path, classes: ClassList, tolerance: float) -> np.ndarray:
    """(H, W) uint8 class ids from a palette, grayscale-id or RGB class PNG."""
    image = open_image(path)
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
        ids = _ids_of_colours(np.asarray(image.convert("RGB")), classes, tolerance)
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
    image = open_image(path)
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


THERMAL_SUFFIXES = (".npy", ".tif", ".tiff", ".png")


def read_thermal_image(path: Path) -> np.ndarray:
    """A single-channel PNG (8- or 16-bit) or TIFF (any numeric type), exactly as stored."""
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile  # only here: a TIFF reader that keeps 16-bit and float samples exact

        try:
            frame = tifffile.imread(path)
        except FileNotFoundError:
            raise DataError(f"{path}: file not found") from None
        except Exception as error:  # tifffile raises many types for damaged files
            raise DataError(f"{path}: unreadable TIFF ({type(error).__name__}: {error})") from None
    else:
        image = open_image(path)
        if image.mode not in ("L", "I;16", "I;16B", "I;16L", "I", "F"):
            raise DataError(f"{path}: a thermal image must have one channel (8- or 16-bit grey), got mode "
                            f"{image.mode} with {len(image.getbands())} channels; a colour-mapped preview is not "
                            "a thermal frame")
        frame = np.asarray(image)
        if image.mode.startswith("I;16"):
            frame = frame.astype(np.uint16)
    return frame


def read_thermal(path: Path) -> tuple[np.ndarray, str]:
    """(H, W) thermal frame as stored (.npy, PNG or TIFF; not yet converted to °C) and its dtype."""
    frame = read_array(path) if path.suffix.lower() == ".npy" else read_thermal_image(path)
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[..., 0]
    if frame.ndim != 2:
        raise DataError(f"{path}: thermal frame must be 2-D (H, W), got shape {frame.shape}")
    if not np.issubdtype(frame.dtype, np.number) or np.issubdtype(frame.dtype, np.complexfloating):
        raise DataError(f"{path}: thermal frame must be real numbers, got dtype {frame.dtype}")
    if np.issubdtype(frame.dtype, np.floating):
        bad = ~np.isfinite(frame)
        if bad.any():
            raise DataError(f"{path}: {int(bad.sum())} NaN or inf temperatures")
    return frame, str(frame.dtype)


def read_label_ids(path: Path, class_names: tuple[str, ...]) -> np.ndarray:
    """(H, W) uint8 class ids from a class-index PNG (grey or palette; 255 = void), checked against the list."""
    image = open_image(path)
    if image.mode not in ("L", "P", "I;16", "I;16B", "I;16L", "I"):
        raise DataError(f"{path}: class labels must be a one-channel class-index PNG, got mode {image.mode} with "
                        f"{len(image.getbands())} channels")
    ids = np.asarray(image).astype(np.int64)
    bad = ((ids < 0) | (ids >= len(class_names))) & (ids != VOID_LABEL)
    if bad.any():
        values = sorted(set(ids[bad].tolist()))[:5]
        raise DataError(f"{path}: {int(bad.sum())} pixels have label ids {values} outside the class list "
                        f"0..{len(class_names) - 1} ({', '.join(class_names)}); 255 is void")
    return ids.astype(np.uint8)


def connected_instances(class_map: np.ndarray) -> np.ndarray:
    """(H, W) int32 instance ids for a dataset without instance masks: the connected components of each class.

    Background (class 0) and void get none. A loop over the classes present, not over pixels.
    """
    instances = np.zeros(class_map.shape, np.int32)
    next_id = 1
    for cls in np.unique(class_map):
        if cls in (0, VOID_LABEL):
            continue
        labelled, count = ndimage.label(class_map == cls)
        instances[labelled > 0] = labelled[labelled > 0] + next_id - 1
        next_id += count
    return instances
