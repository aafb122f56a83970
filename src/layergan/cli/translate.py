from __future__ import annotations

import click


@click.command("translate")
@click.option("--checkpoint", required=True, type=click.Path(), help="A run folder (newest checkpoint) or a ckpt-* folder.")
@click.option("--input", "input_root", required=True, type=click.Path(), help="RGB + class + instance segmentation, any layout `prepare` reads.")
@click.option("--layout", default="auto", show_default=True, type=click.Choice(["auto", "voc", "thermalgan"]))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output ThermalWorld VOC folder.")
@click.option("--temperatures", default="auto", show_default=True,
              help='gt (from thermal frames), auto (sampled from training statistics), or "car=25,person=34.5".')
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for auto temperatures.")
@click.option("--batch", default=8, show_default=True, type=int, help="Images per forward pass.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--method", "expect_method", help="Refuse checkpoints of any other method.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def translate_command(checkpoint, input_root, layout, out, temperatures, seed, batch, device, expect_method, quiet):
    """Synthesize thermal images (°C) for new inputs at the temperatures you choose.

    Writes OUT/<split>/{JPEGImages,SegmentationClass,SegmentationObject,ThermalImages,Previews};
    the output keeps each input's size and can be prepared and trained on directly.
    """
    from layergan.translate import translate

    result = translate(checkpoint, input_root, out, layout, temperatures, seed, batch, device, progress=not quiet,
                       expect_method=expect_method)
    click.echo(f"translated {result['images']} images to {out} ({result['images_per_s']:.1f} images/s)")
