"""Issue #16: translate reads Cityscapes and writes camera formats; it resumes, shards and models a sensor."""

import json

import numpy as np
import pytest
from PIL import Image

from layergan.classes import default_classes
from layergan.translate.camera import agc_8bit, parse_sensor, read_tiff16, to_centikelvin
from tests.helpers import CITYSCAPES_IDS, write_cityscapes
from tests.test_reliability import cli, data, one_line_error, tiny_config, train  # noqa: F401

CLASSES = default_classes()


@pytest.fixture(scope="module")
def model(data, tiny_config, tmp_path_factory):  # noqa: F811
    run = tmp_path_factory.mktemp("model") / "layergan"
    assert train(tiny_config, data, run, "layergan", "--steps", 1).exit_code == 0
    return run


@pytest.fixture
def cityscapes(tmp_path):
    labels = write_cityscapes(tmp_path / "cityscapes")
    return tmp_path / "cityscapes", labels


def translate(model, src, out, *extra):
    return cli("translate", "--checkpoint", model, "--input", src, "--out", out, "--quiet", *extra)


def test_cityscapes_in_camera_formats_out(model, cityscapes, tmp_path):
    src, labels = cityscapes
    out = tmp_path / "out"
    result = translate(model, src, out, "--format", "npy,tiff16,png8,preview")
    assert result.exit_code == 0, result.output
    assert result.output.count("the model has no class for") == 1  # once, not per image
    assert "sky" in result.output and "minibus" in result.output  # no model class; never labelled
    base, sample = out / "val", "aachen_000000_000019"
    classes = np.asarray(Image.open(base / "SegmentationClass" / f"{sample}.png"))
    expected = {"person": "person", "rider": "person", "car": "car", "vegetation": "tree", "road": "road",
                "building": "building", "sky": "background"}
    for source, target in expected.items():
        assert (classes[labels == CITYSCAPES_IDS[source]] == CLASSES.index(target)).all(), source
    instances = np.asarray(Image.open(base / "SegmentationObject" / f"{sample}.png")).astype(int)
    person, rider = CITYSCAPES_IDS["person"], CITYSCAPES_IDS["rider"]
    assert instances[labels == person][0] != instances[labels == rider][0]  # two people, not one
    celsius = np.load(base / "ThermalImages" / f"{sample}.npy")
    assert celsius.shape == labels.shape
    back = read_tiff16(base / "Thermal16" / f"{sample}.tiff")
    assert back.dtype == np.float32 and np.abs(back - celsius).max() <= 0.01
    agc = np.asarray(Image.open(base / "Thermal8" / f"{sample}.png"))
    window = json.loads((base / "Thermal8" / f"{sample}.json").read_text())
    assert agc.dtype == np.uint8 and window["unit"] == "°C" and window["low"] < window["high"]
    assert (agc[celsius >= window["high"]] == 255).all() and (agc[celsius <= window["low"]] == 0).all()
    preview = np.asarray(Image.open(base / "Previews" / f"{sample}.png"))
    assert preview.shape[0] == labels.shape[0] and preview.shape[1] > labels.shape[1]  # the colorbar beside it


def test_resume_skips_finished_images_and_redoes_incomplete_ones(model, cityscapes, tmp_path):
    src, _ = cityscapes
    out = tmp_path / "out"
    assert translate(model, src, out, "--format", "npy,tiff16").exit_code == 0
    first = out / "val/Thermal16/aachen_000000_000019.tiff"
    stamp = first.stat().st_mtime_ns
    (out / "val/Thermal16/aachen_000001_000019.tiff").unlink()  # as if stopped before the last file
    result = translate(model, src, out, "--format", "npy,tiff16")
    assert result.exit_code == 0 and "skipped 1 images" in result.output and "translated 1 images" in result.output
    assert first.stat().st_mtime_ns == stamp
    assert (out / "val/Thermal16/aachen_000001_000019.tiff").exists()


def test_ranks_translate_disjoint_shares_that_cover_everything(model, tmp_path, monkeypatch):
    ids = tuple(f"aachen_{i:06d}_000019" for i in range(5))
    write_cityscapes(tmp_path / "cs", ids=ids)
    seen = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        out = tmp_path / f"rank{rank}"
        assert translate(model, tmp_path / "cs", out).exit_code == 0
        seen.append({p.stem for p in (out / "val/ThermalImages").glob("*.npy")})
    assert not seen[0] & seen[1] and seen[0] | seen[1] == set(ids)


