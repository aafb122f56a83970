"""The options that say how to read a dataset, shared by `prepare` and `translate`."""

from __future__ import annotations

import click

from layergan.errors import ConfigError

FOLDER_OPTIONS = ("--rgb-dir", "--labels-dir", "--thermal-dir")


def source_options(function):
    """--class-map, --source-classes, the folders layout's --rgb-dir, --labels-dir, --thermal-dir, and the
    thermal files' --thermal-units and --calibration."""
    options = [
        click.option("--class-map", "class_map", type=click.Path(exists=True, dir_okay=False),
                     help="YAML 'source class: output class' for class-index datasets (MFNet, PST900, Cityscapes, "
                          "folders); unmapped classes become background."),
        click.option("--source-classes", "source_classes_path", type=click.Path(exists=True, dir_okay=False),
                     help="folders layout: classes.yaml of the label files (names; colours for RGB label images)."),
        click.option("--rgb-dir", help="folders layout: colour images, relative to the root; '{split}' stands for "
                                       "the split's name."),
        click.option("--labels-dir", help="folders layout: class labels (index or palette PNG), relative to the root."),
        click.option("--thermal-dir", help="folders layout: thermal frames (.npy, 8/16-bit PNG, TIFF), relative to "
                                           "the root."),
        click.option("--thermal-units", type=click.Choice(["celsius", "kelvin", "centikelvin", "counts"]),
                     help="What the input's thermal files hold [default: counts for MFNet and PST900, celsius "
                          "otherwise]."),
        click.option("--calibration", metavar="GAIN,OFFSET",
                     help="counts -> °C as GAIN * counts + OFFSET. Without it, counts stay 'units' everywhere."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def folder_spec(layout: str, rgb_dir, labels_dir, thermal_dir, need_thermal: bool):
    """The FolderSpec for --layout folders; refuses folder options given with any other layout."""
    from layergan.data.public_layouts import FolderSpec

    given = dict(zip(FOLDER_OPTIONS, (rgb_dir, labels_dir, thermal_dir)))
    if layout != "folders":
        named = [name for name, value in given.items() if value]
        if named:
            raise ConfigError(f"{', '.join(named)} belong to --layout folders; pass it, or leave them out")
        return None
    needed = FOLDER_OPTIONS if need_thermal else FOLDER_OPTIONS[:2]
    missing = [name for name in needed if not given[name]]
    if missing:
        raise ConfigError(f"--layout folders needs {', '.join(missing)}")
    return FolderSpec(rgb_dir, labels_dir, thermal_dir)


def input_units(kind: str | None, calibration: str | None):
    """The ThermalUnits of --thermal-units and --calibration; None: the layout's default."""
    from layergan.data.thermal_units import parse_units

    if calibration and not kind:
        kind = "counts"
    return parse_units(kind, calibration) if kind else None


def load_source_classes(path):
    from layergan.classes import ClassList

    return ClassList.load(path) if path else None
