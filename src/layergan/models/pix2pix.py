"""pix2pix networks (Isola et al. 2017): the U-Net generator and the 70x70 PatchGAN.

Published defaults: ngf = ndf = 64, batch norm, dropout 0.5 in the log2(S) - 5
decoder blocks next to the bottleneck (3 in unet_256), 4x4 stride-2 convolutions, LeakyReLU 0.2 in the encoder, ReLU in the
decoder, tanh output; the U-Net has log2(S) downsamplings (unet_256 has 8, and 9 at 512).
PatchGAN: 3 stride-2 layers and 2 stride-1 layers, 70x70 receptive field.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from layergan.data.batch import condition_channels, gather_condition


class UNetLevel(nn.Module):
    """One U-Net level: down conv, the inner levels, up conv, and the skip concatenation."""

    def __init__(self,
                 outer_channels: int,  # channels entering (and, doubled by the skip, leaving) the level
                 inner_channels: int,  # channels after the down conv
                 inner: nn.Module | None,  # the next level in, or None at the bottleneck
                 input_channels: int | None = None,  # outermost only: image channels in
                 output_channels: int | None = None,  # outermost only: image channels out
                 dropout: bool = False):  # dropout 0.5 after the up conv
        super().__init__()
        outermost = output_channels is not None
        down_in = input_channels if input_channels is not None else outer_channels
        down = [nn.Conv2d(down_in, inner_channels, 4, 2, 1, bias=False)]
        if not outermost:
            down = [nn.LeakyReLU(0.2, True)] + down
        if inner is not None and not outermost:
            down.append(nn.BatchNorm2d(inner_channels))
        up_in = inner_channels if inner is None else inner_channels * 2
        if outermost:
            up = [nn.ReLU(True), nn.ConvTranspose2d(up_in, output_channels, 4, 2, 1), nn.Tanh()]
        else:
            up = [nn.ReLU(True), nn.ConvTranspose2d(up_in, outer_channels, 4, 2, 1, bias=False),
                  nn.BatchNorm2d(outer_channels)]
            if dropout:
                up.append(nn.Dropout(0.5))
        self.outermost = outermost
        self.model = nn.Sequential(*down, *([inner] if inner is not None else []), *up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        return y if self.outermost else torch.cat([x, y], dim=1)


class UNetGenerator(nn.Module):
    def __init__(self,
                 in_channels: int,  # input image channels
                 out_channels: int,  # output channels
                 resolution: int,  # S; the U-Net has log2(S) downsamplings down to 1x1
                 ngf: int = 64):  # filters in the outermost layer
        super().__init__()
        self.depth = int(math.log2(resolution))
        assert 2**self.depth == resolution and self.depth >= 5, resolution
        level = UNetLevel(ngf * 8, ngf * 8, None)  # bottleneck
        for _ in range(self.depth - 5):  # the innermost-but-one levels; the first three have dropout
            level = UNetLevel(ngf * 8, ngf * 8, level, dropout=True)
        for mult in (4, 2, 1):
            level = UNetLevel(ngf * mult, ngf * mult * 2, level)
        self.model = UNetLevel(ngf, ngf, level, input_channels=in_channels, output_channels=out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Pix2PixGenerator(nn.Module):
    """The U-Net on the named batch inputs, returning {"thermal": ...} like every generator."""

    def __init__(self,
                 input_keys: tuple[str, ...],  # batch entries concatenated as the input ("rgb", optionally "seg")
                 num_classes: int,  # classes (only needed if the input has per-class masks)
                 resolution: int,  # output size S
                 ngf: int = 64):  # U-Net width
        super().__init__()
        self.init_kwargs = dict(input_keys=list(input_keys), num_classes=num_classes, resolution=resolution, ngf=ngf)
        self.input_keys = tuple(input_keys)
        self.net = UNetGenerator(condition_channels(self.input_keys, num_classes), 1, resolution, ngf)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"thermal": self.net(gather_condition(batch, self.input_keys))}


class PatchDiscriminator(nn.Module):
    """PatchGAN: an (N, 1, h, w) map of real/fake logits, one per receptive-field patch."""

    def __init__(self,
                 in_channels: int,  # image + condition channels
                 ndf: int = 64,  # filters in the first layer
                 n_layers: int = 3):  # stride-2 layers after the first (3 gives 70x70)
        super().__init__()
        layers = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * mult),
                       nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=False), nn.BatchNorm2d(ndf * mult),
                   nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def receptive_field(module: nn.Module) -> int:
    """Receptive field of a chain of convolutions, computed from their kernels and strides."""
    field, jump = 1, 1
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            field += (layer.kernel_size[0] - 1) * jump
            jump *= layer.stride[0]
    return field


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """pix2pix's initialization: N(0, 0.02) conv weights, N(1, 0.02) batch-norm scales."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
