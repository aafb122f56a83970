"""The class list and palette, read from `classes.yaml`.

Format::

    classes:
      - {name: background, color: [0, 0, 0]}
      - {name: person, color: [220, 20, 60]}
      ...

Index 0 is the background class. Label value 255 is "void" (unlabelled), as in
Pascal VOC; void pixels are excluded from losses and metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from layergan.errors import DataError

VOID_LABEL = 255
VOID_COLOR = (224, 224, 192)  # the VOC colour of void/boundary pixels
EDGE_COLOR = (255, 255, 255)  # object borders in the edge-marked segmentation

DEFAULT_CLASSES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("background", (0, 0, 0)),
    ("person", (220, 20, 60)),
    ("car", (0, 0, 142)),
    ("minibus", (0, 60, 100)),
    ("bus", (0, 80, 200)),
    ("truck", (0, 0, 70)),
    ("building", (70, 70, 70)),
    ("road", (128, 64, 128)),
    ("tree", (107, 142, 35)),
)


@dataclass(frozen=True)
class ClassList:
    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]

    def __post_init__(self):
        if len(self.names) != len(self.colors):
            raise DataError("classes: names and colours differ in number")
        if not 1 <= len(self.names) < VOID_LABEL:
            raise DataError(f"classes: need between 1 and {VOID_LABEL - 1} classes, got {len(self.names)}")
        if len(set(self.names)) != len(self.names):
            raise DataError(f"classes: duplicate class names in {list(self.names)}")
        if len(set(self.colors)) != len(self.colors):
            first = {}
            for name, color in zip(self.names, self.colors):
                if color in first:
                    raise DataError(f"classes: {first[color]} and {name} share the colour {list(color)}")
                first[color] = name
        for color in self.colors:
            if color in (EDGE_COLOR, VOID_COLOR):
                raise DataError(f"classes: colour {color} is reserved for edges/void")

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise DataError(f"unknown class {name!r}; known classes: {', '.join(self.names)}") from None

    def palette_array(self) -> np.ndarray:
        """(len, 3) uint8 colours, row i for class i."""
        return np.asarray(self.colors, dtype=np.uint8)

    def pil_palette(self) -> list[int]:
        """A 768-entry flat palette for PIL 'P' images, with void at 255."""
        flat = np.zeros((256, 3), dtype=np.uint8)
        flat[: len(self)] = self.palette_array()
        flat[VOID_LABEL] = VOID_COLOR
        return flat.reshape(-1).tolist()

    def to_dict(self) -> dict:
        return {"classes": [{"name": n, "color": list(c)} for n, c in zip(self.names, self.colors)]}

    @classmethod
    def from_dict(cls, data: dict, source: str = "classes") -> "ClassList":
        try:
            entries = data["classes"]
            names = tuple(str(e["name"]) for e in entries)
            colors = tuple(tuple(int(v) for v in e["color"]) for e in entries)
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"{source}: expected 'classes: [{{name, color: [r, g, b]}}, ...]' ({error})") from None
        if any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in colors):
            raise DataError(f"{source}: every colour must be three integers in 0..255")
        try:
            return cls(names, colors)  # type: ignore[arg-type]
        except DataError as error:
            raise DataError(f"{source}: {str(error).removeprefix('classes: ')}") from None

    @classmethod
    def load(cls, path: str | Path) -> "ClassList":
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise DataError(f"{path}: classes file not found") from None
        except yaml.YAMLError as error:
            raise DataError(f"{path}: not valid YAML ({error})") from None
        return cls.from_dict(data or {}, source=str(path))

    def dump_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)


def voc_colormap(count: int) -> list[tuple[int, int, int]]:
    """Pascal VOC's label colours (bit-interleaved index): distinct, and never the void or edge colour below 255."""
    index = np.arange(count)
    rgb = np.zeros((count, 3), dtype=np.int64)
    for shift in range(8):
        for channel in range(3):
            rgb[:, channel] |= ((index >> (3 * shift + channel)) & 1) << (7 - shift)
    return [tuple(int(v) for v in row) for row in rgb]


def classes_from_names(names: tuple[str, ...]) -> ClassList:
    """A class list for a dataset that names its classes but gives no colours (MFNet, PST900)."""
    return ClassList(tuple(names), tuple(voc_colormap(len(names))))


def default_classes() -> ClassList:
    return ClassList(tuple(n for n, _ in DEFAULT_CLASSES), tuple(c for _, c in DEFAULT_CLASSES))