def test_the_sensor_model_adds_the_stated_noise_and_resamples(model, cityscapes, tmp_path):
    src, _ = cityscapes
    assert translate(model, src, tmp_path / "clean").exit_code == 0
    assert translate(model, src, tmp_path / "noisy", "--sensor", "netd=0.5").exit_code == 0
    name = "val/ThermalImages/aachen_000000_000019.npy"
    noise = np.load(tmp_path / "noisy" / name) - np.load(tmp_path / "clean" / name)
    assert 0.4 < noise.std() < 0.6 and abs(noise.mean()) < 0.1
    assert translate(model, src, tmp_path / "small", "--sensor", "size=48x30,blur=1,fpn=0.2").exit_code == 0
    assert np.load(tmp_path / "small" / name).shape == (30, 48)
    assert Image.open(tmp_path / "small/val/JPEGImages/aachen_000000_000019.jpg").size == (48, 30)


def test_bad_translate_inputs_are_named(model, cityscapes, tmp_path):
    src, _ = cityscapes
    (src / "gtFine/val/aachen/aachen_000001_000019_gtFine_labelIds.png").unlink()
    one_line_error(translate(model, src, tmp_path / "o1"), "aachen_000001_000019_leftImg8bit.png",
                   "label partner")
    one_line_error(translate(model, src, tmp_path / "o2", "--format", "jpeg"), "--format", "tiff16")
    one_line_error(translate(model, src, tmp_path / "o3", "--sensor", "netd=-1"), "--sensor", "netd=-1")
    one_line_error(translate(model, src, tmp_path / "o4", "--sensor", "gain=2"), "--sensor", "'gain'")


def test_camera_conversions():
    celsius = np.array([[-20.0, 0.0, 36.6, 300.0]], np.float32)
    counts = to_centikelvin(celsius, "x")
    assert counts.dtype == np.uint16 and counts.tolist() == [[25315, 27315, 30975, 57315]]
    with pytest.raises(Exception, match="does not fit 16-bit centikelvin"):
        to_centikelvin(np.array([[400.0]], np.float32), "x")
    frame = np.linspace(0, 100, 1000, dtype=np.float32).reshape(10, 100)
    image, window = agc_8bit(frame)
    assert window["low"] == pytest.approx(1.0, abs=0.01) and window["high"] == pytest.approx(99.0, abs=0.01)
    assert image.min() == 0 and image.max() == 255
    assert parse_sensor("netd=0.05, fpn=0.03,blur=0.8,size=640x512").size == (640, 512)


def test_translate_reads_pst900_and_folders_through_class_maps(model, tmp_path):
    from tests.helpers import index_scene, write_pst900

    write_pst900(tmp_path / "pst", split="test")
    mapping = tmp_path / "map.yaml"
    mapping.write_text("background: road\nsurvivor: person\nbackpack: car\n")
    result = translate(model, tmp_path / "pst", tmp_path / "o1", "--class-map", mapping)
    assert result.exit_code == 0, result.output
    labels = np.minimum(index_scene(seed=0)[0], 4)
    classes = np.asarray(Image.open(tmp_path / "o1/test/SegmentationClass/a.png"))
    assert (classes[labels == 2] == CLASSES.index("car")).all()  # backpack -> car
    assert (classes[labels == 1] == 0).all()  # fire_extinguisher: unmapped -> background
    folders = tmp_path / "mine"
    (folders / "rgb").mkdir(parents=True)
    (folders / "masks").mkdir()
    Image.fromarray(np.full(labels.shape + (3,), 60, np.uint8)).save(folders / "rgb" / "x.png")
    Image.fromarray(np.where(labels == 1, 2, 7).astype(np.uint8)).save(folders / "masks" / "x.png")
    (tmp_path / "classes.yaml").write_text(CLASSES.dump_yaml())
    result = translate(model, folders, tmp_path / "o2", "--layout", "folders", "--rgb-dir", "rgb", "--labels-dir",
                       "masks", "--source-classes", tmp_path / "classes.yaml")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "o2/train/ThermalImages/x.npy").shape == labels.shape


def test_calibrated_input_frames_give_gt_temperatures(model, tmp_path):
    from tests.helpers import write_pst900

    write_pst900(tmp_path / "pst", split="test")
    mapping = tmp_path / "map.yaml"
    mapping.write_text("background: road\nsurvivor: person\n")
    uncalibrated = translate(model, tmp_path / "pst", tmp_path / "o1", "--class-map", mapping, "--temperatures", "gt")
    one_line_error(uncalibrated, "--temperatures gt needs a thermal frame")
    assert "not read" in uncalibrated.output
    result = translate(model, tmp_path / "pst", tmp_path / "o2", "--class-map", mapping, "--temperatures", "gt",
                       "--calibration", "0.04,-273.15")
    assert result.exit_code == 0, result.output
    assert "not read" not in result.output
