"""Issue #15 item 2: the realism metrics on closed forms and known effects."""

import numpy as np
import torch

from layergan.evaluation.realism import RealismMetrics, laplacian_pyramid, sliced_wasserstein

SIZE = 64


def textured_frames(count=12, seed=0):
    """Thermal-like frames: a warm blob on a background, with fine texture, and padding in the last rows."""
    generator = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    frames = []
    for k in range(count):
        blob = 15 * torch.exp(-((x - 20 - k) ** 2 + (y - 30) ** 2) / 80.0)
        frames.append(10 + blob + 1.5 * torch.randn(SIZE, SIZE, generator=generator))
    valid = torch.ones(count, 1, SIZE, SIZE)
    valid[..., -8:, :] = 0  # letterbox padding
    return torch.stack(frames)[:, None] * valid, valid


def measure(pred, truth, valid, batch=5):
    metrics = RealismMetrics()
    for start in range(0, len(pred), batch):
        metrics.update(pred[start:start + batch], truth[start:start + batch], valid[start:start + batch])
    return metrics.result()


def blurred(frames):
    kernel = torch.ones(1, 1, 3, 3) / 9
    return torch.nn.functional.conv2d(torch.nn.functional.pad(frames, (1, 1, 1, 1), mode="replicate"), kernel)


def test_identical_sets_are_zero_apart():
    frames, valid = textured_frames()
    result = measure(frames, frames, valid)
    assert result["swd"] == 0 and all(v == 0 for v in result["swd_per_scale"])
    assert result["spectrum_distance"] == 0
    assert len(result["swd_per_scale"]) == 3  # 64, 32 and the 16 px residual


def test_blur_and_noise_raise_the_finest_scale_and_the_spectrum_distance():
    frames, valid = textured_frames()
    other, _ = textured_frames(seed=1)  # a second draw of the same process: the noise floor of the estimate
    floor = measure(other, frames, valid)
    soft = measure(blurred(frames) * valid, frames, valid)
    noisy = measure((frames + 2.0 * torch.randn(frames.shape, generator=torch.Generator().manual_seed(5))) * valid,
                    frames, valid)
    for changed in (soft, noisy):
        assert changed["swd_per_scale"][0] > 3 * floor["swd_per_scale"][0]
        assert changed["spectrum_distance"] > 3 * floor["spectrum_distance"]


def test_the_order_of_the_frames_does_not_matter():
    frames, valid = textured_frames()
    pred = blurred(frames) * valid
    order = torch.randperm(len(frames), generator=torch.Generator().manual_seed(3))
    a, b = measure(pred, frames, valid), measure(pred[order], frames[order], valid[order], batch=4)
    np.testing.assert_allclose(a["swd_per_scale"], b["swd_per_scale"], rtol=1e-6)
    assert abs(a["spectrum_distance"] - b["spectrum_distance"]) < 1e-9


def test_sliced_wasserstein_of_shifted_sets_is_the_projected_shift():
    points = torch.randn(4000, 49, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    shift = torch.zeros(49, dtype=torch.float64)
    shift[0] = 1.0
    # W1 of a shift along e0 projected on unit direction d is |d0|; its mean over random unit directions
    # in 49 dimensions is E|d0| = Gamma(49/2) / (sqrt(pi) Gamma(50/2)) ~ 0.1142
    assert abs(sliced_wasserstein(points, points + shift) - 0.1142) < 0.01


def test_padding_never_enters_a_descriptor():
    frames, valid = textured_frames(count=2)
    for band, mask in laplacian_pyramid(frames, valid):
        rows = mask.shape[-2]
        assert (mask[..., rows - max(1, rows // 8):, :] == 0).all()


def object_scene():
    """A 64 px frame: a warm person (class 1, 20 px = 0.5-3%... of 4096) and a big car (class 2), one tiny car."""
    from layergan.data.labels import SEGMENT_STRIDE

    truth = torch.full((1, 1, SIZE, SIZE), 10.0)
    segments = torch.full((1, SIZE, SIZE), 7 * SEGMENT_STRIDE)  # road, no instance
    truth[..., 10:20, 10:14] = 30.0
    segments[0, 10:20, 10:14] = 1 * SEGMENT_STRIDE + 1  # person: 40 px = 0.98%
    truth[..., 30:50, 20:50] = 25.0
    segments[0, 30:50, 20:50] = 2 * SEGMENT_STRIDE + 2  # car: 600 px = 14.6%
    truth[..., 5:7, 40:41] = 20.0
    segments[0, 5:7, 40:41] = 2 * SEGMENT_STRIDE + 3  # car: 2 px = 0.05%
    return truth, torch.ones(1, 1, SIZE, SIZE), segments


def test_object_errors_by_area_and_the_contrast_error():
    from layergan.classes import default_classes
    from layergan.evaluation.objects import ObjectMetrics

    truth, valid, segments = object_scene()
    pred = truth.clone()
    pred[..., 10:20, 10:14] = 20.0  # the person's contrast to the road: 10 instead of 20
    pred[..., 5:7, 40:41] = 10.0  # the tiny car disappears into the road
    metrics = ObjectMetrics(default_classes().names)
    metrics.update(pred, truth, valid, segments)
    result = metrics.result()
    assert result["mae_by_object_area"]["person"]["0.5-3%"] == 10.0
    assert result["mae_by_object_area"]["car"]["<0.5%"] == 10.0 and result["mae_by_object_area"]["car"][">3%"] == 0
    assert result["mae_by_object_area"]["car"]["objects"] == [1, 0, 1]
    assert result["contrast_error_by_class"]["person"] == 10.0
    assert result["contrast_error_by_class"]["car"] == 5.0  # (10 + 0) / 2 cars
    assert result["contrast_error"] == 20.0 / 3
