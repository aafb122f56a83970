"""ResNet-18 encoder -> W+ styles and noise maps for the synthesis network (the paper's section 3.2).

W+ is read off a feature pyramid as in pSp (Richardson et al. 2021): coarse styles
from stage 4, middle styles from stage 3 merged with upsampled stage 4, fine
styles from stage 2 merged with that; each style has its own map2style head
(stride-2 convs down to 1x1, then a linear layer). The class temperature vector T
is added to every style through a small MLP. Noise inputs come from the encoder's
feature maps through 1x1 convolutions, resized with nearest interpolation.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from layergan.compat import import_torchvision
from layergan.errors import ConfigError
from layergan.models.stylegan2 import EqualizedLinear

# (name, channels, stride from the input) of the ResNet-18 feature maps we tap
FEATURES = (("stem", 64, 2), ("layer1", 64, 4), ("layer2", 128, 8), ("layer3", 256, 16), ("layer4", 512, 32))


class MapToStyle(nn.Module):
    """pSp's GradualStyleBlock: stride-2 3x3 convs until 1x1, then a linear layer."""

    def __init__(self,
                 in_channels: int,  # feature channels
                 w_dim: int,  # style width
                 spatial: int):  # input feature size (square)
        super().__init__()
        layers, channels = [], in_channels
        for _ in range(max(0, int(math.log2(max(spatial, 1))))):
            layers += [nn.Conv2d(channels, w_dim, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            channels = w_dim
        self.convs = nn.Sequential(*layers)
        self.linear = EqualizedLinear(channels, w_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x)
        return self.linear(x.mean(dim=[2, 3]))  # already 1x1 unless the input was not square


def build_resnet18(in_channels: int, weights: str):
    torchvision = import_torchvision()
    if weights not in ("none", "imagenet"):
        raise ConfigError(f"encoder weights must be none or imagenet, got {weights!r}")
    net = torchvision.models.resnet18(weights="IMAGENET1K_V1" if weights == "imagenet" else None)
    old = net.conv1
    new = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    with torch.no_grad():
        if weights == "imagenet":  # inflate: keep RGB filters, give extra channels their mean, rescaled
            mean = old.weight.mean(dim=1, keepdim=True)
            new.weight.copy_(mean.repeat(1, in_channels, 1, 1) * 3.0 / in_channels)
            new.weight[:, : min(3, in_channels)] = old.weight[:, : min(3, in_channels)]
    net.conv1 = new
    net.fc = nn.Identity()
    return net


class StyleEncoder(nn.Module):
    def __init__(self,
                 in_channels: int,  # input tensor channels
                 t_dim: int,  # length of the temperature vector T (2 per class)
                 resolution: int,  # input size S
                 w_dim: int,  # style width
                 num_ws: int,  # number of styles (W+ rows)
                 coarse_ws: int,  # styles read from stage 4
                 middle_ws: int,  # styles read from stage 3 (+ stage 4)
                 noise_resolutions: list[int],  # resolution of each synthesis noise input
                 noise_skips: int = 8,  # 1x1 convs feeding the finest layers' noise (the paper uses 8)
                 weights: str = "none",  # "imagenet" downloads torchvision's weights
                 input_skips: bool = False,  # full-resolution layers take their skip from the input itself
                 noise_channels: list[int] | None = None):  # channels of each layer's skip map; None: 1 each
        """Without `input_skips`, the finest tap is the stem at half resolution, so the full-resolution layers
        get it upsampled (nearest): object parts reach the output no sharper than 2x2 pixels.

        With `noise_channels` set to the layers' widths, a skip feeds every channel of its layer its own map
        (as a U-Net's skip does) instead of the one map that StyleGAN2's noise broadcasts to all channels."""
        super().__init__()
        self.resnet = build_resnet18(in_channels, weights)
        self.num_ws, self.coarse, self.middle = num_ws, coarse_ws, middle_ws
        self.lateral3 = nn.Conv2d(256, w_dim, 1)
        self.lateral2 = nn.Conv2d(128, w_dim, 1)
        self.top = nn.Conv2d(512, w_dim, 1)
        size = {name: max(1, resolution // stride) for name, _, stride in FEATURES}
        self.styles = nn.ModuleList(
            [MapToStyle(w_dim, w_dim, size["layer4"]) for _ in range(coarse_ws)]
            + [MapToStyle(w_dim, w_dim, size["layer3"]) for _ in range(middle_ws)]
            + [MapToStyle(w_dim, w_dim, size["layer2"]) for _ in range(num_ws - coarse_ws - middle_ws)]
        )
        self.temperature_mlp = nn.Sequential(EqualizedLinear(t_dim, w_dim), nn.LeakyReLU(0.2),
                                             EqualizedLinear(w_dim, w_dim))
        # noise skips feed the finest `noise_skips` synthesis layers; coarser ones get no noise
        self.noise_resolutions = noise_resolutions
        first = max(0, len(noise_resolutions) - noise_skips)
        self.noise_sources: list[str | None] = [None] * first
        noise_channels = noise_channels or [1] * len(noise_resolutions)
        assert len(noise_channels) == len(noise_resolutions), (noise_channels, noise_resolutions)
        convs = []
        for res, out_channels in zip(noise_resolutions[first:], noise_channels[first:]):
            name, channels = ("input", in_channels) if input_skips and res >= resolution else \
                self._source_for(res, resolution)
            self.noise_sources.append(name)
            convs.append(nn.Conv2d(channels, out_channels, 1))
        self.noise_convs = nn.ModuleList(convs)

    @staticmethod
    def _source_for(layer_resolution: int, input_resolution: int) -> tuple[str, int]:
        """The coarsest tapped feature map at least as fine as the layer, else the finest one."""
        for name, channels, stride in reversed(FEATURES):
            if input_resolution // stride >= layer_resolution:
                return name, channels
        return FEATURES[0][0], FEATURES[0][1]

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        r = self.resnet
        stem = r.relu(r.bn1(r.conv1(x)))
        layer1 = r.layer1(r.maxpool(stem))
        layer2 = r.layer2(layer1)
        layer3 = r.layer3(layer2)
        layer4 = r.layer4(layer3)
        return {"stem": stem, "layer1": layer1, "layer2": layer2, "layer3": layer3, "layer4": layer4}

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
        f = {**self.features(x), "input": x}
        p4 = self.top(f["layer4"])
        p3 = F.interpolate(p4, size=f["layer3"].shape[-2:], mode="bilinear", align_corners=False) + self.lateral3(f["layer3"])
        p2 = F.interpolate(p3, size=f["layer2"].shape[-2:], mode="bilinear", align_corners=False) + self.lateral2(f["layer2"])
        sources = [p4] * self.coarse + [p3] * self.middle + [p2] * (self.num_ws - self.coarse - self.middle)
        ws = torch.stack([head(src) for head, src in zip(self.styles, sources)], dim=1)
        ws = ws + self.temperature_mlp(t.to(ws.dtype)).unsqueeze(1)
        noises: list[torch.Tensor | None] = []
        conv_index = 0
        for res, source in zip(self.noise_resolutions, self.noise_sources):
            if source is None:
                noises.append(None)
                continue
            noise = self.noise_convs[conv_index](f[source])
            conv_index += 1
            noises.append(F.interpolate(noise, size=(res, res), mode="nearest"))
        return ws, noises
