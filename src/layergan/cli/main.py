"""Entry point: `layergan <command>`; each command lives in its own module."""

from __future__ import annotations

import click

from layergan import __version__
from layergan.cli.common import LayerganGroup
from layergan.cli.evaluate import evaluate_command
from layergan.cli.pipeline import pipeline_command
from layergan.cli.prepare import prepare_command
from layergan.cli.studio import studio_command
from layergan.cli.synth import synth_data
from layergan.cli.train import train_command
from layergan.cli.translate import translate_command


@click.group(cls=LayerganGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="layergan")
def main():
    """Synthesize thermal (LWIR) images from colour images and segmentation.

    \b
    Typical workflow:
      layergan synth-data --out data/raw         # or bring a ThermalWorld folder
      layergan prepare --src data/raw --out data/prepared
      layergan train --method layergan --data data/prepared --out runs/lg
      layergan evaluate --runs runs/lg --data data/prepared --out reports/lg
      layergan translate --checkpoint runs/lg --input new_scenes --out synthetic
      layergan studio --checkpoint runs/lg --data data/raw   # set temperatures in a web page
    """


main.add_command(synth_data)
main.add_command(prepare_command)
main.add_command(train_command)
main.add_command(evaluate_command)
main.add_command(translate_command)
main.add_command(pipeline_command)
main.add_command(studio_command)
