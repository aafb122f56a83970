from __future__ import annotations

import os

import click


@click.command("studio")
@click.option("--checkpoint", required=True, type=click.Path(),
              help="A layergan, layergan-reduced or seg2thermal run folder (newest checkpoint) or ckpt-* folder.")
@click.option("--data", type=click.Path(), help="Scenes to pick from: a prepared dataset, or any input that "
                                                "`translate` reads. Only files inside it are read. Without it, "
                                                "upload scenes on the page.")
@click.option("--layout", default="auto", show_default=True,
              type=click.Choice(["auto", "voc", "thermalgan", "mfnet", "pst900", "cityscapes"]),
              help="Layout of --data when it is not a prepared dataset.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The default serves this machine only; 0.0.0.0 serves the network.")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(1, 65535))
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
def studio_command(checkpoint, data, layout, host, port, device):
    """A local web page: pick or upload a scene, drag object temperatures, and watch the thermal image.

    One slider per class present, an ambient shift, and a slider for the object you click. Hover over a
    thermal view to read its temperature. Export writes the frame as translate does (.npy, 16-bit TIFF,
    8-bit PNG) with a JSON of the temperatures that `layergan translate --temperatures FILE.json`
    reproduces. See docs/studio.md.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a local tool: no calls home
    from layergan.compat import resolve_device
    from layergan.studio.page import launch
    from layergan.studio.session import Studio

    studio = Studio(checkpoint, data, str(resolve_device(device)), layout, warn=lambda m: click.echo(m, err=True))
    click.echo(f"layergan studio: {len(studio.library.names)} scenes; open http://{host}:{port} (Ctrl-C stops it)")
    launch(studio, host, port)
