"""The torch Dataset over a prepared folder, and the sampler that makes runs resumable.

Every item is a dict of tensors at the output size S x S, as `data.batch.Item` describes.

Training geometry follows the paper: resize the short side to a random length
in [380, 480] * S / 512, then crop (padding where needed) to S x S. Evaluation
resizes the long side to S and pads (letterbox), with no randomness.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Sampler

from layergan.classes import VOID_LABEL, ClassList
from layergan.data.encoding import CONDITION_LIMIT, TemperatureEncoding
from layergan.data.labels import (SEGMENT_STRIDE, edge_marked_indices, object_edges, segment_colours,
                                  thermal_segmentation)
from layergan.data.sample_file import FORMAT_VERSION, read_sample_file
from layergan.data.thermal_units import ThermalUnits
from layergan.errors import DataError

SHORT_SIDE_RANGE = (380, 480)  # at 512 px output, from the paper
PAPER_SIZE = 512


def load_meta(root: str | Path) -> dict:
    path = Path(root) / "meta.json"
    if not path.exists():
        raise DataError(f"{root}: not a prepared dataset (no meta.json); run `layergan prepare` "
                        "or let an interrupted prepare finish")
    meta = json.loads(path.read_text())
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise DataError(f"{path}: prepared in format {version} by an older layergan; this one reads format "
                        f"{FORMAT_VERSION} (3 stores a third of the bytes). Run the same `layergan prepare` "
                        "again: it redoes every sample")
    return meta


def _resize(frame: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(H, W, C) float -> (C, h, w), bilinear with antialiasing."""
    return F.interpolate(frame.permute(2, 0, 1)[None], size=size, mode="bilinear", align_corners=False,
                         antialias=True)[0]


def nearest_source_index(positions: np.ndarray, source: int, resized: int) -> np.ndarray:
    """The source pixel that torch's `interpolate(mode="nearest")` reads for each output position.

    The same float32 arithmetic as ATen's nearest_idx, so a gather of only the crop window's pixels
    equals resizing the whole map and cropping it (a test compares them), at a fraction of the cost.
    """
    if resized == source:
        return positions
    if resized == 2 * source:
        return positions >> 1
    scale = np.float32(source) / np.float32(resized)
    return np.minimum(np.floor(positions.astype(np.float32) * scale).astype(np.int64), source - 1)


def nearest_window(labels: np.ndarray, resized: tuple[int, int], corner: tuple[int, int], size: int, fill: int):
    """The S x S window at `corner` of `labels` resized (nearest) to `resized`; `fill` outside the frame."""
    axes = []
    for start, length, source in zip(corner, resized, labels.shape):
        position = start + np.arange(size)
        inside = (position >= 0) & (position < length)
        axes.append((np.flatnonzero(inside), nearest_source_index(position[inside], source, length)))
    (rows, source_rows), (cols, source_cols) = axes
    out = np.full((size, size), fill, dtype=labels.dtype)
    out[rows[:, None], cols[None, :]] = labels[source_rows[:, None], source_cols[None, :]]
    return out


