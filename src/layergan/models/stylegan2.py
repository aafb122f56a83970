"""StyleGAN2 synthesis network in plain PyTorch (Karras et al. 2020), with optional class branches.

Differences from the reference code, on purpose: upsampling is bilinear before
the 3x3 convolution instead of a transposed convolution with an FIR filter (no
custom kernels), and the last block can be split into K class branches whose
layers run as one grouped convolution (see `_Branched`).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

SQRT2 = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU with StyleGAN's gain, which keeps activations at unit variance."""
    return F.leaky_relu(x, 0.2) * SQRT2


class EqualizedLinear(nn.Module):
    """Linear layer with the weight scaled at run time (equalized learning rate)."""

    def __init__(self,
                 in_features: int,  # input width
                 out_features: int,  # output width
                 bias_init: float = 0.0,  # initial bias value
                 lr_multiplier: float = 1.0):  # learning-rate multiplier (mapping networks use 0.01)
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)


class EqualizedConv2d(nn.Module):
    """Conv2d with equalized learning rate; `down` average-pools the output by 2."""

    def __init__(self,
                 in_channels: int,  # input channels
                 out_channels: int,  # output channels
                 kernel_size: int,  # square kernel width
                 bias: bool = True,  # learn a per-channel bias
                 down: bool = False):  # halve the resolution after the convolution
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2
        self.down = down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.padding)
        return F.avg_pool2d(x, 2) if self.down else x


def modulated_conv2d(x: torch.Tensor,  # (N, I, H, W) input
                     weight: torch.Tensor,  # (O, I, k, k) shared, or (N, O, I, k, k) per sample
                     styles: torch.Tensor,  # (N, I) per-sample input-channel scales
                     demodulate: bool = True,  # rescale each output channel to unit expected variance
                     padding: int = 1) -> torch.Tensor:
    """StyleGAN2's modulated convolution as one grouped convolution over the batch."""
    batch, in_channels, height, width = x.shape
    assert styles.shape == (batch, in_channels), (styles.shape, x.shape)
    w = weight if weight.ndim == 5 else weight.unsqueeze(0)
    assert w.shape[2] == in_channels, (w.shape, x.shape)
    w = w * styles.reshape(batch, 1, in_channels, 1, 1)  # (N, O, I, k, k)
    if demodulate:
        w = w * torch.rsqrt(w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8)
    out_channels = w.shape[1]
    x = x.reshape(1, batch * in_channels, height, width)
    out = F.conv2d(x, w.reshape(batch * out_channels, in_channels, *w.shape[3:]).to(x.dtype), padding=padding,
                   groups=batch)
    return out.reshape(batch, out_channels, *out.shape[2:])


class _Branched(nn.Module):
    """Per-branch parameter sets, stacked at run time so that each branch can have its own optimizer group."""

    def _make(self, branches, in_channels, out_channels, kernel, w_dim):
        self.branches = branches
        self.affines = nn.ModuleList([EqualizedLinear(w_dim, in_channels, bias_init=1.0) for _ in range(branches)])
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
                                         for _ in range(branches)])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(out_channels)) for _ in range(branches)])

    @property
    def out_channels(self) -> int:
        return self.biases[0].numel()

    def branch_parameters(self, k: int) -> list[nn.Parameter]:
        params = [*self.affines[k].parameters(), self.weights[k], self.biases[k]]
        for name in ("noise_strengths", "random_strengths"):
            params += [getattr(self, name)[k]] if hasattr(self, name) else []
        return params

    def _styles_weight_bias(self, w: torch.Tensor):
        """(N*K, I) styles, (N*K, O, I, k, k) weights and (N*K, O, 1, 1) biases, sample-major, branch-minor."""
        n, k = w.shape[0], self.branches
        styles = torch.stack([affine(w) for affine in self.affines], dim=1).reshape(n * k, -1)
        weight = torch.stack(list(self.weights)).repeat(n, 1, 1, 1, 1)
        bias = torch.stack(list(self.biases)).repeat(n, 1).reshape(n * k, -1, 1, 1)
        return styles, weight, bias


