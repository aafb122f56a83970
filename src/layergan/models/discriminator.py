"""StyleGAN2's residual discriminator (Karras et al. 2020), conditional by input concatenation.

Residual blocks with a 1x1 skip, minibatch standard deviation, equalized
learning rate, no normalization layers. Downsampling is 2x2 average pooling.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from layergan.models.stylegan2 import EqualizedConv2d, EqualizedLinear, channels_at, lrelu


class ResidualBlock(nn.Module):
    def __init__(self,
                 in_channels: int,  # input channels
                 out_channels: int):  # output channels (resolution halves)
        super().__init__()
        self.conv0 = EqualizedConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3, down=True)
        self.skip = EqualizedConv2d(in_channels, out_channels, 1, bias=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = lrelu(self.conv1(lrelu(self.conv0(x))))
        return (self.skip(x) + y) / math.sqrt(2.0)


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append one channel: the std over groups of samples, averaged over features and pixels."""
    n, c, h, w = x.shape
    g = min(group_size, n)
    while n % g:
        g -= 1
    y = x.float().reshape(g, n // g, c, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()
    y = y.mean(dim=[1, 2, 3]).reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y.to(x.dtype)], dim=1)


class ResidualDiscriminator(nn.Module):
    """Maps an (N, in_channels, S, S) image+condition tensor to (N,) critic scores."""

    def __init__(self,
                 in_channels: int,  # image + condition channels
                 resolution: int,  # input size S (power of two >= 8)
                 channel_base: int = 16384,  # channels at r: min(base / r, max)
                 channel_max: int = 512,  # channel cap
                 mbstd_group: int = 4):  # minibatch-stddev group size
        super().__init__()
        self.mbstd_group = mbstd_group
        self.from_image = EqualizedConv2d(in_channels, channels_at(resolution, channel_base, channel_max), 1)
        blocks, res = [], resolution
        while res > 4:
            blocks.append(ResidualBlock(channels_at(res, channel_base, channel_max),
                                        channels_at(res // 2, channel_base, channel_max)))
            res //= 2
        self.blocks = nn.Sequential(*blocks)
        c4 = channels_at(4, channel_base, channel_max)
        self.conv = EqualizedConv2d(c4 + 1, c4, 3)
        self.fc = EqualizedLinear(c4 * 16, c4)
        self.out = EqualizedLinear(c4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(lrelu(self.from_image(x)))
        x = lrelu(self.conv(minibatch_stddev(x, self.mbstd_group)))
        return self.out(lrelu(self.fc(x.flatten(1)))).squeeze(1)
