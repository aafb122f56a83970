import hashlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from layergan.cli.main import main
from layergan.data.synth import C, Part, make_scene


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_same_seed_is_byte_identical_and_other_seed_differs(tmp_path):
    for name, seed, workers in (("a", 5, 1), ("b", 5, 2), ("c", 6, 1)):
        result = run_cli("synth-data", "--out", tmp_path / name, "--train", 4, "--test", 2, "--size", "80x60",
                         "--seed", seed, "--workers", workers, "--quiet")
        assert result.exit_code == 0, result.output
    a, b, c = (tree_digest(tmp_path / n) for n in "abc")
    assert a == b  # worker count must not change a single byte
    assert len(a) == (4 + 2) * 4 + 3  # 4 files per scene + classes.yaml, preview.png, synth.json
    scenes_a = {k: v for k, v in a.items() if "ThermalImages" in k}
    scenes_c = {k: v for k, v in c.items() if "ThermalImages" in k}
    assert all(scenes_a[k] != scenes_c[k] for k in scenes_a)


def test_layout_and_file_types(tmp_path):
    from PIL import Image

    assert run_cli("synth-data", "--out", tmp_path, "--train", 2, "--test", 1, "--size", "96x64", "--quiet").exit_code == 0
    thermal = np.load(tmp_path / "train/ThermalImages/train_000000.npy")
    assert thermal.dtype == np.float32 and thermal.shape == (64, 96)
    cls = Image.open(tmp_path / "train/SegmentationClass/train_000000.png")
    inst = Image.open(tmp_path / "train/SegmentationObject/train_000000.png")
    assert cls.mode == "P" and inst.mode == "P" and cls.size == (96, 64)
    assert np.asarray(cls).max() < 9 and np.asarray(inst).max() >= 2
    assert Image.open(tmp_path / "test/JPEGImages/test_000000.jpg").size == (96, 64)
    assert (tmp_path / "preview.png").stat().st_size > 10_000


def scenes(n, size=(96, 128), split="physics"):
    return [make_scene(11, split, i, *size) for i in range(n)]


def part_mean(scene, part, instance=None):
    mask = scene.part_map == part
    if instance is not None:
        mask &= scene.instance_map == instance
    return float(scene.thermal[mask].mean()) if mask.sum() > 4 else None


def test_people_skin_and_clothing_are_plausible():
    checked = 0
    for scene in scenes(40):
        for obj in scene.objects:
            if obj["class"] != "person":
                continue
            skin = part_mean(scene, Part.SKIN, obj["id"])
            body = scene.thermal[scene.instance_map == obj["id"]]
            if skin is None or body.size < 30:
                continue
            checked += 1
            assert 24.0 < skin < 37.5, skin  # blur mixes a little of the surroundings into small faces
            assert scene.ambient - 2 < body.mean() < 36.0
            assert body.mean() < skin
    assert checked >= 10


def test_night_windows_are_warmer_than_walls_and_day_windows_colder():
    night = day = 0
    for scene in scenes(30, size=(192, 256)):
        for obj in scene.objects:
            if obj["class"] != "building":
                continue
            wall, window = part_mean(scene, Part.WALL, obj["id"]), part_mean(scene, Part.WINDOW, obj["id"])
            if wall is None or window is None:
                continue
            if scene.is_day:
                day += 1
                assert window < wall
            else:
                night += 1
                assert window > wall + 1.0
    assert night >= 5 and day >= 5


def test_class_means_differ_from_ambient_in_documented_direction():
    diffs = {name: [] for name in ("background", "tree", "road_day", "person", "exhaust")}
    for scene in scenes(60):
        a = scene.ambient
        for name, mask in (("background", scene.class_map == C["background"]),
                           ("tree", scene.class_map == C["tree"]),
                           ("person", scene.class_map == C["person"]),
                           ("exhaust", scene.part_map == Part.EXHAUST)):
            if mask.sum() > 10:
                diffs[name].append(scene.thermal[mask].mean() - a)
        if scene.is_day:
            diffs["road_day"].append(scene.thermal[scene.class_map == C["road"]].mean() - a)
    assert np.mean(diffs["background"]) < -8  # the sky is cold
    assert np.mean(diffs["tree"]) < 0  # transpiration cools leaves
    assert np.mean(diffs["road_day"]) > 3  # the sun heats asphalt
    assert np.mean(diffs["person"]) > 3  # body heat
    assert np.mean(diffs["exhaust"]) > 10