class ItemBuilder:
    """Turns one sample's arrays (a prepared file, or inputs that translate reads) into a batch item."""

    def __init__(self, classes: ClassList, size: int, encoding: TemperatureEncoding):
        self.classes, self.palette = classes, classes.palette_array()
        self.size, self.encoding = size, encoding
        self.seg_colours = torch.from_numpy(segment_colours(self.palette)).float() / 127.5 - 1.0
        self.class_ids = torch.arange(len(classes))[:, None, None]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def geometry(self, height: int, width: int, rng: np.random.Generator | None):
        """(resized h, w) and the (top, left) of the S x S window in the resized frame (may be negative = pad).

        Without `rng`: the evaluation letterbox. With it: the paper's random short side and crop.
        """
        s = self.size
        if rng is None:
            scale = s / max(height, width)
            h, w = max(1, round(height * scale)), max(1, round(width * scale))
            return (h, w), ((h - s) // 2, (w - s) // 2)
        short = rng.uniform(*SHORT_SIDE_RANGE) * s / PAPER_SIZE
        scale = short / min(height, width)
        h, w = max(1, round(height * scale)), max(1, round(width * scale))
        top = int(rng.integers(min(0, h - s), max(0, h - s) + 1))
        left = int(rng.integers(min(0, w - s), max(0, w - s) + 1))
        return (h, w), (top, left)

    def make_item(self, raw: dict[str, np.ndarray], rng: np.random.Generator | None) -> dict[str, torch.Tensor]:
        """`raw` holds rgb, class_map, instance_map, thermal, objects (the table of segment means, for R) and
        class_temperatures."""
        height, width = raw["class_map"].shape
        hw, (top, left) = self.geometry(height, width, rng)
        s = self.size
        continuous = torch.empty(height, width, 4)
        frame = continuous.numpy()  # filled through numpy: the inputs may be read-only arrays
        frame[..., :3] = raw["rgb"]
        frame[..., 3] = raw["thermal"]
        smooth = torch.zeros(4, s, s)
        y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + s, hw[0]), min(left + s, hw[1])
        smooth[:, y0 - top:y1 - top, x0 - left:x1 - left] = _resize(continuous, hw)[:, y0:y1, x0:x1]
        inside = torch.zeros(1, s, s)
        inside[:, y0 - top:y1 - top, x0 - left:x1 - left] = 1.0
        class_map = nearest_window(raw["class_map"], hw, (top, left), s, VOID_LABEL)
        instance_map = nearest_window(raw["instance_map"], hw, (top, left), s, 0).astype(np.int64)
        r_celsius = torch.from_numpy(thermal_segmentation(class_map, instance_map, raw["objects"]))[None]
        return self._tensors(smooth, class_map, instance_map, r_celsius, inside, raw["class_temperatures"])

    def _tensors(self, smooth, class_map, instance_map, r_celsius, inside, class_temperatures):
        edges = object_edges(class_map, instance_map)
        seg = self.seg_colours[torch.from_numpy(edge_marked_indices(class_map, edges))].permute(2, 0, 1)
        valid = (torch.from_numpy(class_map != VOID_LABEL)[None] & (inside > 0.5)).float()
        thermal = smooth[3:4] * valid
        class_ids = torch.from_numpy(class_map.astype(np.int64))
        masks = (class_ids[None] == self.class_ids).float() * valid  # void (255) is in no mask
        segments = class_ids * SEGMENT_STRIDE + torch.from_numpy(instance_map)
        temps = torch.tensor(class_temperatures, dtype=torch.float32)
        t = torch.cat([temps[:, 0].clamp(-CONDITION_LIMIT, CONDITION_LIMIT) / CONDITION_LIMIT * temps[:, 1],
                       temps[:, 1]])
        return {
            "rgb": smooth[0:3] / 127.5 - 1.0,
            "seg": seg,
            "masks": masks,
            "edges": torch.from_numpy(edges)[None].float(),
            "r": (r_celsius.clamp(-CONDITION_LIMIT, CONDITION_LIMIT) / CONDITION_LIMIT) * valid,
            "r_celsius": r_celsius * valid,
            "t": t,
            "target": self.encoding.encode(thermal, r_celsius) * valid,
            "thermal": thermal,
            "valid": valid,
            "instances": torch.where(valid[0] > 0, segments, torch.full_like(segments, -1)),
        }

    def restore_size(self, frame: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
        """Undo the letterbox on an (S, S) frame: crop the image window and resize it back to `shape`."""
        (h, w), (top, left) = self.geometry(*shape, None)
        window = frame[max(-top, 0):max(-top, 0) + h, max(-left, 0):max(-left, 0) + w]
        return F.interpolate(window[None, None].float().cpu(), size=shape, mode="bilinear",
                             align_corners=False)[0, 0].numpy()


class PreparedDataset(Dataset):
    def __init__(self, root: str | Path, split: str, size: int, encoding: TemperatureEncoding,
                 augment: bool, seed: int = 0):
        self.root = Path(root)
        self.meta = load_meta(root)
        if split not in self.meta["splits"]:
            raise DataError(f"{root}: no split {split!r}; available: {', '.join(self.meta['splits'])}")
        self.entries = json.loads((self.root / self.meta["splits"][split]["index"]).read_text())
        self.classes = ClassList.from_dict(self.meta, source=str(self.root / "meta.json"))
        self.units = ThermalUnits.from_dict(self.meta.get("thermal_units"))  # °C, or uncalibrated units
        self.builder = ItemBuilder(self.classes, size, encoding)
        self.size, self.encoding, self.augment, self.seed = size, encoding, augment, seed

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.entries)

    def load(self, index: int) -> dict[str, np.ndarray]:
        return read_sample_file(self.root / self.entries[index]["file"],
                                ("rgb", "class_map", "instance_map", "thermal", "objects", "class_temperatures"))

    def __getitem__(self, key) -> dict[str, torch.Tensor]:
        index, aug_seed = key if isinstance(key, tuple) else (key, None)
        raw = self.load(index)
        rng = np.random.default_rng([self.seed, aug_seed]) if self.augment and aug_seed is not None else None
        if self.augment and rng is None:
            rng = np.random.default_rng([self.seed, index])
        return self.builder.make_item(raw, rng)


class ResumableSampler(Sampler):
    """An endless stream of (index, augmentation seed), sliced per rank, that can start mid-epoch.

    Position p of the global stream is sample perm_e[p % N] of epoch e = p // N, with
    perm_e a permutation seeded by (seed, e). Step s uses positions [s*B, (s+1)*B)
    of the global batch B, and rank r takes its contiguous share. The contents of a
    global batch therefore depend neither on the world size nor on restarts, which
    torch's DistributedSampler cannot give (it restarts each epoch and interleaves by rank).
    """

    def __init__(self, length: int, global_batch: int, seed: int, start_step: int = 0, rank: int = 0,
                 world_size: int = 1):
        if global_batch % world_size:
            raise DataError(f"global batch {global_batch} is not divisible by the world size {world_size}")
        self.length, self.batch, self.seed = length, global_batch, seed
        self.start_step, self.rank, self.world = start_step, rank, world_size
        self._perm_epoch, self._perm = None, None

    def _index(self, position: int) -> int:
        epoch = position // self.length
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.length, generator=g)
            self._perm_epoch = epoch
        return int(self._perm[position % self.length])

    def __iter__(self):
        local = self.batch // self.world
        step = self.start_step
        while True:
            first = step * self.batch + self.rank * local
            for p in range(first, first + local):
                yield self._index(p), p
            step += 1
