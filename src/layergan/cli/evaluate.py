from __future__ import annotations

import click


@click.command("evaluate")
@click.option("--runs", required=True, multiple=True, type=click.Path(exists=True),
              help="Run folders or checkpoint folders; repeat the option for several.")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Prepared dataset.")
@click.option("--split", default="test", show_default=True, help="Split to evaluate on (no augmentation).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Report folder.")
@click.option("--fid-weights", type=click.Path(dir_okay=False),
              help="pytorch-fid Inception weights [default: torch hub cache, checkpoints/pt_inception-2015-12-05-6726825d.pth].")
@click.option("--fid-window", help="LOW,HIGH window mapped to 0..255 for FID [default: -20,60 °C; for uncalibrated "
                                   "data, the range of the training objects' mean values].")
@click.option("--no-fid", is_flag=True, help="Skip FID; compute the temperature metrics only.")
@click.option("--utility", is_flag=True,
              help="Also train a small segmenter on each run's translations of the training scenes and score it on "
                   "the real test frames (synthetic/real mIoU ratio; real+synthetic). Minutes per run on a CPU.")
@click.option("--utility-steps", default=300, show_default=True, type=click.IntRange(min=1),
              help="Training steps of each utility segmenter (batch 16).")
@click.option("--batch", default=8, show_default=True, type=click.IntRange(min=1), help="Batch size.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda or cuda:N.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def evaluate_command(runs, data, split, out, fid_weights, fid_window, no_fid, utility, utility_steps, batch, device,
                     quiet):
    """FID and temperature errors (°C) for each run's EMA generator; writes
    OUT/metrics.json, OUT/report.md and OUT/report.html with image grids."""
    from layergan.compat import resolve_device
    from layergan.errors import ConfigError
    from layergan.evaluation.evaluate import evaluate

    window = None
    if fid_window is not None:
        try:
            window = tuple(float(v) for v in fid_window.split(","))
            assert len(window) == 2 and window[1] > window[0]
        except (ValueError, AssertionError):
            raise ConfigError(f"--fid-window must be LOW,HIGH with LOW < HIGH, got {fid_window!r}") from None
    device = resolve_device(device)
    click.echo(f"device: {device}", err=True)
    evaluate(list(runs), data, out, split, fid_weights, not no_fid, window, batch, device, progress=not quiet,
             warn=lambda message: click.echo(message, err=True), utility=utility_steps if utility else 0)
    click.echo(f"report: {out}/report.html")
