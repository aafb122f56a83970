"""Issue #16: the public RGB-thermal datasets in (MFNet, PST900, any paired folders), thermal units and class maps."""

import json

import numpy as np
import pytest
import tifffile
import yaml
from PIL import Image

from layergan.classes import default_classes
from layergan.data.dataset import PreparedDataset
from layergan.data.encoding import RESIDUAL
from layergan.data.public_layouts import MFNET_CLASSES, PST900_CLASSES
from layergan.data.sample_file import read_sample_file
from tests.helpers import index_scene, write_mfnet, write_pst900
from tests.test_reliability import cli, one_line_error, tiny_config, train, tree_digest  # noqa: F401


def prepare(src, out, *extra):
    return cli("prepare", "--src", src, "--out", out, "--quiet", *extra)


def samples(out, split="train"):
    index = json.loads((out / split / "index.json").read_text())
    return {e["id"]: read_sample_file(out / e["file"]) for e in index}


def test_mfnet_is_detected_with_its_splits_classes_and_instances(tmp_path):
    write_mfnet(tmp_path / "mfnet")
    before = tree_digest(tmp_path / "mfnet")
    result = prepare(tmp_path / "mfnet", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "uncalibrated counts" in result.output and "'units'" in result.output
    meta = json.loads((tmp_path / "out/meta.json").read_text())
    assert meta["layout"] == "mfnet" and list(meta["splits"]) == ["train", "test"]
    assert [c["name"] for c in meta["classes"]] == list(MFNET_CLASSES)
    assert meta["thermal_units"]["symbol"] == "units"
    a = samples(tmp_path / "out")["a"]
    labels, counts = index_scene(seed=0)
    assert (a["class_map"] == labels).all()
    np.testing.assert_array_equal(a["thermal"], (counts // 64 % 256).astype(np.float32))  # the 4th channel, exact
    cars = np.unique(a["instance_map"][labels == 1])
    assert len(cars) == 2 and 0 not in cars  # two separate cars: two connected components
    assert (a["instance_map"][labels == 0] == 0).all()
    assert tree_digest(tmp_path / "mfnet") == before  # nothing written into the source


def test_a_class_map_sends_unmapped_classes_to_background_and_counts_them(tmp_path):
    write_mfnet(tmp_path / "mfnet")
    mapping = tmp_path / "map.yaml"
    mapping.write_text(yaml.safe_dump({"unlabeled": "background", "car": "car", "person": "person"}))
    result = prepare(tmp_path / "mfnet", tmp_path / "out", "--class-map", mapping)
    assert result.exit_code == 0, result.output
    bike = int((index_scene(seed=0)[0] == 3).sum() + (index_scene(seed=1)[0] == 3).sum()
               + (index_scene(seed=0)[0] == 3).sum())  # train a (seed 0), b (seed 1); test c (seed 0)
    assert f"{bike} pixels of unmapped classes became background (bike: {bike})" in result.output
    meta = json.loads((tmp_path / "out/meta.json").read_text())
    assert [c["name"] for c in meta["classes"]] == list(default_classes().names)
    assert meta["remapped_to_background"] == {"bike": bike}
    a = samples(tmp_path / "out")["a"]
    labels = index_scene(seed=0)[0]
    car, person = default_classes().index("car"), default_classes().index("person")
    assert (a["class_map"][labels == 1] == car).all() and (a["class_map"][labels == 2] == person).all()
    assert (a["class_map"][labels == 3] == 0).all()


def test_pst900_prefers_the_16_bit_frames_and_calibrates_them(tmp_path):
    write_pst900(tmp_path / "pst")
    result = prepare(tmp_path / "pst", tmp_path / "out", "--calibration", "0.04,-273.15")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "out/meta.json").read_text())
    assert meta["layout"] == "pst900" and [c["name"] for c in meta["classes"]] == list(PST900_CLASSES)
    assert meta["thermal_units"] == {"kind": "counts", "gain": 0.04, "offset": -273.15, "symbol": "°C"}
    counts = index_scene(seed=0)[1]
    np.testing.assert_allclose(samples(tmp_path / "out")["a"]["thermal"], counts * 0.04 - 273.15, atol=1e-4)
    dataset = PreparedDataset(tmp_path / "out", "train", 32, RESIDUAL, augment=False)
    assert dataset[0]["masks"].shape == (len(PST900_CLASSES), 32, 32)


def test_folders_read_kelvin_tiffs_and_palette_labels_per_split(tmp_path):
    src = tmp_path / "mine"
    classes = default_classes()
    (tmp_path / "classes.yaml").write_text(classes.dump_yaml())
    labels, _ = index_scene()
    labels = np.where(labels == 3, 7, labels)  # bike -> road, so the ids are default classes
    kelvin = (293.15 + np.arange(labels.size, dtype=np.float32).reshape(labels.shape) / 100).astype(np.float32)
    for split in ("train", "test"):
        for sub in ("colour", "segmentation", "ir"):
            (src / split / sub).mkdir(parents=True)
        Image.fromarray(np.full(labels.shape + (3,), 80, np.uint8)).save(src / split / "colour" / "x.jpg")
        Image.fromarray(classes.palette_array()[labels]).save(src / split / "segmentation" / "x.png")
        tifffile.imwrite(src / split / "ir" / "x.tiff", kelvin)
    result = prepare(src, tmp_path / "out", "--layout", "folders", "--rgb-dir", "{split}/colour",
                     "--labels-dir", "{split}/segmentation", "--thermal-dir", "{split}/ir",
                     "--source-classes", tmp_path / "classes.yaml", "--thermal-units", "kelvin")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "out/meta.json").read_text())
    assert list(meta["splits"]) == ["train", "test"] and meta["thermal_units"]["symbol"] == "°C"
    x = samples(tmp_path / "out", "test")["x"]
    assert (x["class_map"] == labels).all()
    np.testing.assert_allclose(x["thermal"], kelvin - 273.15, atol=1e-4)


