"""Per-sample derivations of the paper's section 3.1, vectorized with numpy.

A *segment* is one (class, instance) pair: an object instance, or, for
instance id 0, the unlabelled-instance part of a class (sky, road in VOC).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layergan.classes import EDGE_COLOR, VOID_COLOR, VOID_LABEL
from layergan.errors import DataError

OBJECT_COLUMNS = ("instance", "class", "pixels", "mean", "std", "min", "max")
SEGMENT_STRIDE = 65536  # segment key = class * SEGMENT_STRIDE + instance (instance ids < 65536)


def segment_keys(class_map: np.ndarray, instance_map: np.ndarray) -> np.ndarray:
    return class_map.astype(np.int64) * SEGMENT_STRIDE + instance_map.astype(np.int64)


def segment_pixels(class_map: np.ndarray, instance_map: np.ndarray) -> dict[tuple[int, int], int]:
    """{(class, instance): pixels} of every segment on labelled (non-void) pixels, in key order."""
    valid = class_map != VOID_LABEL
    keys, counts = np.unique(segment_keys(class_map, instance_map)[valid], return_counts=True)
    return {(int(k // SEGMENT_STRIDE), int(k % SEGMENT_STRIDE)): int(n) for k, n in zip(keys, counts)}


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


EDGE_INDEX = 256  # the row of `segment_colours` for edge pixels


def segment_colours(palette: np.ndarray) -> np.ndarray:
    """(257, 3) uint8: the colour of each class id (void in its VOC colour), then the edge colour."""
    lut = np.zeros((EDGE_INDEX + 1, 3), dtype=np.uint8)
    lut[: len(palette)] = palette
    lut[VOID_LABEL] = VOID_COLOR
    lut[EDGE_INDEX] = EDGE_COLOR
    return lut


def edge_marked_indices(class_map: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Rows of `segment_colours` per pixel: the class id, or EDGE_INDEX on an edge."""
    return np.where(edges, EDGE_INDEX, class_map.astype(np.int64))


def edge_marked_segmentation(class_map: np.ndarray, edges: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 class colours with white object borders; void stays its VOC colour."""
    return segment_colours(palette)[edge_marked_indices(class_map, edges)]


def check_instances_single_class(objects: np.ndarray, source: str) -> None:
    """Raise if an instance id > 0 covers pixels of two classes (read off the object table)."""
    labelled = objects[objects[:, 0] > 0]
    ids, counts = np.unique(labelled[:, 0], return_counts=True)
    if (counts > 1).any():
        bad = ids[counts > 1][0]
        classes = sorted(int(c) for c in labelled[labelled[:, 0] == bad, 1])
        raise DataError(f"{source}: instance {int(bad)} spans classes {classes}; each instance must have one class")


@dataclass
class SampleLabels:
    """What prepare derives from class map, instance map and thermal frame (edges and R are derived later)."""

    objects: np.ndarray  # (n, 7) float64, columns OBJECT_COLUMNS
    class_temperatures: np.ndarray  # (C, 2) float32: mean °C and presence flag: T


def _dense_ids(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relabel small non-negative ints to 0..n-1 in sorted order, without sorting: (dense ids, distinct values)."""
    present = np.zeros(int(values.max(initial=0)) + 1, dtype=bool)
    present[values] = True
    return (np.cumsum(present) - 1)[values], np.flatnonzero(present)


def object_table(class_map, instance_map, thermal, valid) -> tuple[np.ndarray, np.ndarray]:
    """Per-segment statistics and, per valid pixel, the index of its segment.

    Segments are found with lookup tables and bincount rather than np.unique: a sort
    of every pixel was half of `prepare`'s time at 640x480.
    """
    classes = class_map[valid]
    instances = instance_map[valid]
    huge = instances.size and int(instances.max()) >= 1 << 24  # a lookup table would be too large: sort instead
    if huge:
        original, instances = np.unique(instances, return_inverse=True)
    values = thermal[valid].astype(np.float64)
    class_ids, class_values = _dense_ids(classes)
    instance_ids, instance_values = _dense_ids(instances)
    if huge:
        instance_values = original[instance_values]
    pair = class_ids.astype(np.int64) * len(instance_values) + instance_ids
    pair_ids, pairs = _dense_ids(pair)
    n = len(pairs)
    counts = np.bincount(pair_ids, minlength=n).astype(np.float64)
    sums = np.bincount(pair_ids, weights=values, minlength=n)
    sq = np.bincount(pair_ids, weights=values * values, minlength=n)
    means = sums / np.maximum(counts, 1)
    std = np.sqrt(np.maximum(sq / np.maximum(counts, 1) - means**2, 0))
    low, high = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(low, pair_ids, values)
    np.maximum.at(high, pair_ids, values)
    table = np.stack(
        [instance_values[pairs % len(instance_values)].astype(np.float64),
         class_values[pairs // len(instance_values)].astype(np.float64),
         counts, means, std, low, high],
        axis=1,
    )
    return table, pair_ids


def paint_segments(class_map, instance_map, valid, table_keys: np.ndarray, table_values: np.ndarray, fill: float):
    """(H, W) float32 where each valid segment whose key is in `table_keys` gets its value; others `fill`."""
    out = np.full(class_map.shape, fill, dtype=np.float32)
    if not len(table_keys):
        return out
    keys = segment_keys(class_map, instance_map)
    order = np.argsort(table_keys)
    table_keys, table_values = table_keys[order], table_values[order].astype(np.float32)
    pos = np.clip(np.searchsorted(table_keys, keys), 0, len(table_keys) - 1)
    hit = valid & (table_keys[pos] == keys)
    out[hit] = table_values[pos[hit]]
    return out


def thermal_segmentation(class_map, instance_map, objects: np.ndarray) -> np.ndarray:
    """R: every segment filled with its mean °C from the object table; void (and any segment absent from it) 0."""
    keys = objects[:, 1].astype(np.int64) * SEGMENT_STRIDE + objects[:, 0].astype(np.int64)
    return paint_segments(class_map, instance_map, class_map != VOID_LABEL, keys, objects[:, 3], 0.0)


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
    """Object table and T for one sample with a thermal frame in °C."""
    objects, _ = object_table(class_map, instance_map, thermal, class_map != VOID_LABEL)
    return SampleLabels(objects, class_temperatures_from(objects, num_classes))


def objects_for_temperatures(class_map, instance_map, temperatures: dict[tuple[int, int], float],
                             num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Object table and T for chosen object temperatures {(class, instance): °C} instead of a measured frame.

    Segments present in the maps but missing from `temperatures` get the mean of the chosen values.
    """
    valid = class_map != VOID_LABEL
    fill = float(np.mean(list(temperatures.values()))) if temperatures else 0.0
    keys, pixels = np.unique(segment_keys(class_map, instance_map)[valid], return_counts=True)
    chosen = [temperatures.get((int(k // SEGMENT_STRIDE), int(k % SEGMENT_STRIDE)), fill) for k in keys.tolist()]
    table = np.array([[k % SEGMENT_STRIDE, k // SEGMENT_STRIDE, n, t, 0, t, t]
                      for k, n, t in zip(keys.tolist(), pixels.tolist(), chosen)],
                     dtype=np.float64).reshape(-1, len(OBJECT_COLUMNS))
    return table, class_temperatures_from(table, num_classes)
