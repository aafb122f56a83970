import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from layergan.cli.main import main
from layergan.errors import CheckpointError, ConfigError, DataError
from layergan.evaluation import fid
from layergan.evaluation.metrics import TemperatureMetrics
from layergan.translate import translate
from layergan.pipeline import run_pipeline


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 6))
    sigma = np.cov(a, rowvar=False)
    mu = a.mean(0)
    assert fid.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)
    shift = np.arange(6.0)
    assert fid.frechet_distance(mu, sigma, mu + shift, sigma) == pytest.approx(float(shift @ shift), rel=1e-5)


def test_fid_pipeline_with_random_inception(tmp_path):
    model = fid.build_inception("random")
    images = fid.to_uint8_rgb(torch.linspace(-30, 70, 2 * 64 * 64).reshape(2, 1, 64, 64))
    assert images.shape == (2, 3, 64, 64) and images.min() == 0 and images.max() == 1
    assert ((images * 255) - (images * 255).round()).abs().max() < 1e-4  # on the 8-bit grid
    feats = fid.features(model, images)
    assert feats.shape == (2, 2048) and np.isfinite(feats).all()


def test_missing_fid_weights_say_where_to_put_them(tmp_path):
    with pytest.raises(fid.FIDWeightsMissing, match="pt_inception-2015-12-05-6726825d.pth"):
        fid.build_inception(tmp_path / "nope.pth")


def test_metric_values_on_hand_made_images():
    truth = torch.zeros(1, 1, 8, 8)
    pred = truth.clone()
    pred[0, 0, :4] = 2.0  # half the pixels off by 2 °C
    masks = torch.zeros(1, 2, 8, 8)
    masks[0, 0, :4], masks[0, 1, 4:] = 1, 1
    segments = torch.zeros(1, 8, 8, dtype=torch.long)
    segments[0, 4:] = 1
    m = TemperatureMetrics(("a", "b"))
    m.update(pred, truth, torch.ones(1, 1, 8, 8), masks, segments)
    r = m.result()
    assert r["mae"] == pytest.approx(1.0) and r["rmse"] == pytest.approx(np.sqrt(2.0))
    assert r["per_class"]["a"]["mae"] == pytest.approx(2.0) and r["per_class"]["b"]["mae"] == 0
    assert r["object_mean_error"] == pytest.approx(1.0)  # segment 0 off by 2, segment 1 exact


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    """The README's main job in its smoke profile: the same code path CI runs."""
    out = tmp_path_factory.mktemp("pipeline")
    report = run_pipeline(out, "smoke", progress=False, say=lambda m: None)
    return out, report


def test_pipeline_writes_report_with_table_and_grid(pipeline_run):
    out, report = pipeline_run
    html = report.read_text()
    assert "<table>" in html and "grid.png" in html
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert {r["method"] for r in metrics["runs"].values()} == {"layergan", "pix2pix"}
    assert all(np.isfinite(r["mae"]) and r["per_class"] for r in metrics["runs"].values())
    # the report shows the utility ratio (issue #18), with the profile's segmenter steps
    assert all(r["utility_ratio"] == r["miou_synthetic"] / r["miou_real"] and r["utility_steps"] == 3
               for r in metrics["runs"].values())
    assert "utility (syn/real mIoU)" in html and "trained for 3 steps" in html
    assert (out / "report" / "grid.png").stat().st_size > 5000
    assert len(list((out / "translated" / "test" / "ThermalImages").glob("*.npy"))) == 4


def test_translated_dataset_is_accepted_by_prepare(pipeline_run, tmp_path):
    out, _ = pipeline_run
    result = CliRunner().invoke(main, ["prepare", "--src", str(out / "translated"), "--out", str(tmp_path / "p"),
                                       "--split", "test", "--quiet"])
    assert result.exit_code == 0, result.output
    frame = np.load(next((out / "translated/test/ThermalImages").glob("*.npy")))
    assert frame.shape == (72, 96)  # the input's size, not the model's


def test_explicit_temperatures_steer_the_output(pipeline_run, tmp_path):
    out, _ = pipeline_run
    means = {}
    for value in (0, 40):
        translate(str(out / "runs/layergan"), str(out / "raw"), str(tmp_path / str(value)),
                  temperatures=f"car={value}", splits=("test",), progress=False)
        car, total = 0.0, 0
        for f in sorted((tmp_path / str(value) / "test/ThermalImages").glob("*.npy")):
            cls = np.asarray(__import__("PIL.Image").Image.open(out / "raw/test/SegmentationClass" / f"{f.stem}.png"))
            frame = np.load(f)
            car += frame[cls == 2].sum()
            total += (cls == 2).sum()
        means[value] = car / max(total, 1)
    assert means[40] > means[0] + 5