@pytest.mark.parametrize("damage, fragments", [
    ("mfnet_rgb", ("a.png", "RGBA", "3 channel")),
    ("label_id", ("labels/a.png", "label ids [12]", "outside the class list")),
    ("size", ("labels/a.png", "sizes differ")),
])
def test_bad_mfnet_files_are_named(tmp_path, damage, fragments):
    write_mfnet(tmp_path / "mfnet")
    labels, _ = index_scene()
    if damage == "mfnet_rgb":
        Image.fromarray(np.zeros(labels.shape + (3,), np.uint8)).save(tmp_path / "mfnet/images/a.png")
    elif damage == "label_id":
        Image.fromarray(np.full(labels.shape, 12, np.uint8)).save(tmp_path / "mfnet/labels/a.png")
    else:
        Image.fromarray(labels[:10]).save(tmp_path / "mfnet/labels/a.png")
    one_line_error(prepare(tmp_path / "mfnet", tmp_path / "out"), *fragments)


def test_an_8_bit_thermal_raw_is_refused(tmp_path):
    write_pst900(tmp_path / "pst")
    frame = np.zeros(index_scene()[0].shape, np.uint8)
    Image.fromarray(frame).save(tmp_path / "pst/train/thermal_raw/b.png")
    one_line_error(prepare(tmp_path / "pst", tmp_path / "out"), "thermal_raw/b.png", "16-bit", "uint8")


def test_bad_options_are_named(tmp_path):
    write_mfnet(tmp_path / "mfnet")
    broken = tmp_path / "map.yaml"
    broken.write_text("car: [unclosed")
    one_line_error(prepare(tmp_path / "mfnet", tmp_path / "o1", "--class-map", broken), "map.yaml", "unreadable")
    broken.write_text("tram: car")
    one_line_error(prepare(tmp_path / "mfnet", tmp_path / "o2", "--class-map", broken), "map.yaml", "'tram'",
                   "bump")
    one_line_error(prepare(tmp_path / "mfnet", tmp_path / "o3", "--thermal-units", "kelvin", "--calibration",
                           "0.04,0"), "--calibration", "counts")
    one_line_error(prepare(tmp_path / "mfnet", tmp_path / "o4", "--calibration", "fast"), "GAIN,OFFSET")
    one_line_error(prepare(tmp_path / "mfnet", tmp_path / "o5", "--layout", "folders", "--rgb-dir", "images"),
                   "--labels-dir")
    assert not any((tmp_path / f"o{i}" / "meta.json").exists() for i in range(1, 6))


def test_a_model_trains_on_mfnet_classes(tmp_path, tiny_config):  # noqa: F811
    write_mfnet(tmp_path / "mfnet")
    assert prepare(tmp_path / "mfnet", tmp_path / "out").exit_code == 0
    result = train(tiny_config, tmp_path / "out", tmp_path / "run", "layergan", "--steps", 1)
    assert result.exit_code == 0, result.output
    spec = json.loads(next((tmp_path / "run").glob("ckpt-*/G_ema.json")).read_text())
    assert [c["name"] for c in spec["classes"]] == list(MFNET_CLASSES)
    assert spec["thermal_units"]["symbol"] == "units"
    # translate reads MFNet too; a model of uncalibrated units cannot write radiometric centikelvin
    translated = tmp_path / "translated"
    one_line_error(cli("translate", "--checkpoint", tmp_path / "run", "--input", tmp_path / "mfnet", "--out",
                       translated, "--format", "tiff16", "--quiet"), "tiff16", "uncalibrated units")
    result = cli("translate", "--checkpoint", tmp_path / "run", "--input", tmp_path / "mfnet", "--out", translated,
                 "--format", "npy,png8", "--quiet")
    assert result.exit_code == 0, result.output
    window = json.loads((translated / "test/Thermal8/c.json").read_text())
    assert window["unit"] == "units"
    # nothing claims degrees that are not degrees
    report = tmp_path / "report"
    result = cli("evaluate", "--runs", tmp_path / "run", "--data", tmp_path / "out", "--out", report, "--no-fid",
                 "--quiet")
    assert result.exit_code == 0, result.output
    text = (report / "report.md").read_text()
    assert "MAE units" in text and "°C" not in text
    assert json.loads((report / "metrics.json").read_text())["unit"] == "units"
