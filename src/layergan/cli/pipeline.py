from __future__ import annotations

import click


@click.command("pipeline")
@click.option("--out", default="runs/demo", show_default=True, type=click.Path(file_okay=False), help="Everything goes here.")
@click.option("--profile", default="demo", show_default=True, type=click.Choice(["demo", "benchmark", "smoke"]),
              help="demo: the README's main job, 150 steps per method (6-12 min on 2 cores). benchmark: the same "
                   "data, 250 steps (the quality benchmark's budget). smoke: tiny sizes, the same code path (CI).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--fid-weights", type=click.Path(dir_okay=False), help="Inception weights for FID (else FID only if cached).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def pipeline_command(out, profile, seed, fid_weights, quiet):
    """The main job on the embedded dataset: synth-data, prepare, train layergan and
    pix2pix with equal step budgets, evaluate, and translate held-out scenes."""
    from layergan.pipeline import run_pipeline

    report = run_pipeline(out, profile, seed, fid_weights, progress=not quiet, say=click.echo)
    click.echo(f"report: {report}")