def test_auto_temperatures_are_reproducible(pipeline_run, tmp_path):
    out, _ = pipeline_run
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        translate(str(out / "runs/layergan"), str(out / "raw"), str(tmp_path / name), seed=seed, splits=("test",),
                  progress=False)
    files = lambda n: [np.load(f) for f in sorted((tmp_path / n / "test/ThermalImages").glob("*.npy"))]  # noqa: E731
    assert all(np.array_equal(x, y) for x, y in zip(files("a"), files("b")))
    assert not all(np.array_equal(x, y) for x, y in zip(files("a"), files("c")))


def test_translate_bad_inputs(pipeline_run, tmp_path):
    out, _ = pipeline_run
    run = str(out / "runs/layergan")
    with pytest.raises(CheckpointError, match="not found"):
        translate(str(tmp_path / "missing"), str(out / "raw"), str(tmp_path / "o"))
    with pytest.raises(CheckpointError, match="a layergan checkpoint, not pix2pix"):
        translate(run, str(out / "raw"), str(tmp_path / "o"), expect_method="pix2pix")
    with pytest.raises(ConfigError, match="unknown class 'dragon'"):
        translate(run, str(out / "raw"), str(tmp_path / "o"), temperatures="dragon=3")
    (tmp_path / "empty" / "test" / "JPEGImages").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        translate(run, str(tmp_path / "empty"), str(tmp_path / "o"))


def test_a_run_folder_copied_alone_translates_through_the_cli(pipeline_run, tmp_path):
    """G_ema.json + G_ema.safetensors rebuild the generator: no config, critics or prepared data needed."""
    out, _ = pipeline_run
    copy = tmp_path / "elsewhere" / "run"
    shutil.copytree(out / "runs/layergan", copy)
    (tmp_path / "inputs").mkdir()
    shutil.copytree(out / "raw/test", tmp_path / "inputs/test")  # new scenes, away from the run's data
    args = ["--input", str(tmp_path / "inputs"), "--temperatures", "car=30", "--quiet"]
    moved = CliRunner().invoke(main, ["translate", "--checkpoint", str(copy), "--out", str(tmp_path / "a"), *args])
    assert moved.exit_code == 0, moved.output
    original = CliRunner().invoke(main, ["translate", "--checkpoint", str(out / "runs/layergan"),
                                         "--out", str(tmp_path / "b"), *args])
    assert original.exit_code == 0, original.output
    frames = sorted((tmp_path / "a/test/ThermalImages").glob("*.npy"))
    assert len(frames) == 4
    assert all(np.array_equal(np.load(f), np.load(tmp_path / "b/test/ThermalImages" / f.name)) for f in frames)
    spec = json.loads(next(copy.glob("ckpt-*/G_ema.json")).read_text())
    assert spec["class"] == "ConditionalStyleGenerator" and spec["method"] == "layergan"
    assert spec["kwargs"]["resolution"] == 32 and spec["encoding"] == "residual" and len(spec["classes"]) == 9
    assert spec["encoding_limit_celsius"] == 30.0 and spec["takes_temperatures"] is True


def test_ssim_and_psnr_count_valid_pixels_only():
    """Padding is 0 in both frames; counted, it would look perfectly predicted and inflate both."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    g = torch.Generator().manual_seed(0)
    truth = torch.zeros(1, 1, 32, 32)
    valid = torch.zeros(1, 1, 32, 32)
    valid[..., :, :16] = 1  # the right half is letterbox padding
    truth[..., :, :16] = 20 + 5 * torch.rand(1, 1, 32, 16, generator=g)
    pred = (truth + 4 * torch.randn(1, 1, 32, 32, generator=g)) * valid
    m = TemperatureMetrics(("a",))
    m.update(pred, truth, valid, valid, torch.zeros(1, 32, 32, dtype=torch.long))
    r = m.result()
    a, b = ((pred[0, 0] + 20) / 80).clamp(0, 1).numpy(), ((truth[0, 0] + 20) / 80).clamp(0, 1).numpy()
    inside = valid[0, 0].numpy() > 0
    expected_psnr = 10 * np.log10(1 / np.mean((a[inside] - b[inside]) ** 2))
    assert r["psnr"] == pytest.approx(expected_psnr, rel=1e-5)
    assert r["psnr"] < peak_signal_noise_ratio(b, a, data_range=1.0) - 2.5  # the whole frame: half is "perfect"
    assert r["ssim"] < structural_similarity(a, b, data_range=1.0) - 0.2
