"""From command-line choices to a `Reading`: the output classes, the class mapping and the thermal units.

One function for prepare and translate, so that both read a dataset the same way.
"""

from __future__ import annotations

from pathlib import Path

from layergan.classes import ClassList, classes_from_names, default_classes
from layergan.data.class_mapping import load_class_map, mapping_by_name
from layergan.data.public_layouts import CITYSCAPES_TO_MODEL, SOURCE_CLASSES
from layergan.data.readers import Reading
from layergan.data.thermal_units import ThermalUnits
from layergan.errors import ConfigError

COUNTS_BY_DEFAULT = ("mfnet", "pst900")  # they publish raw sensor values, not temperatures


def default_units(layout: str) -> ThermalUnits:
    return ThermalUnits("counts" if layout in COUNTS_BY_DEFAULT else "celsius")


def classes_in(src: Path) -> ClassList:
    """SRC/classes.yaml where there is one, else the built-in list."""
    path = Path(src) / "classes.yaml"
    return ClassList.load(path) if path.exists() else default_classes()


def make_reading(layout: str, src: Path, target: ClassList | None = None, class_map: str | Path | None = None,
                 source_classes: ClassList | None = None, units: ThermalUnits | None = None,
                 tolerance: float = 30.0) -> Reading:
    """`target`: the output classes (--classes, or a model's); None lets the dataset decide.

    Class-index layouts (MFNet, PST900, folders) have their own classes. Without --class-map they are
    the output classes; with it, they are mapped onto `target` (or SRC/classes.yaml, or the built-in list).
    """
    if layout == "folders" and source_classes is None:
        raise ConfigError("--layout folders needs --source-classes YAML: the names (and, for RGB label images, "
                          "the colours) of the classes in the label files")
    source = source_classes or (classes_from_names(SOURCE_CLASSES[layout]) if layout in SOURCE_CLASSES else None)
    units = units or default_units(layout)
    if class_map is not None:
        if source is None:
            raise ConfigError(f"--class-map maps a class-index dataset's classes; the {layout} layout already "
                              "labels pixels with the output classes' colours or ids")
        target = target or classes_in(src)
        return Reading(target, tolerance, units, load_class_map(class_map, source.names, target), source)
    if layout == "cityscapes":  # the built-in mapping onto whichever of its targets the output classes have
        target = target or default_classes()
        return Reading(target, tolerance, units, mapping_by_name(source.names, CITYSCAPES_TO_MODEL, target), source)
    if source is not None:
        if target is not None and target.names != source.names:
            raise ConfigError(f"the data's classes ({', '.join(source.names)}) differ from the output classes "
                              f"({', '.join(target.names)}); give --class-map YAML to map them")
        return Reading(target or source, tolerance, units, None, source)
    return Reading(target or classes_in(src), tolerance, units)
