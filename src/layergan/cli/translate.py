from __future__ import annotations

import click


def echo_err(message: str) -> None:
    click.echo(message, err=True)


@click.command("translate")
@click.option("--checkpoint", required=True, type=click.Path(), help="A run folder (newest checkpoint) or a ckpt-* folder.")
@click.option("--input", "input_root", required=True, type=click.Path(),
              help="RGB + class + instance segmentation in any layout `prepare` reads: a dataset root or one split "
                   "folder. Never written to.")
@click.option("--layout", default="auto", show_default=True, type=click.Choice(["auto", "voc", "thermalgan"]))
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Output ThermalWorld VOC folder, apart from --input.")
@click.option("--temperatures",
              help='gt (from thermal frames), auto (sampled from training statistics), or "car=25,person=34.5" '
                   "[default: auto]. Only for methods that take temperatures (layergan, layergan-reduced, "
                   "seg2thermal).")
@click.option("--allow-extreme-temperatures", is_flag=True,
              help="Accept temperatures outside -100..500 °C (never below absolute zero).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for auto temperatures.")
@click.option("--batch", default=8, show_default=True, type=click.IntRange(min=1), help="Images per forward pass.")
@click.option("--device", default="auto", show_default=True,
              help="auto (CUDA when available), cpu, cuda or cuda:N.")
@click.option("--method", "expect_method", help="Refuse checkpoints of any other method.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def translate_command(checkpoint, input_root, layout, out, temperatures, allow_extreme_temperatures, seed, batch,
                      device, expect_method, quiet):
    """Synthesize thermal images (°C) for new inputs at the temperatures you choose.

    Writes OUT/<split>/{JPEGImages,SegmentationClass,SegmentationObject,ThermalImages,Previews};
    the output keeps each input's size and can be prepared and trained on directly.
    """
    from layergan.compat import resolve_device
    from layergan.translate import translate

    device = resolve_device(device)
    echo_err(f"device: {device}")
    result = translate(checkpoint, input_root, out, layout, temperatures, seed, batch, device, progress=not quiet,
                       expect_method=expect_method, allow_extreme=allow_extreme_temperatures, warn=echo_err)
    click.echo(f"translated {result['images']} images to {out} ({result['images_per_s']:.1f} images/s)")
