from __future__ import annotations

import click

from layergan.methods.names import METHOD_NAMES, PROFILE_NAMES


@click.command("train")
@click.option("--method", type=click.Choice(list(METHOD_NAMES)), help="The method to train (else `method:` in --config).")
@click.option("--data", type=click.Path(file_okay=False), help="A folder written by `layergan prepare`.")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder: config, checkpoints, logs, samples.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="YAML with any TrainConfig fields (see docs/training.md); the command-line options win.")
@click.option("--profile", type=click.Choice(PROFILE_NAMES),
              help="Named settings under --config: cpu-64 is the narrow 64 px CPU profile the demo uses.")
@click.option("--size", type=int, help="Output resolution, a power of two from 32 to 512 [default: 64].")
@click.option("--batch", type=int, help="Global batch size, split across processes [default: 8].")
@click.option("--steps", type=int, help="Total optimizer steps [default: 2000].")
@click.option("--lr", type=float, help="Learning rate of G and D (else the method's default).")
@click.option("--seed", type=int, help="Seed for weights, data order and augmentation [default: 0].")
@click.option("--workers", type=int, help="DataLoader workers per process [default: 2].")
@click.option("--encoding", type=click.Choice(["absolute", "residual"]), help="Target temperature encoding.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue from the newest intact checkpoint in --out, if any.")
@click.option("--restart", is_flag=True,
              help="Train from step 0 even though --out holds checkpoints, deleting them (for example when all "
                   "are corrupt).")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and exit.")
@click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]),
              help="bf16: autocast and channels_last; fp32: neither [default: auto = bf16 on CUDA, fp32 on CPU].")
@click.option("--fp32", is_flag=True, default=None, help="The same as --precision fp32.")
@click.option("--compile", "compile_", is_flag=True, default=None, help="torch.compile G and D.")
@click.option("--deterministic", is_flag=True, default=None, help="Deterministic algorithms (exact resume on CPU).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_command(method, data, out, config_path, profile, size, batch, steps, lr, seed, workers, encoding, resume, restart, dry_run,
                  precision, fp32, compile_, deterministic, quiet):
    """Train one method. Runs on CPU, one GPU, or many with
    `torchrun --nproc_per_node=G -m layergan train ...` (DDP).

    Precedence: built-in defaults < the method's published defaults < --profile < --config < options.
    The resolved config is written to OUT/config.yaml. Ctrl-C or SIGTERM saves a
    checkpoint and exits 0; running the same command again resumes exactly.
    """
    from layergan.errors import ConfigError
    from layergan.methods.registry import resolve

    cli = {k: v for k, v in dict(data=data, out=out, size=size, batch=batch, steps=steps, seed=seed,
                                 workers=workers, encoding=encoding, precision="fp32" if fp32 else precision,
                                 compile=compile_,
                                 deterministic=deterministic).items() if v is not None}
    if lr is not None:
        cli["optim"] = {"lr_g": lr, "lr_d": lr}
    cfg = resolve(method, config_path, cli, profile=profile)
    cfg.validate()
    if dry_run:
        click.echo(cfg.to_yaml(), nl=False)
        return
    for name in ("data", "out"):
        if not getattr(cfg, name):
            raise ConfigError(f"--{name} is required")
    from layergan.evaluation.monitor import training_monitor
    from layergan.training.trainer import Trainer

    result = Trainer(cfg, resume=resume, progress=not quiet, monitor=training_monitor(), restart=restart).run()
    state = "interrupted; run again to resume" if result["interrupted"] else "done"
    mae = result["metrics"].get("held_out_mae_final")
    click.echo(f"{state}: step {result['step']} in {cfg.out}" + (f", held-out MAE {mae:.2f} °C" if mae else ""))
