"""Per-sample derivations of the paper's section 3.1, vectorized with numpy.

A *segment* is one (class, instance) pair: an object instance, or, for
instance id 0, the unlabelled-instance part of a class (sky, road in VOC).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from layergan.classes import EDGE_COLOR, VOID_LABEL
from layergan.errors import DataError

OBJECT_COLUMNS = ("instance", "class", "pixels", "mean", "std", "min", "max")


def segment_keys(class_map: np.ndarray, instance_map: np.ndarray) -> np.ndarray:
    return class_map.astype(np.int64) * 65536 + instance_map.astype(np.int64)


def object_edges(class_map: np.ndarray, instance_map: np.ndarray) -> np.ndarray:
    """Bool mask of pixels with a 4-neighbour in another segment (both sides of a border)."""
    keys = segment_keys(class_map, instance_map)
    edges = np.zeros(keys.shape, dtype=bool)
    vertical = keys[1:, :] != keys[:-1, :]
    horizontal = keys[:, 1:] != keys[:, :-1]
    edges[1:, :] |= vertical
    edges[:-1, :] |= vertical
    edges[:, 1:] |= horizontal
    edges[:, :-1] |= horizontal
    return edges


def edge_marked_segmentation(class_map: np.ndarray, edges: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 class colours with white object borders; void stays its VOC colour."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(palette)] = palette
    lut[VOID_LABEL] = (224, 224, 192)
    image = lut[class_map]
    image[edges] = EDGE_COLOR
    return image


def check_instances_single_class(class_map: np.ndarray, instance_map: np.ndarray, source: str) -> None:
    """Raise if an instance id > 0 covers pixels of two classes."""
    valid = (instance_map > 0) & (class_map != VOID_LABEL)
    pairs = np.unique(segment_keys(class_map[valid], instance_map[valid]))
    instances = pairs % 65536
    ids, counts = np.unique(instances, return_counts=True)
    if (counts > 1).any():
        bad = int(ids[counts > 1][0])
        classes = sorted(int(p // 65536) for p in pairs if p % 65536 == bad)
        raise DataError(f"{source}: instance {bad} spans classes {classes}; each instance must have one class")


@dataclass
class SampleLabels:
    """Everything derived from class map, instance map and (optionally) thermal frame."""

    edges: np.ndarray  # (H, W) bool
    objects: np.ndarray  # (n, 7) float64, columns OBJECT_COLUMNS
    thermal_segmentation: np.ndarray  # (H, W) float32 °C: R, each segment filled with its mean
    class_temperatures: np.ndarray  # (C, 2) float32: mean °C and presence flag: T


def object_table(class_map, instance_map, thermal, valid) -> tuple[np.ndarray, np.ndarray]:
    """Per-segment statistics and, per valid pixel, the index of its segment."""
    keys = segment_keys(class_map, instance_map)[valid]
    values = thermal[valid].astype(np.float64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    labels = inverse + 1  # ndimage treats label 0 as background
    index = np.arange(1, len(uniq) + 1)
    counts = np.bincount(inverse, minlength=len(uniq)).astype(np.float64)
    sums = np.bincount(inverse, weights=values, minlength=len(uniq))
    sq = np.bincount(inverse, weights=values * values, minlength=len(uniq))
    means = sums / np.maximum(counts, 1)
    std = np.sqrt(np.maximum(sq / np.maximum(counts, 1) - means**2, 0))
    table = np.stack(
        [
            uniq % 65536,
            uniq // 65536,
            counts,
            means,
            std,
            np.asarray(ndimage.minimum(values, labels, index), dtype=np.float64).reshape(-1),
            np.asarray(ndimage.maximum(values, labels, index), dtype=np.float64).reshape(-1),
        ],
        axis=1,
    )
    return table, inverse


def paint_segments(class_map, instance_map, valid, segment_values: dict[tuple[int, int], float], fill: float):
    """(H, W) float32 where each segment (class, instance) gets its value; others `fill`."""
    out = np.full(class_map.shape, fill, dtype=np.float32)
    if not segment_values:
        return out
    keys = segment_keys(class_map, instance_map)
    table_keys = np.array([c * 65536 + i for c, i in segment_values], dtype=np.int64)
    table_values = np.array(list(segment_values.values()), dtype=np.float32)
    order = np.argsort(table_keys)
    table_keys, table_values = table_keys[order], table_values[order]
    pos = np.clip(np.searchsorted(table_keys, keys), 0, len(table_keys) - 1)
    hit = valid & (table_keys[pos] == keys)
    out[hit] = table_values[pos[hit]]
    return out


def class_temperatures_from(objects: np.ndarray, num_classes: int) -> np.ndarray:
    """T: pixel-weighted mean temperature of each class, and whether it is present."""
    result = np.zeros((num_classes, 2), dtype=np.float32)
    cls = objects[:, 1].astype(np.int64)
    keep = cls < num_classes
    pixels = np.bincount(cls[keep], weights=objects[keep, 2], minlength=num_classes)
    sums = np.bincount(cls[keep], weights=objects[keep, 2] * objects[keep, 3], minlength=num_classes)
    present = pixels > 0
    result[present, 0] = sums[present] / pixels[present]
    result[present, 1] = 1.0
    return result


def derive_labels(class_map, instance_map, thermal, num_classes: int) -> SampleLabels:
    """Edges, object table, R and T for one sample with a thermal frame in °C."""
    valid = class_map != VOID_LABEL
    edges = object_edges(class_map, instance_map)
    objects, inverse = object_table(class_map, instance_map, thermal, valid)
    r_map = np.full(class_map.shape, float(thermal[valid].mean()) if valid.any() else 0.0, dtype=np.float32)
    r_map[valid] = objects[inverse, 3].astype(np.float32)
    return SampleLabels(edges, objects, r_map, class_temperatures_from(objects, num_classes))
