from __future__ import annotations

import click

from layergan.cli.common import SIZE


@click.command("synth-data")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write the dataset into.")
@click.option("--train", "n_train", default=200, show_default=True, type=int, help="Number of training scenes.")
@click.option("--test", "n_test", default=50, show_default=True, type=int, help="Number of test scenes.")
@click.option("--size", default="640x480", show_default=True, type=SIZE, help="Frame size WIDTHxHEIGHT (each side >= 32).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed; the same seed gives byte-identical files.")
@click.option("--workers", default=1, show_default=True, type=int, help="Processes writing scenes in parallel.")
@click.option("--overwrite", is_flag=True, help="Replace a different dataset already in --out.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def synth_data(out, n_train, n_test, size, seed, workers, overwrite, quiet):
    """Generate the embedded procedural thermal dataset (ThermalWorld VOC layout).

    Writes OUT/{train,test}/{JPEGImages,SegmentationClass,SegmentationObject,ThermalImages},
    OUT/classes.yaml and OUT/preview.png. Thermal frames are float32 °C arrays.
    Scene colour is drawn independently of temperature.
    """
    from layergan.data.synth_writer import SynthSettings, write_dataset

    settings = SynthSettings(train=n_train, test=n_test, width=size[0], height=size[1], seed=seed)
    path = write_dataset(out, settings, workers=workers, overwrite=overwrite, progress=not quiet)
    click.echo(f"wrote {n_train + n_test} scenes to {path} (preview: {path / 'preview.png'})")
