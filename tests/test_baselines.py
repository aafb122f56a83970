"""pix2pix and ThermalGAN: structure as published, value ranges, and ThermalGAN's two-stage composition."""

import pytest
import torch
import torch.nn as nn

from layergan.models.example_batch import example_batch
from layergan.models.pix2pix import PatchDiscriminator, UNetGenerator, receptive_field
from layergan.methods.registry import get_method
from layergan.models.thermalgan import ThermalGANGenerator, segment_mean
from tests.test_models import CLASSES, tiny_config


def _downsamplings(net: nn.Module) -> int:
    return sum(1 for m in net.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2))


@pytest.mark.parametrize("size, depth", [(32, 5), (64, 6), (256, 8), (512, 9)])
def test_unet_depth_follows_the_image_size(size, depth):
    unet = UNetGenerator(3, 1, size, ngf=2)
    assert _downsamplings(unet) == depth  # unet_256 has 8, 9 at 512
    dropouts = [m for m in unet.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == depth - 5 and all(d.p == 0.5 for d in dropouts)  # the reference loop: 3 at 256 px
    upsamplings = sum(1 for m in unet.modules() if isinstance(m, nn.ConvTranspose2d))
    assert upsamplings == depth


def test_unet_reaches_a_1x1_bottleneck_and_outputs_tanh_range():
    unet = UNetGenerator(3, 1, 64, ngf=4).eval()
    seen = []
    bottleneck = [m for m in unet.modules() if isinstance(m, nn.Conv2d)][-1]
    bottleneck.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    out = unet(torch.randn(2, 3, 64, 64) * 10)
    assert seen == [torch.Size([2, 32, 1, 1])]  # ngf * 8 channels at 1x1
    assert out.shape == (2, 1, 64, 64) and out.abs().max() <= 1.0


def test_patchgan_receptive_field_is_70_and_gives_30x30_logits_at_256():
    D = PatchDiscriminator(5, ndf=4)
    assert receptive_field(D) == 70
    assert receptive_field(PatchDiscriminator(5, ndf=4, n_layers=2)) == 34  # the 34x34 variant, as a check
    assert D(torch.randn(1, 5, 256, 256)).shape == (1, 1, 30, 30)
    norms = [m for m in D.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 3  # every layer but the first and the last


def test_segment_mean_paints_each_object_with_its_mean():
    values = torch.arange(8.0).reshape(1, 1, 2, 4)
    segments = torch.tensor([[[0, 0, 5, 5], [0, -1, 5, 7]]])
    out = segment_mean(values, segments)
    expected = torch.tensor([[[[(0 + 1 + 4) / 3, (0 + 1 + 4) / 3, (2 + 3 + 6) / 3, (2 + 3 + 6) / 3],
                               [(0 + 1 + 4) / 3, 5.0, (2 + 3 + 6) / 3, 7.0]]]])
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("training", [False, True])
def test_thermalgan_output_is_stage1_plus_ten_times_stage2(training):
    G = ThermalGANGenerator(32, "absolute", ngf=4).train(training)
    batch = example_batch(2, 32, len(CLASSES))
    torch.manual_seed(0)
    out = G(batch)
    # recompute both stages independently from the same inputs
    dense = G.stage1(torch.cat([batch["rgb"], batch["seg"]], 1)) * 50.0
    r_pred = segment_mean(dense, batch["instances"]) * batch["valid"]
    r_used = batch["r_celsius"] if training else r_pred  # stage 2 sees true R while training, R^ at evaluation
    if not training:  # dropout makes a second training-mode pass differ; compare the returned pieces there
        torch.testing.assert_close(out["r_pred"], r_pred)
        torch.testing.assert_close(out["contrast"], G.stage2(torch.cat([r_used / 40.0, batch["rgb"]], 1)))
    celsius = r_used + 10.0 * out["contrast"]
    torch.testing.assert_close(out["thermal"], (celsius.clamp(-50, 50) / 50.0))
    assert out["contrast"].abs().max() <= 1.0 and out["r_pred"].abs().max() <= 50.0
    # R^ is constant inside every object
    for key in batch["instances"].unique():
        inside = batch["instances"][:, None] == key
        for n in range(2):
            values = out["r_pred"][n][inside[n]]
            if values.numel():
                assert values.max() - values.min() < 1e-4


@pytest.mark.parametrize("method", ["pix2pix", "thermalgan"])
def test_baselines_carry_their_published_defaults(method):
    defaults = get_method(method).defaults
    assert defaults["optim"] == {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999}
    assert defaults["loss"]["l1"] == 100.0
    built = get_method(method).build(tiny_config(method), CLASSES)
    out = built.G.eval()(example_batch(2, 32, len(CLASSES)))["thermal"]
    assert out.shape == (2, 1, 32, 32) and out.abs().max() <= 1.0