def test_car_colour_does_not_predict_temperature():
    luminance, temperature = [], []
    index = 0
    while len(luminance) < 200:
        scene = make_scene(7, "cars", index, 96, 128)
        index += 1
        for obj in scene.objects:
            if obj["class"] != "car":
                continue
            body = part_mean(scene, Part.BODY, obj["id"])
            if body is None:
                continue
            r, g, b = obj["body_rgb"]
            luminance.append(0.299 * r + 0.587 * g + 0.114 * b)
            temperature.append(body - scene.ambient)
    r = np.corrcoef(luminance[:200], temperature[:200])[0, 1]
    assert abs(r) < 0.2, r


def test_thermal_is_textured_inside_objects():
    scene = make_scene(2, "texture", 0, 240, 320)
    stds = []
    for inst in np.unique(scene.instance_map):
        mask = scene.instance_map == inst
        if mask.sum() > 400:
            stds.append(scene.thermal[mask].std())
            # many distinct values, not a few flat levels
            assert len(np.unique(np.round(scene.thermal[mask], 2))) > 50
    assert len(stds) >= 3 and min(stds) > 0.15


@pytest.mark.parametrize("args, message", [
    (["--train", "-3"], "must be >= 0"),
    (["--size", "16x16"], "too small"),
    (["--size", "abc"], "WIDTHxHEIGHT"),
    (["--workers", "0"], "--workers"),
])
def test_bad_arguments_give_one_line_error(tmp_path, args, message):
    result = run_cli("synth-data", "--out", tmp_path / "x", "--quiet", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_refuses_folder_with_a_different_dataset_unless_overwrite(tmp_path):
    base = ["synth-data", "--out", tmp_path, "--train", 1, "--test", 0, "--size", "64x48", "--quiet"]
    assert run_cli(*base).exit_code == 0
    assert run_cli(*base).exit_code == 0  # same dataset again is fine
    other = run_cli(*base[:-1], "--seed", 9, "--quiet")
    assert other.exit_code == 1 and "--overwrite" in other.output
    assert run_cli(*base[:-1], "--seed", 9, "--overwrite", "--quiet").exit_code == 0


def test_help_explains_every_option():
    text = run_cli("synth-data", "--help").output
    for option in ("--out", "--train", "--test", "--size", "--seed", "--workers", "--overwrite"):
        assert option in text
    assert "synth-data" in run_cli("--help").output


def test_the_oracle_is_regenerated_exactly_and_beats_output_r_on_every_scene():
    """The oracle (noiseless parts through the optics) is the floor: no better prediction exists from the inputs,
    and it is never worse than painting each object's true mean (output = R)."""
    from layergan.data.labels import derive_labels, thermal_segmentation
    from layergan.data.synth import make_scene, oracle_frame

    gaps = []
    for index in range(6):
        scene = make_scene(7, "test", index, 72, 96)
        oracle = oracle_frame(7, "test", index, 72, 96)
        assert oracle.tobytes() == scene.oracle.tobytes()  # from the seed alone, bit for bit
        valid = scene.class_map != 255
        objects = derive_labels(scene.class_map, scene.instance_map, scene.thermal, 9).objects
        r = thermal_segmentation(scene.class_map, scene.instance_map, objects)
        oracle_mae = np.abs(oracle - scene.thermal)[valid].mean()
        r_mae = np.abs(r - scene.thermal)[valid].mean()
        assert oracle_mae <= r_mae
        gaps.append(r_mae - oracle_mae)
        residual = scene.thermal - oracle  # texture and sensor noise only: no object structure left
        assert abs(residual[valid].mean()) < 0.5
    assert np.mean(gaps) > 0.1
