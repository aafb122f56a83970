"""The explicit registry of the five methods: name -> builder of G, the discriminators and the loss.

Each method also carries its published defaults, applied before the user's config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch.nn as nn

from layergan.errors import ConfigError
from layergan.models.discriminator import ResidualDiscriminator
from layergan.models.generators import ConditionalStyleGenerator, condition_channels, gather_condition
from layergan.models.pix2pix import PatchDiscriminator, UNetGenerator, init_normal
from layergan.models.thermalgan import ThermalGANGenerator
from layergan.training.config import TrainConfig, merge
from layergan.training.losses import PER_CLASS_CONDITION, Pix2PixLoss, ThermalGANLoss, WGANGPLoss


@dataclass
class Built:
    G: nn.Module
    Ds: nn.ModuleDict
    make_loss: Callable[[nn.Module, nn.ModuleDict, Callable], object]  # (G, Ds, autocast) -> loss
    param_groups: Callable[[nn.Module, nn.ModuleDict, TrainConfig], dict[str, list[dict]]]


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    build: Callable[[TrainConfig, tuple[str, ...]], Built]
    defaults: dict = field(default_factory=dict)


SEG2THERMAL_INPUT = ("seg", "r")
LAYERGAN_INPUT = ("rgb", "seg", "r", "masks")
# Published: Adam 2e-4, betas (0.5, 0.999), lambda_L1 100; no weight averaging (half-life 0: G_ema = G).
PIX2PIX_DEFAULTS = {"optim": {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999}, "loss": {"l1": 100.0},
                    "encoding": "absolute", "ema_half_life_images": 0.0}


def _adam_groups(G, Ds, cfg):
    o = cfg.optim
    return {"G": [{"params": list(G.parameters()), "lr": o.lr_g}],
            "D": [{"params": list(Ds.parameters()), "lr": o.lr_d}]}


def _layergan_groups(G, Ds, cfg):
    """Per-class learning rates: branch k of G and critic k get lr * class_lr[k]."""
    o, classes = cfg.optim, list(Ds.keys())
    branch_params = {c: G.synthesis.branch_parameters(k) for k, c in enumerate(classes)}
    in_branches = {id(p) for ps in branch_params.values() for p in ps}
    shared = [p for p in G.parameters() if id(p) not in in_branches]
    g_groups = [{"params": shared, "lr": o.lr_g, "name": "shared"}]
    g_groups += [{"params": ps, "lr": o.lr_g * o.class_lr.get(c, 1.0), "name": c} for c, ps in branch_params.items()]
    d_groups = [{"params": list(D.parameters()), "lr": o.lr_d * o.class_lr.get(name, 1.0), "name": name}
                for name, D in Ds.items()]
    return {"G": g_groups, "D": d_groups}


def _style_builder(input_keys, per_class_layers: bool):
    def build(cfg: TrainConfig, classes: tuple[str, ...]) -> Built:
        m, n = cfg.model, len(classes)
        G = ConditionalStyleGenerator(input_keys, n, cfg.size, m.w_dim, m.channel_base, m.channel_max,
                                      branches=n if per_class_layers else 1, branch_divisor=m.branch_divisor,
                                      noise_skips=m.noise_skips, encoder_weights=m.encoder_weights)
        if per_class_layers:
            d_in = 2 + condition_channels(PER_CLASS_CONDITION, n)
            Ds = nn.ModuleDict({c: ResidualDiscriminator(d_in, cfg.size, m.d_channel_base // m.class_d_divisor,
                                                         max(8, m.d_channel_max // m.class_d_divisor))
                                for c in classes})
        else:
            Ds = nn.ModuleDict({"all": ResidualDiscriminator(1 + condition_channels(input_keys, n), cfg.size,
                                                             m.d_channel_base, m.d_channel_max)})
        unknown = set(cfg.loss.class_adv_weights) | set(cfg.loss.class_l1_weights) | set(cfg.optim.class_lr)
        if unknown - set(classes):
            raise ConfigError(f"per-class settings name unknown classes {sorted(unknown - set(classes))}; "
                              f"classes: {', '.join(classes)}")
        l = cfg.loss

        def make_loss(G, Ds, autocast):
            return WGANGPLoss(G, Ds, input_keys, classes, l.l1, l.adv, l.gp, l.drift, l.class_adv_weights,
                              l.class_l1_weights, autocast, gp_interval=l.gp_interval)

        return Built(G, Ds, make_loss, _layergan_groups if per_class_layers else _adam_groups)

    return build


def _pix2pix(cfg: TrainConfig, classes) -> Built:
    keys = ("rgb",) if cfg.model.pix2pix_input == "rgb" else ("rgb", "seg")
    if cfg.model.pix2pix_input not in ("rgb", "rgb+seg"):
        raise ConfigError(f"model.pix2pix_input must be rgb or rgb+seg, got {cfg.model.pix2pix_input!r}")
    G = _InputSelect(UNetGenerator(condition_channels(keys, len(classes)), 1, cfg.size, cfg.model.ngf), keys)
    Ds = nn.ModuleDict({"all": PatchDiscriminator(condition_channels(keys, len(classes)) + 1, cfg.model.ndf)})
    init_normal(G)
    init_normal(Ds)
    return Built(G, Ds, lambda G, Ds, ac: Pix2PixLoss(G, Ds, keys, cfg.loss.l1, ac), _adam_groups)


def _thermalgan(cfg: TrainConfig, classes) -> Built:
    G = ThermalGANGenerator(cfg.size, cfg.encoding, cfg.model.ngf)
    Ds = nn.ModuleDict({"all": PatchDiscriminator(4 + 1, cfg.model.ndf)})
    init_normal(Ds)
    return Built(G, Ds, lambda G, Ds, ac: ThermalGANLoss(G, Ds, cfg.loss.l1, cfg.loss.stage1_l1, ac), _adam_groups)


class _InputSelect(nn.Module):
    """Wraps an image-to-image net so that it takes the batch dict like every generator."""

    def __init__(self, net: nn.Module, keys: tuple[str, ...]):
        super().__init__()
        self.net, self.input_keys = net, keys

    def forward(self, batch):
        return {"thermal": self.net(gather_condition(batch, self.input_keys))}


METHODS: dict[str, Method] = {
    "pix2pix": Method("pix2pix", "U-Net + 70x70 PatchGAN, cGAN + 100 L1 (Isola et al. 2017)", _pix2pix,
                      PIX2PIX_DEFAULTS),
    "thermalgan": Method("thermalgan", "two-stage: object temperatures, then contrasts (Kniaz et al. 2018)",
                         _thermalgan, PIX2PIX_DEFAULTS),
    "seg2thermal": Method("seg2thermal", "approach 1: ResNet-18 encoder + StyleGAN2, input segmentation + R + T",
                          _style_builder(SEG2THERMAL_INPUT, False)),
    "layergan-reduced": Method("layergan-reduced", "approach 2's input, one output layer and one discriminator",
                               _style_builder(LAYERGAN_INPUT, False)),
    "layergan": Method("layergan", "approach 2: one generator layer and one discriminator per class",
                       _style_builder(LAYERGAN_INPUT, True)),
}


def method_config(name: str, *layers: tuple[dict, str]) -> TrainConfig:
    """Built-in defaults < the method's published defaults < each (overrides, source) layer in order."""
    cfg = merge(TrainConfig(), get_method(name).defaults, f"method {name} defaults")
    for overrides, source in layers:
        cfg = merge(cfg, overrides, source)
    return merge(cfg, {"method": name}, source="method")


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; valid methods: {', '.join(METHODS)}") from None