class SynthesisLayer(_Branched):
    """Modulated 3x3 conv, optional 2x upsampling, noise with a learned strength, bias and lrelu.

    `noise` is the encoder's skip features (the paper's feature-to-noise); `random_noise` is StyleGAN2's
    per-pixel Gaussian noise, with a strength of its own that starts at 0 (only with `random_noise=True`).

    With `branches` K > 1 the layer holds K parameter sets and takes its input as (N*K, I, H, W),
    or (N, I, H, W) shared by every branch; it returns (N*K, O, H, W).
    """

    def __init__(self,
                 in_channels: int,  # input channels
                 out_channels: int,  # output channels
                 w_dim: int,  # style vector width
                 up: bool = False,  # upsample the input by 2 first
                 branches: int = 1,  # independent parameter sets (class branches)
                 random_noise: bool = False):  # also add per-pixel Gaussian noise (StyleGAN2's noise input)
        super().__init__()
        self.up = up
        self._make(branches, in_channels, out_channels, 3, w_dim)
        self.noise_strengths = nn.ParameterList([nn.Parameter(torch.zeros([])) for _ in range(branches)])
        if random_noise:
            self.random_strengths = nn.ParameterList([nn.Parameter(torch.zeros([])) for _ in range(branches)])
        self.weight_gain = 1.0 / math.sqrt(in_channels * 9)

    def _add_noise(self, x: torch.Tensor, noise: torch.Tensor, strengths: nn.ParameterList, n: int) -> torch.Tensor:
        strength = torch.stack(list(strengths)).repeat(n).reshape(-1, 1, 1, 1)
        return x + noise.repeat_interleave(self.branches, dim=0) * strength

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None,
                random_noise: torch.Tensor | None = None) -> torch.Tensor:
        n, k = w.shape[0], self.branches
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        if k > 1 and x.shape[0] == n:
            x = x.repeat_interleave(k, dim=0)  # one shared input feeds every branch
        styles, weight, bias = self._styles_weight_bias(w)
        x = modulated_conv2d(x, weight, styles * self.weight_gain, demodulate=True, padding=1)
        if noise is not None:
            x = self._add_noise(x, noise, self.noise_strengths, n)
        if random_noise is not None and hasattr(self, "random_strengths"):
            x = self._add_noise(x, random_noise, self.random_strengths, n)
        return lrelu(x + bias.to(x.dtype))


class ToImage(_Branched):
    """Modulated 1x1 conv to the output channels, without demodulation (StyleGAN2's toRGB)."""

    def __init__(self,
                 in_channels: int,  # input channels
                 out_channels: int,  # image channels (1 for thermal)
                 w_dim: int,  # style vector width
                 branches: int = 1):  # independent parameter sets
        super().__init__()
        self._make(branches, in_channels, out_channels, 1, w_dim)
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles, weight, bias = self._styles_weight_bias(w)
        x = modulated_conv2d(x, weight, styles * self.weight_gain, demodulate=False, padding=0)
        return x + bias.to(x.dtype)


