"""The one registry of the five methods: the only module that knows them by name.

Each method declares its networks, its loss, its optimizer groups, its published defaults,
its named profiles (such as the CPU profile the demo uses), whether it has one critic per
class, and whether it takes temperatures (R and T) as input. `resolve` builds every config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch.nn as nn

from layergan.data.batch import condition_channels
from layergan.errors import ConfigError
from layergan.methods import names
from layergan.methods.config import TrainConfig, load_yaml, merge
from layergan.methods.losses import PER_CLASS_CONDITION, Autocast, Loss, Pix2PixLoss, ThermalGANLoss, WGANGPLoss
from layergan.models.discriminator import ClassCritics, ResidualDiscriminator
from layergan.models.generators import ConditionalStyleGenerator
from layergan.models.pix2pix import PatchDiscriminator, Pix2PixGenerator, init_normal
from layergan.models.thermalgan import ThermalGANGenerator

PROFILES_DIR = Path(__file__).parent.parent / "configs"


@dataclass
class Built:
    G: nn.Module
    Ds: nn.ModuleDict
    make_loss: Callable[[nn.ModuleDict, Autocast], Loss]  # (the critics to train, autocast) -> loss
    param_groups: Callable[[nn.Module, nn.ModuleDict, TrainConfig], dict[str, list[dict]]]


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    build: Callable[[TrainConfig, tuple[str, ...]], Built]
    class_critics: bool  # one discriminator per class (ClassCritics, run as one batched network)
    takes_temperatures: bool  # R and T are inputs, so translate can set object temperatures
    defaults: dict = field(default_factory=dict)  # published defaults, over TrainConfig's
    profiles: dict[str, dict] = field(default_factory=dict)  # name -> overrides, over the defaults


SEG2THERMAL_INPUT = ("seg", "r")
LAYERGAN_INPUT = ("rgb", "seg", "r", "masks")
# Published: Adam 2e-4, betas (0.5, 0.999), lambda_L1 100; no weight averaging (half-life 0: G_ema = G).
PIX2PIX_DEFAULTS = {"optim": {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999}, "loss": {"l1": 100.0},
                    "encoding": "absolute", "ema_half_life_images": 0.0}
# The CPU profile narrows the style-based networks; the baselines keep their published widths in every profile.
STYLE_PROFILES = {name: load_yaml(PROFILES_DIR / f"{name}.yaml") for name in ("cpu-64", "gpu-256", "gpu-512")}
BASELINE_PROFILES = {"cpu-64": {"size": 64, "batch": 8}, "gpu-256": {"size": 256, "batch": 16},
                     "gpu-512": {"size": 512, "batch": 16}}


def _adam_groups(G, Ds, cfg):
    o = cfg.optim
    return {"G": [{"params": list(G.parameters()), "lr": o.lr_g}],
            "D": [{"params": list(Ds.parameters()), "lr": o.lr_d}]}


def _style_groups(G, Ds, cfg):
    """The style encoder at optim.lr_encoder (when set), the rest of G at lr_g."""
    o = cfg.optim
    if o.lr_encoder is None:
        return _adam_groups(G, Ds, cfg)
    encoder = list(G.encoder.parameters())
    ids = {id(p) for p in encoder}
    return {"G": [{"params": [p for p in G.parameters() if id(p) not in ids], "lr": o.lr_g, "name": "synthesis"},
                  {"params": encoder, "lr": o.lr_encoder, "name": "encoder"}],
            "D": [{"params": list(Ds.parameters()), "lr": o.lr_d}]}


def _layergan_groups(G, Ds, cfg, classes):
    """Per-class learning rates: branch k of G and critic k get lr * class_lr[k]."""
    o, critics = cfg.optim, Ds["classes"]
    branch_params = {c: G.synthesis.branch_parameters(k) for k, c in enumerate(classes)}
    in_branches = {id(p) for ps in branch_params.values() for p in ps}
    encoder = {id(p) for p in G.encoder.parameters()} if o.lr_encoder is not None else set()
    shared = [p for p in G.parameters() if id(p) not in in_branches and id(p) not in encoder]
    g_groups = [{"params": shared, "lr": o.lr_g, "name": "shared"}]
    if encoder:
        g_groups.append({"params": list(G.encoder.parameters()), "lr": o.lr_encoder, "name": "encoder"})
    g_groups += [{"params": ps, "lr": o.lr_g * o.class_lr.get(c, 1.0), "name": c} for c, ps in branch_params.items()]
    d_groups = [{"params": critics.group_parameters(k), "lr": o.lr_d * o.class_lr.get(c, 1.0), "name": c}
                for k, c in enumerate(classes)]
    return {"G": g_groups, "D": d_groups}


def _style_builder(input_keys, class_layers: bool):
    def build(cfg: TrainConfig, classes: tuple[str, ...]) -> Built:
        m, n = cfg.model, len(classes)
        G = ConditionalStyleGenerator(input_keys, n, cfg.size, m.w_dim, m.channel_base, m.channel_max,
                                      branches=n if class_layers else 1, branch_divisor=m.branch_divisor,
                                      noise_skips=m.noise_skips, random_noise=m.random_noise,
                                      input_skips=m.input_skips, wide_skips=m.wide_skips,
                                      encoder_weights=m.encoder_weights)
        if class_layers:  # one critic per class, run as one network of grouped layers
            Ds = nn.ModuleDict({"classes": ClassCritics(n, 2 + condition_channels(PER_CLASS_CONDITION, n), cfg.size,
                                                        m.d_channel_base // m.class_d_divisor,
                                                        max(8, m.d_channel_max // m.class_d_divisor))})
        else:
            Ds = nn.ModuleDict({"all": ResidualDiscriminator(1 + condition_channels(input_keys, n), cfg.size,
                                                             m.d_channel_base, m.d_channel_max)})
        unknown = set(cfg.loss.class_adv_weights) | set(cfg.loss.class_l1_weights) | set(cfg.optim.class_lr)
        if unknown - set(classes):
            raise ConfigError(f"per-class settings name unknown classes {sorted(unknown - set(classes))}; "
                              f"classes: {', '.join(classes)}")
        l = cfg.loss

        def make_loss(Ds, autocast):
            return WGANGPLoss(Ds, class_layers, input_keys, classes, l.l1, l.adv, l.gp, l.drift, l.gp_interval,
                              l.class_adv_weights, l.class_l1_weights, autocast, l.l1_blur)

        groups = (lambda G, Ds, cfg: _layergan_groups(G, Ds, cfg, classes)) if class_layers else _style_groups
        return Built(G, Ds, make_loss, groups)

    return build


def _pix2pix(cfg: TrainConfig, classes) -> Built:
    if cfg.model.pix2pix_input not in ("rgb", "rgb+seg"):
        raise ConfigError(f"model.pix2pix_input must be rgb or rgb+seg, got {cfg.model.pix2pix_input!r}")
    keys = ("rgb",) if cfg.model.pix2pix_input == "rgb" else ("rgb", "seg")
    G = Pix2PixGenerator(keys, len(classes), cfg.size, cfg.model.ngf)
    Ds = nn.ModuleDict({"all": PatchDiscriminator(condition_channels(keys, len(classes)) + 1, cfg.model.ndf)})
    init_normal(G)
    init_normal(Ds)
    return Built(G, Ds, lambda Ds, ac: Pix2PixLoss(Ds, keys, cfg.loss.l1, ac), _adam_groups)


def _thermalgan(cfg: TrainConfig, classes) -> Built:
    G = ThermalGANGenerator(cfg.size, cfg.encoding, cfg.model.ngf)
    Ds = nn.ModuleDict({"all": PatchDiscriminator(4 + 1, cfg.model.ndf)})
    init_normal(Ds)
    return Built(G, Ds, lambda Ds, ac: ThermalGANLoss(Ds, cfg.loss.l1, cfg.loss.stage1_l1, ac), _adam_groups)


METHODS: dict[str, Method] = {
    "pix2pix": Method("pix2pix", "U-Net + 70x70 PatchGAN, cGAN + 100 L1 (Isola et al. 2017)", _pix2pix,
                      class_critics=False, takes_temperatures=False, defaults=PIX2PIX_DEFAULTS,
                      profiles=BASELINE_PROFILES),
    "thermalgan": Method("thermalgan", "two-stage: object temperatures, then contrasts (Kniaz et al. 2018)",
                         _thermalgan, class_critics=False, takes_temperatures=False, defaults=PIX2PIX_DEFAULTS,
                         profiles=BASELINE_PROFILES),
    "seg2thermal": Method("seg2thermal", "approach 1: ResNet-18 encoder + StyleGAN2, input segmentation + R + T",
                          _style_builder(SEG2THERMAL_INPUT, False), class_critics=False, takes_temperatures=True,
                          profiles=STYLE_PROFILES),
    "layergan-reduced": Method("layergan-reduced", "approach 2's input, one output layer and one discriminator",
                               _style_builder(LAYERGAN_INPUT, False), class_critics=False, takes_temperatures=True,
                               profiles=STYLE_PROFILES),
    "layergan": Method("layergan", "approach 2: one generator layer and one discriminator per class",
                       _style_builder(LAYERGAN_INPUT, True), class_critics=True, takes_temperatures=True,
                       profiles=STYLE_PROFILES),
}
PROFILE_NAMES = tuple(sorted({name for m in METHODS.values() for name in m.profiles}))
assert tuple(METHODS) == names.METHOD_NAMES and PROFILE_NAMES == names.PROFILE_NAMES, "update methods/names.py"


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; valid methods: {', '.join(METHODS)}") from None


def resolve(method: str | None = None, config_path: str | Path | None = None,
            overrides: dict[str, Any] | None = None, profile: str | None = None,
            source: str = "command line") -> TrainConfig:
    """The run config. Precedence, lowest first: TrainConfig's defaults < the method's published
    defaults < the named profile < the YAML file at `config_path` < `overrides`.

    The method comes from `method`, else from the file's `method:`. Unknown keys are refused.
    """
    file_values = load_yaml(config_path) if config_path else {}
    name = method or file_values.get("method")
    if not name:
        raise ConfigError("--method is required (or `method:` in --config)")
    spec = get_method(name)
    layers = [(spec.defaults, f"method {name} defaults")]
    if profile is not None:
        if profile not in spec.profiles:
            raise ConfigError(f"unknown profile {profile!r} for {name}; profiles: {', '.join(spec.profiles)}")
        layers.append((spec.profiles[profile], f"profile {profile}"))
    layers += [(file_values, str(config_path)), (overrides or {}, source), ({"method": name}, "method")]
    cfg = TrainConfig()
    for values, where in layers:
        cfg = merge(cfg, values, where)
    return cfg
