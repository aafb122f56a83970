from __future__ import annotations

import os

import click

from layergan.cli.source_options import folder_spec, input_units, load_source_classes, source_options


def echo_err(message: str) -> None:
    click.echo(message, err=True)


@click.command("translate")
@click.option("--checkpoint", required=True, type=click.Path(), help="A run folder (newest checkpoint) or a ckpt-* folder.")
@click.option("--input", "input_root", required=True, type=click.Path(),
              help="RGB + class + instance segmentation in any layout `prepare` reads: a dataset root or one split "
                   "folder. Never written to.")
@click.option("--layout", default="auto", show_default=True,
              type=click.Choice(["auto", "voc", "thermalgan", "mfnet", "pst900", "cityscapes", "folders"]),
              help="Input layout (docs/real-data.md). Cityscapes classes map onto the model's with a built-in "
                   "table (person and rider -> person, car, truck, bus, building, road, vegetation -> tree); "
                   "--class-map overrides it.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Output ThermalWorld VOC folder, apart from --input.")
@click.option("--temperatures",
              help='gt (from thermal frames), auto (sampled from training statistics), "car=25,person=34.5", or '
                   "a studio export (FILE.json: its one scene, exactly as `layergan studio` showed it) "
                   "[default: auto]. Only for methods that take temperatures (layergan, layergan-reduced, "
                   "seg2thermal).")
@click.option("--allow-extreme-temperatures", is_flag=True,
              help="Accept temperatures outside -100..500 °C (never below absolute zero).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for auto temperatures.")
@click.option("--batch", default=8, show_default=True, type=click.IntRange(min=1), help="Images per forward pass.")
@click.option("--device", default="auto", show_default=True,
              help="auto (CUDA when available), cpu, cuda or cuda:N.")
@click.option("--format", "formats", default="npy,preview", show_default=True,
              help="One or more of npy (float32 °C), tiff16 (16-bit radiometric, centikelvin), png8 (8-bit white-hot "
                   "AGC, with a JSON sidecar of the window) and preview (colour with a °C colorbar), comma-separated.")
@click.option("--sensor", help='A camera model applied to the output, e.g. "netd=0.05,fpn=0.03,blur=0.8,size=640x512": '
                               "temporal noise and column noise (°C), optics blur (px), resampling to WIDTHxHEIGHT.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1),
              help="Threads reading inputs and writing outputs.")
@click.option("--method", "expect_method", help="Refuse checkpoints of any other method.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@source_options
def translate_command(checkpoint, input_root, layout, out, temperatures, allow_extreme_temperatures, seed, batch,
                      device, formats, sensor, workers, expect_method, quiet, class_map, source_classes_path, rgb_dir,
                      labels_dir, thermal_dir, thermal_units, calibration):
    """Synthesize thermal images (°C) for new inputs at the temperatures you choose.

    Writes OUT/<split>/{JPEGImages,SegmentationClass,SegmentationObject} and, per --format,
    ThermalImages (npy), Thermal16 (tiff16), Thermal8 (png8) and Previews. The output keeps each
    input's size (or the --sensor size) and can be prepared and trained on directly. A rerun skips
    the images whose outputs all exist. Under torchrun each rank translates its own share.
    """
    from layergan.compat import resolve_device
    from layergan.translate import shard, translate
    from layergan.translate.camera import parse_formats, parse_sensor

    rank, world = shard()
    device = resolve_device(device)
    if world > 1 and device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        device = resolve_device(f"cuda:{os.environ['LOCAL_RANK']}")  # one GPU per rank
    echo_err(f"device: {device}" + (f" (rank {rank} of {world})" if world > 1 else ""))
    folders = folder_spec(layout, rgb_dir, labels_dir, thermal_dir, need_thermal=False)
    result = translate(checkpoint, input_root, out, layout, temperatures, seed, batch, device, progress=not quiet,
                       expect_method=expect_method, allow_extreme=allow_extreme_temperatures, warn=echo_err,
                       formats=parse_formats(formats), sensor=parse_sensor(sensor), class_map=class_map,
                       source_classes=load_source_classes(source_classes_path), folders=folders, workers=workers,
                       input_units=input_units(thermal_units, calibration))
    click.echo(f"translated {result['images']} images to {out} ({result['images_per_s']:.1f} images/s)")
