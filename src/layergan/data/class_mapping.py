"""--class-map: a dataset's classes onto the classes a model uses.

The YAML maps source class names (or label ids) to target class names::

    car: car
    person: person
    rider: person
    bike: background     # or leave it out: unmapped classes become class 0

Unmapped source classes become the target's class 0 (background), and the pixels remapped this way
are counted so that prepare and translate can say how much of the data that was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from layergan.classes import VOID_LABEL, ClassList
from layergan.errors import DataError


@dataclass(frozen=True)
class ClassMapping:
    source_names: tuple[str, ...]  # the dataset's classes, by label id
    lookup: np.ndarray  # (256,) uint8: source label id -> target class id; void stays void
    unmapped: tuple[int, ...]  # source ids that no entry named: they became background

    def apply(self, label_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(target class map, pixels per source id that became background because unmapped)."""
        counts = np.bincount(label_ids.reshape(-1), minlength=256)
        lost = np.zeros(256, np.int64)
        lost[list(self.unmapped)] = counts[list(self.unmapped)]
        return self.lookup[label_ids], lost

    def describe(self) -> dict:
        return {name: int(self.lookup[i]) for i, name in enumerate(self.source_names)}


def _mapping(source_names: tuple[str, ...], pairs: dict[int, int]) -> ClassMapping:
    """{source id: target id}; every other source id goes to background (0), void stays void."""
    lookup = np.zeros(256, dtype=np.uint8)
    lookup[VOID_LABEL] = VOID_LABEL
    for source, target in pairs.items():
        lookup[source] = target
    return ClassMapping(tuple(source_names), lookup, tuple(i for i in range(len(source_names)) if i not in pairs))


def mapping_by_name(source_names: tuple[str, ...], names: dict[str, str], target: ClassList) -> ClassMapping:
    """A built-in mapping {source name: target name}; entries whose target the output lacks become background."""
    return _mapping(source_names, {source_names.index(source): target.names.index(name)
                                   for source, name in names.items() if name in target.names})


def load_class_map(path: str | Path, source_names: tuple[str, ...], target: ClassList) -> ClassMapping:
    """Read a --class-map YAML; errors name the file and the bad entry."""
    path = Path(path)
    try:
        entries = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: class map not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise DataError(f"{path}: unreadable class map ({type(error).__name__}: {error})") from None
    if not isinstance(entries, dict) or not entries:
        raise DataError(f"{path}: a class map must be a YAML mapping 'source class: target class', e.g. 'rider: "
                        "person'")
    pairs = {}
    for key, value in entries.items():
        if isinstance(key, int) and 0 <= key < len(source_names):
            source = key
        elif str(key) in source_names:
            source = source_names.index(str(key))
        else:
            raise DataError(f"{path}: unknown source class {key!r}; this dataset's classes are "
                            f"{', '.join(source_names)}")
        if str(value) not in target.names:
            raise DataError(f"{path}: {key!r} maps to {value!r}, which is not a target class; targets are "
                            f"{', '.join(target.names)}")
        pairs[source] = target.names.index(str(value))
    return _mapping(source_names, pairs)
