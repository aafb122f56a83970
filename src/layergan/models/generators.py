"""The paper's conditional style-based generators.

seg2thermal (approach 1): encoder input = edge-marked segmentation + R; T via the styles.
layergan (approach 2):    adds RGB and per-class masks; the last synthesis block is split
                          into one branch per class and the output is sum_k mask_k * branch_k.
layergan-reduced:         approach 2's input with a single branch (the paper's ablation).

Which layers a branch owns: the whole last synthesis block (upsampling conv, conv and
toImage), narrowed by `branch_divisor`. Owning the finest block is what lets a branch
shape its class's texture; sharing everything coarser keeps K branches affordable
(K full-width last blocks would cost about 5x the single-branch generator at 64 px).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from layergan.data.batch import condition_channels, gather_condition
from layergan.models.encoder import StyleEncoder
from layergan.models.stylegan2 import SynthesisNetwork

OUTPUT_INIT_GAIN = 0.1  # initial scale of the toImage weights


def layout_seeds(masks: torch.Tensor) -> torch.Tensor:
    """(N,) int64 seeds that depend on each sample's class layout only, in integer arithmetic.

    Outside training the random noise comes from these: a scene renders the same at every call, on
    every batch split, and whatever temperatures are set (translate and the studio rely on that),
    while different scenes get different texture.
    """
    labels = masks.argmax(dim=1).flatten(1).long() + 1  # (N, S*S)
    position = torch.arange(labels.shape[1], device=labels.device) % 9973 + 1
    return (labels * position).sum(dim=1) % (2**31 - 1)


class ConditionalStyleGenerator(nn.Module):
    def __init__(self,
                 input_keys: tuple[str, ...],  # batch entries concatenated as the encoder input
                 num_classes: int,  # classes (T has 2 entries per class)
                 resolution: int,  # output size S (power of two, 32..512)
                 w_dim: int = 512,  # style width
                 channel_base: int = 16384,  # synthesis channels at r: min(base / r, max)
                 channel_max: int = 512,  # synthesis channel cap
                 branches: int = 1,  # 1, or one output branch per class
                 branch_divisor: int = 4,  # branch width divisor (branches > 1 only)
                 noise_skips: int = 8,  # encoder-to-noise 1x1 convs
                 random_noise: bool = False,  # StyleGAN2's per-pixel noise in every layer, beside the skips
                 input_skips: bool = False,  # full-resolution layers take their skip from the input (sharp parts)
                 wide_skips: bool = False,  # each skip feeds every channel of its layer a map of its own
                 encoder_weights: str = "none"):  # "imagenet" to start the ResNet-18 from ImageNet
        super().__init__()
        assert branches in (1, num_classes), "branches must be 1 or the number of classes"
        # Recorded for G_ema.json; a rebuilt generator loads its weights, so never downloads ImageNet's.
        self.init_kwargs = dict(input_keys=list(input_keys), num_classes=num_classes, resolution=resolution,
                                w_dim=w_dim, channel_base=channel_base, channel_max=channel_max, branches=branches,
                                branch_divisor=branch_divisor, noise_skips=noise_skips, random_noise=random_noise,
                                input_skips=input_skips, wide_skips=wide_skips, encoder_weights="none")
        self.input_keys, self.num_classes, self.resolution = tuple(input_keys), num_classes, resolution
        self.random_noise = random_noise
        self.synthesis = SynthesisNetwork(w_dim, resolution, 1, channel_base, channel_max, branches,
                                          branch_divisor if branches > 1 else 1, random_noise)
        coarse = min(self.synthesis.blocks[0].num_ws + self.synthesis.blocks[1].num_ws, self.synthesis.num_ws)
        middle = min(6, self.synthesis.num_ws - coarse)
        self.encoder = StyleEncoder(condition_channels(self.input_keys, num_classes), 2 * num_classes, resolution,
                                    w_dim, self.synthesis.num_ws, coarse, middle, self.synthesis.layer_resolutions,
                                    noise_skips, encoder_weights, input_skips,
                                    self.synthesis.layer_channels if wide_skips else None)
        # Skip-fed noise carries signal, not noise: start its strength at 1. At StyleGAN2's 0 the
        # 1x1 convs would receive no gradient until the strength had moved.
        layers = self.synthesis.layers()
        with torch.no_grad():
            for layer, source in zip(layers, self.encoder.noise_sources):
                if source is not None:
                    for strength in layer.noise_strengths:
                        strength.fill_(1.0)
            # Start the summed output skips near 0 (std ~0.5 instead of ~5): the tanh below would
            # otherwise begin saturated, with vanishing gradients.
            for block in self.synthesis.blocks:
                for weight in block.to_image.weights:
                    weight.mul_(OUTPUT_INIT_GAIN)

    @property
    def branches(self) -> int:
        return self.synthesis.branches

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        condition = gather_condition(batch, self.input_keys)
        assert condition.shape[-1] == self.resolution, (condition.shape, self.resolution)
        ws, noises = self.encoder(condition, batch["t"])
        random_noises = None
        if self.random_noise:  # fresh while training; fixed per scene layout otherwise (see layout_seeds)
            seeds = None if self.training else layout_seeds(batch["masks"])
            random_noises = self.synthesis.random_noise(condition.shape[0], condition.device, seeds)
        # tanh: targets are clipped to [-1, 1], and an unbounded output let the critic's push grow it by
        # 100x within ten steps (64 px CPU runs diverged at step ~60 without it, with or without lazy GP).
        layers = torch.tanh(self.synthesis(ws, noises, random_noises))  # (N, K, 1, S, S)
        if self.branches == 1:
            return {"thermal": layers[:, 0]}
        masks = batch["masks"].to(layers.dtype).unsqueeze(2)  # (N, K, 1, S, S)
        return {"thermal": (layers * masks).sum(dim=1), "branches": layers}