class SynthesisBlock(nn.Module):
    """One resolution: (upsampling conv,) conv, and an output skip to the image."""

    def __init__(self,
                 in_channels: int,  # channels from the previous block (0 for the 4x4 block)
                 out_channels: int,  # channels of this block
                 w_dim: int,  # style vector width
                 resolution: int,  # output resolution of this block
                 out_image_channels: int = 1,  # image channels
                 branches: int = 1,  # class branches (the image has N*K samples)
                 random_noise: bool = False):  # per-pixel Gaussian noise in every layer
        super().__init__()
        self.resolution, self.branches = resolution, branches
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
            self.convs = nn.ModuleList([SynthesisLayer(out_channels, out_channels, w_dim, random_noise=random_noise)])
        else:
            self.convs = nn.ModuleList([
                SynthesisLayer(in_channels, out_channels, w_dim, up=True, branches=branches, random_noise=random_noise),
                SynthesisLayer(out_channels, out_channels, w_dim, branches=branches, random_noise=random_noise),
            ])
        self.to_image = ToImage(out_channels, out_image_channels, w_dim, branches=branches)
        self.num_ws = len(self.convs) + 1

    def forward(self, x, image, ws: torch.Tensor, noises: list, random_noises: list):
        assert ws.shape[1] == self.num_ws
        if hasattr(self, "const"):
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        for i, conv in enumerate(self.convs):
            x = conv(x, ws[:, i], noises[i], random_noises[i])
        y = self.to_image(x, ws[:, -1])
        if image is not None:
            skip = F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
            y = y + (skip.repeat_interleave(self.branches, dim=0) if self.branches > 1 else skip)
        return x, y


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    return max(1, min(channel_base // resolution, channel_max))


class SynthesisNetwork(nn.Module):
    """From W+ (N, num_ws, w_dim) and per-layer noise to an (N, K, C, S, S) image, K = branches."""

    def __init__(self,
                 w_dim: int,  # style vector width
                 resolution: int,  # output size, a power of two >= 8
                 out_channels: int = 1,  # image channels
                 channel_base: int = 16384,  # channels at resolution r: min(base / r, max)
                 channel_max: int = 512,  # upper bound on channels
                 branches: int = 1,  # class branches in the last block
                 branch_divisor: int = 1,  # branch width = channels at the last resolution / divisor
                 random_noise: bool = False):  # per-pixel Gaussian noise in every layer (StyleGAN2)
        super().__init__()
        assert resolution >= 8 and resolution & (resolution - 1) == 0, resolution
        self.resolution, self.branches = resolution, branches
        resolutions = [2**i for i in range(2, int(math.log2(resolution)) + 1)]
        blocks, previous = [], 0
        for res in resolutions:
            channels = channels_at(res, channel_base, channel_max)
            last = res == resolution
            if last and branches > 1:
                channels = max(8, channels // branch_divisor)
            blocks.append(SynthesisBlock(previous, channels, w_dim, res, out_channels, branches if last else 1,
                                         random_noise))
            previous = channels
        self.blocks = nn.ModuleList(blocks)
        self.num_ws = sum(b.num_ws for b in self.blocks)
        self.layer_resolutions = [b.resolution for b in self.blocks for _ in b.convs]
        self.layer_channels = [conv.out_channels for conv in self.layers()]

    def layers(self) -> list[SynthesisLayer]:
        """Every synthesis layer, coarsest first, in the order of `noises` and `layer_resolutions`."""
        return [conv for block in self.blocks for conv in block.convs]

    def forward(self, ws: torch.Tensor, noises: list, random_noises: list | None = None) -> torch.Tensor:
        """`noises`: the skip-fed inputs (None for a layer without); `random_noises`: per-pixel Gaussian noise,
        (N, 1, r, r) per layer, used only by a network built with random_noise=True."""
        assert ws.shape[1] == self.num_ws, (ws.shape, self.num_ws)
        assert len(noises) == len(self.layer_resolutions)
        random_noises = random_noises or [None] * len(noises)
        x = image = None
        w_index = n_index = 0
        for block in self.blocks:
            n_convs = len(block.convs)
            x, image = block(x, image, ws[:, w_index:w_index + block.num_ws], noises[n_index:n_index + n_convs],
                             random_noises[n_index:n_index + n_convs])
            w_index += block.num_ws
            n_index += n_convs
        n = ws.shape[0]
        return image.reshape(n, self.branches, *image.shape[1:])

    def branch_parameters(self, k: int) -> list[nn.Parameter]:
        return [p for m in self.modules() if isinstance(m, _Branched) and m.branches > 1 for p in m.branch_parameters(k)]

    def random_noise(self, batch: int, device=None, seeds: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Per-layer (N, 1, r, r) Gaussian noise: from the global RNG, or reproducibly from one seed per sample."""
        if seeds is None:
            return [torch.randn(batch, 1, r, r, device=device) for r in self.layer_resolutions]
        per_sample = []
        for seed in seeds.tolist():
            generator = torch.Generator(device=device).manual_seed(int(seed))
            per_sample.append([torch.randn(1, 1, r, r, device=device, generator=generator)
                               for r in self.layer_resolutions])
        return [torch.cat(layer) for layer in zip(*per_sample)]
