"""StyleGAN2's residual discriminator (Karras et al. 2020), conditional by input concatenation.

Residual blocks with a 1x1 skip, minibatch standard deviation, equalized
learning rate, no normalization layers. Downsampling is 2x2 average pooling.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

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


def stddev_channel(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """(N, ..., C, H, W) -> (N, ..., 1, H, W): the std over groups of samples, averaged over C, H and W.

    Leading dims after N (the class critics' K) are kept apart: each gets its own statistic.
    """
    n, (h, w) = x.shape[0], x.shape[-2:]
    g = min(group_size, n)
    while n % g:
        g -= 1
    y = x.float().reshape(g, n // g, *x.shape[1:])
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()
    y = y.mean(dim=[-3, -2, -1], keepdim=True).repeat(g, *[1] * (x.ndim - 1))
    return y.expand(*y.shape[:-2], h, w).to(x.dtype)


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append one channel: the std over groups of samples, averaged over features and pixels."""
    return torch.cat([x, stddev_channel(x, group_size)], dim=1)


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


class GroupedConv2d(nn.Module):
    """K independent equalized-lr convolutions run as one grouped convolution.

    Each group keeps its own Parameter, so that each class can have its own optimizer group; they are
    concatenated at run time (as the generator's class branches are).
    """

    def __init__(self,
                 groups: int,  # independent convolutions (classes)
                 in_channels: int,  # input channels per group
                 out_channels: int,  # output channels per group
                 kernel_size: int,  # square kernel width
                 bias: bool = True,  # learn a per-channel bias
                 down: bool = False):  # halve the resolution after the convolution
        super().__init__()
        self.groups, self.padding, self.down = groups, kernel_size // 2, down
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
                                         for _ in range(groups)])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(out_channels)) for _ in range(groups)]) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)

    def group_parameters(self, k: int) -> list[nn.Parameter]:
        return [self.weights[k]] + ([self.biases[k]] if self.biases is not None else [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = torch.cat(list(self.weights)) * self.weight_gain
        bias = torch.cat(list(self.biases)) if self.biases is not None else None
        x = F.conv2d(x, weight, bias, padding=self.padding, groups=self.groups)
        return F.avg_pool2d(x, 2) if self.down else x


class GroupedLinear(nn.Module):
    """K independent equalized-lr linear layers on (N, K, in) -> (N, K, out)."""

    def __init__(self,
                 groups: int,  # independent layers (classes)
                 in_features: int,  # input width per group
                 out_features: int):  # output width per group
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(out_features, in_features)) for _ in range(groups)])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(out_features)) for _ in range(groups)])
        self.weight_gain = 1.0 / math.sqrt(in_features)

    def group_parameters(self, k: int) -> list[nn.Parameter]:
        return [self.weights[k], self.biases[k]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = torch.stack(list(self.weights)) * self.weight_gain  # (K, out, in)
        return torch.einsum("nki,koi->nko", x, weight.to(x.dtype)) + torch.stack(list(self.biases)).to(x.dtype)


class GroupedResidualBlock(nn.Module):
    def __init__(self,
                 groups: int,  # classes
                 in_channels: int,  # input channels per class
                 out_channels: int):  # output channels per class (resolution halves)
        super().__init__()
        self.conv0 = GroupedConv2d(groups, in_channels, in_channels, 3)
        self.conv1 = GroupedConv2d(groups, in_channels, out_channels, 3, down=True)
        self.skip = GroupedConv2d(groups, in_channels, out_channels, 1, bias=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = lrelu(self.conv1(lrelu(self.conv0(x))))
        return (self.skip(x) + y) / math.sqrt(2.0)


class ClassCritics(nn.Module):
    """K residual discriminators, one per class, run as one network of grouped layers.

    Maps (N, K * in_channels, S, S), class k's input in channels [k * in, (k+1) * in), to (N, K) scores.
    Class k's critic is exactly a ResidualDiscriminator of the same widths: nothing mixes the groups
    (minibatch standard deviation is taken per class), so one pass replaces K critics in a row.
    """

    def __init__(self,
                 groups: int,  # classes K
                 in_channels: int,  # image + condition channels per class
                 resolution: int,  # input size S (power of two >= 8)
                 channel_base: int = 16384,  # channels per class at r: min(base / r, max)
                 channel_max: int = 512,  # channel cap per class
                 mbstd_group: int = 4):  # minibatch-stddev group size
        super().__init__()
        self.groups, self.mbstd_group = groups, mbstd_group
        self.from_image = GroupedConv2d(groups, in_channels, channels_at(resolution, channel_base, channel_max), 1)
        blocks, res = [], resolution
        while res > 4:
            blocks.append(GroupedResidualBlock(groups, channels_at(res, channel_base, channel_max),
                                               channels_at(res // 2, channel_base, channel_max)))
            res //= 2
        self.blocks = nn.Sequential(*blocks)
        c4 = channels_at(4, channel_base, channel_max)
        self.conv = GroupedConv2d(groups, c4 + 1, c4, 3)
        self.fc = GroupedLinear(groups, c4 * 16, c4)
        self.out = GroupedLinear(groups, c4, 1)

    def group_parameters(self, k: int) -> list[nn.Parameter]:
        layers = [m for m in self.modules() if isinstance(m, (GroupedConv2d, GroupedLinear))]
        return [p for layer in layers for p in layer.group_parameters(k)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, k = x.shape[0], self.groups
        x = self.blocks(lrelu(self.from_image(x)))
        c, h, w = x.shape[1] // k, x.shape[2], x.shape[3]
        x = x.reshape(n, k, c, h, w)
        x = torch.cat([x, stddev_channel(x, self.mbstd_group)], dim=2)
        x = lrelu(self.conv(x.reshape(n, k * (c + 1), h, w)))
        x = lrelu(self.fc(x.reshape(n, k, -1)))
        return self.out(x).squeeze(2)
