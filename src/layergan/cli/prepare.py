from __future__ import annotations

from pathlib import Path

import click

from layergan.cli.source_options import folder_spec, input_units, load_source_classes, source_options


@click.command("prepare")
@click.option("--src", required=True, type=click.Path(exists=True, file_okay=False), help="Raw dataset root (read only).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the prepared dataset.")
@click.option("--split", "splits", help="Comma-separated splits to prepare [default: every split folder in SRC].")
@click.option("--layout", default="auto", show_default=True,
              type=click.Choice(["auto", "voc", "thermalgan", "mfnet", "pst900", "folders"]),
              help="Input layout: ThermalWorld VOC folders, ThermalGAN's TV/IR_32/LABEL_TEMP, MFNet, PST900, or "
                   "'folders' (any paired files: give --rgb-dir, --labels-dir, --thermal-dir). See docs/real-data.md.")
@click.option("--classes", "classes_path", type=click.Path(exists=True, dir_okay=False),
              help="classes.yaml of the prepared data [default: the dataset's own classes for MFNet, PST900 and "
                   "folders without --class-map; else SRC/classes.yaml, else the built-in list].")
@click.option("--workers", default=1, show_default=True, type=int, help="Processes preparing samples in parallel.")
@click.option("--on-error", default="fail", show_default=True, type=click.Choice(["fail", "skip"]),
              help="fail: stop at the first bad sample (exit 1). skip: go on and list it in OUT/skipped.csv.")
@click.option("--palette-tolerance", default=30.0, show_default=True, type=float,
              help="Max RGB distance from a palette colour for RGB class maps (smeared edges, JPEG).")
@click.option("--overwrite", is_flag=True,
              help="Prepare into an --out that holds another dataset; only the files prepare wrote are removed.")
@click.option("--allow-extreme-temperatures", is_flag=True,
              help="Accept frames outside -100..500 °C (never below absolute zero).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@source_options
def prepare_command(src, out, splits, layout, classes_path, workers, on_error, palette_tolerance, overwrite,
                    allow_extreme_temperatures, quiet, class_map, source_classes_path, rgb_dir, labels_dir, thermal_dir,
                    thermal_units, calibration):
    """Turn a labelled RGB-thermal dataset into training-ready samples.

    Layouts: ThermalWorld (VOC folders), ThermalGAN, MFNet, PST900, or any paired folders.
    docs/real-data.md walks through each.

    For each sample: RGB, class and instance maps, the thermal frame in °C (or uncalibrated
    units), T (per-class mean temperature with presence flags) and a table of objects; edges and
    R are derived when training. Writes OUT/meta.json last. Re-running resumes, and redoes the
    samples whose source files changed or whose prepared file is unreadable.
    """
    from layergan.classes import ClassList
    from layergan.data.prepare import PrepareOptions, prepare
    folders = folder_spec(layout, rgb_dir, labels_dir, thermal_dir, need_thermal=True)

    options = PrepareOptions(
        src=Path(src), out=Path(out),
        splits=tuple(s.strip() for s in splits.split(",") if s.strip()) or None if splits else None,
        layout=layout, classes=ClassList.load(classes_path) if classes_path else None, workers=workers,
        on_error=on_error, palette_tolerance=palette_tolerance, overwrite=overwrite,
        allow_extreme_temperatures=allow_extreme_temperatures,
        units=input_units(thermal_units, calibration),
        class_map=Path(class_map) if class_map else None,
        source_classes=load_source_classes(source_classes_path), folders=folders,
    )
    meta = prepare(options, progress=not quiet)
    counts = ", ".join(f"{k}: {v['samples']}" for k, v in meta["splits"].items())
    click.echo(f"prepared {counts} samples in {out}" + (f" ({meta['skipped']} skipped, see skipped.csv)"
                                                          if meta["skipped"] else ""))
