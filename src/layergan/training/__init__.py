"""Training: configs, losses, the generic loop, checkpoints, distributed helpers."""
