"""Run configuration: dataclasses, serialized to YAML, saved at the start of a run and in every checkpoint.

Precedence, lowest first: these defaults < the method's published defaults < a named
profile (such as cpu-64) < the --config YAML file < command-line options. `registry.resolve`
applies them; nothing else builds a config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from layergan.errors import ConfigError


PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class ModelConfig:
    w_dim: int = 256  # style width (StyleGAN2 uses 512; 256 keeps CPU runs fast)
    channel_base: int = 8192  # synthesis channels at r: min(base / r, max)
    channel_max: int = 256
    d_channel_base: int = 4096  # residual discriminator channels
    d_channel_max: int = 256
    branch_divisor: int = 4  # layergan: branch width = last-block channels / divisor
    class_d_divisor: int = 4  # layergan: per-class critic width = d_channel_* / divisor (each sees one class)
    noise_skips: int = 8  # encoder-to-noise 1x1 convs (the paper's eight)
    random_noise: bool = False  # StyleGAN2's per-pixel noise in every synthesis layer, beside the skips
    input_skips: bool = False  # full-resolution synthesis layers take their skip from the input, not the half-res stem
    wide_skips: bool = False  # each skip feeds every channel of its layer a map of its own, not one map to all
    encoder_weights: str = "none"  # none | imagenet (downloads torchvision's ResNet-18 weights)
    ngf: int = 64  # pix2pix / ThermalGAN U-Net width
    ndf: int = 64  # PatchGAN width
    pix2pix_input: str = "rgb"  # rgb | rgb+seg


@dataclass
class LossConfig:
    l1: float = 100.0  # lambda_L1 (eq. 3)
    adv: float = 1.0  # lambda_adv (eq. 3)
    gp: float = 10.0  # lambda_GP (eq. 2; WGAN-GP's published value)
    gp_interval: int = 4  # lazy GP (StyleGAN2): every k steps, weighted by k; stable with the tanh output (benchmarks/lazy_gp.py)
    drift: float = 0.001  # epsilon-drift on real critic scores (ProGAN), keeps WGAN scores bounded
    l1_blur: float = 0.0  # > 0: L1 on the error low-passed by a Gaussian of this sigma (px), so it leaves the detail to the critics
    stage1_l1: float = 100.0  # ThermalGAN stage-1 temperature L1
    class_adv_weights: dict[str, float] = field(default_factory=dict)  # layergan: per-class critic weights
    class_l1_weights: dict[str, float] = field(default_factory=dict)  # layergan: per-class L1 weights


@dataclass
class OptimConfig:
    lr_g: float = 0.001  # ProGAN's WGAN-GP with equalized lr; StyleGAN2's 0.002 diverged at 64 px
    lr_d: float = 0.001
    beta1: float = 0.0
    beta2: float = 0.99
    lr_encoder: float | None = None  # the style encoder's lr (None: lr_g); the GPU profiles use pSp's 1e-4
    class_lr: dict[str, float] = field(default_factory=dict)  # layergan: per-class lr multipliers (branch + D)


@dataclass
class TrainConfig:
    method: str = "layergan"
    data: str = ""
    out: str = ""
    size: int = 64  # output resolution (power of two, 32..512)
    batch: int = 8  # global batch, split evenly across ranks
    steps: int = 2000
    seed: int = 0
    encoding: str = "residual"  # absolute | residual (see docs/data.md)
    workers: int = 2  # DataLoader workers per rank
    log_every: int = 20
    sample_every: int = 200
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    ema_half_life_images: float = 2000.0  # G_ema half-life (StyleGAN2's ema_kimg, in images); 0 = no EMA
    ema_rampup: float = 0.05  # half-life <= images seen * rampup, for short runs
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | bf16 (autocast + channels_last) | fp32
    compile: bool = False  # torch.compile the generator and discriminators
    deterministic: bool = False  # torch.use_deterministic_algorithms (exact resume on CPU)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def validate(self, world_size: int = 1) -> None:
        if self.size < 32 or self.size > 512 or self.size & (self.size - 1):
            raise ConfigError(f"size must be a power of two from 32 to 512, got {self.size}")
        if self.batch < 1 or self.batch % world_size:
            raise ConfigError(f"batch {self.batch} must be >= 1 and divisible by the number of processes {world_size}")
        if self.ema_half_life_images < 0:
            raise ConfigError(f"ema_half_life_images must be >= 0 (0 = no EMA), got {self.ema_half_life_images}")
        if self.steps < 0:
            raise ConfigError(f"steps must be >= 0, got {self.steps}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.encoding not in ("absolute", "residual"):
            raise ConfigError(f"encoding must be absolute or residual, got {self.encoding!r}")
        for name in ("log_every", "sample_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0 (0 loads data in the main process), got {self.workers}")
        for name in ("lr_g", "lr_d") + (("lr_encoder",) if self.optim.lr_encoder is not None else ()):
            value = getattr(self.optim, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"optim.{name} (--lr) must be a positive number, got {value}")
        for name, value in self.optim.class_lr.items():
            if not (math.isfinite(float(value)) and float(value) > 0):
                raise ConfigError(f"optim.class_lr.{name} must be a positive number, got {value}")
        for name in ("l1", "adv", "gp", "drift", "stage1_l1", "l1_blur"):
            value = getattr(self.loss, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"loss.{name} must be a number >= 0, got {value}")
        if not 0 <= self.optim.beta1 < 1 or not 0 <= self.optim.beta2 < 1:
            raise ConfigError(f"optim.beta1 and beta2 must lie in [0, 1), got {self.optim.beta1}, {self.optim.beta2}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _number(value, kind: type, where: str):
    """`value` as an int or float; an int field refuses 2.5 rather than truncating it to 2."""
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a number, got {value!r}") from None
    if kind is int:
        if not number.is_integer():
            raise ConfigError(f"{where} must be a whole number, got {value!r}")
        return int(number)
    return number


def merge(config: TrainConfig, overrides: dict[str, Any], source: str) -> TrainConfig:
    """Apply nested overrides ({'optim': {'lr_g': 1e-4}, 'steps': 10}), refusing unknown keys."""
    def apply(obj, values: dict, prefix: str):
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: {prefix.rstrip('.') or 'config'} must be a mapping")
        known = {f.name: f for f in dataclasses.fields(obj)}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"{source}: unknown option {prefix}{key}; known: {', '.join(known)}")
            current = getattr(obj, key)
            if dataclasses.is_dataclass(current):
                apply(current, value, f"{prefix}{key}.")
            else:
                if isinstance(current, bool) and not isinstance(value, bool):
                    raise ConfigError(f"{source}: {prefix}{key} must be true or false, got {value!r}")
                if isinstance(current, (int, float)) and not isinstance(current, bool):
                    value = _number(value, type(current), f"{source}: {prefix}{key}")
                elif current is None and value is not None and known[key].type in ("float | None", float):
                    value = _number(value, float, f"{source}: {prefix}{key}")
                setattr(obj, key, value)

    result = dataclasses.replace(config, model=dataclasses.replace(config.model),
                                 loss=dataclasses.replace(config.loss), optim=dataclasses.replace(config.optim))
    apply(result, overrides, "")
    return result


def from_dict(data: dict, source: str = "config") -> TrainConfig:
    return merge(TrainConfig(), data, source)


def load_yaml(path: str | Path) -> dict:
    """A YAML file of config values, as a mapping; errors name the file."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of options, got {type(values).__name__}")
    return values
