import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from layergan.cli.main import main
from layergan.data.dataset import PreparedDataset, ResumableSampler
from layergan.data.encoding import ABSOLUTE, RESIDUAL
from layergan.data.labels import object_edges, object_table, thermal_segmentation
from layergan.data.sample_file import read_sample_file
from layergan.data.prepare import PrepareOptions, prepare
from tests.helpers import two_object_scene, write_voc_sample


def run_prepare(src, out, *extra):
    return CliRunner().invoke(main, ["prepare", "--src", str(src), "--out", str(out), "--split", "train", "--quiet",
                                     *map(str, extra)])


def load_sample(out, name, split="train"):
    """A prepared sample's stored arrays, with R painted from its object table as the Dataset does."""
    sample = read_sample_file(next((out / split).rglob(f"{name}.safetensors.zst")))
    sample["thermal_segmentation"] = thermal_segmentation(sample["class_map"], sample["instance_map"], sample["objects"])
    return sample


@pytest.fixture
def voc(tmp_path):
    cls, inst, thermal = two_object_scene()
    write_voc_sample(tmp_path / "raw", "train", "a", cls, inst, thermal)
    return tmp_path / "raw", cls, inst, thermal


def test_r_t_and_object_table_are_exact(voc, tmp_path):
    src, cls, inst, thermal = voc
    assert run_prepare(src, tmp_path / "out").exit_code == 0
    s = load_sample(tmp_path / "out", "a")
    for instance, klass in ((1, 2), (2, 1), (0, 7)):
        region = (inst == instance) & (cls == klass)
        assert np.allclose(s["thermal_segmentation"][region], thermal[region].mean(), atol=1e-4)
    t = s["class_temperatures"]
    assert np.isclose(t[2, 0], thermal[cls == 2].mean(), atol=1e-4) and t[2, 1] == 1
    assert np.isclose(t[7, 0], thermal[cls == 7].mean(), atol=1e-4)
    assert t[3, 1] == 0 and t[3, 0] == 0  # minibus absent
    objects = {(int(r[1]), int(r[0])): r for r in s["objects"]}
    car = objects[(2, 1)]
    assert car[2] == (cls == 2).sum()
    assert np.isclose(car[4], thermal[inst == 1].std(), atol=1e-4)
    assert np.isclose(car[5], thermal[inst == 1].min()) and np.isclose(car[6], thermal[inst == 1].max())


def test_edges_lie_exactly_on_object_borders():
    cls = np.zeros((8, 8), np.uint8)
    inst = np.zeros((8, 8), np.uint8)
    cls[2:5, 3:6], inst[2:5, 3:6] = 1, 1
    expected = np.zeros((8, 8), bool)
    expected[2:5, 3:6] = True  # a 3x3 object: all but its centre touch the border
    expected[3, 4] = False
    expected[1, 3:6] = expected[5, 3:6] = expected[2:5, 2] = expected[2:5, 6] = True
    assert (object_edges(cls, inst) == expected).all()
    # two touching instances of one class are separated too
    inst[2:5, 5] = 2
    assert object_edges(cls, inst)[3, 4] and object_edges(cls, inst)[3, 5]


def test_smeared_rgb_class_maps_are_matched_within_tolerance(tmp_path):
    cls, inst, thermal = two_object_scene()
    write_voc_sample(tmp_path / "raw", "train", "a", cls, inst, thermal, class_mode="RGB")
    path = tmp_path / "raw/train/SegmentationClass/a.png"
    rgb = np.asarray(Image.open(path)).astype(np.int16)
    rgb = np.clip(rgb + np.random.default_rng(0).integers(-8, 9, rgb.shape), 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    assert run_prepare(tmp_path / "raw", tmp_path / "ok").exit_code == 0
    assert (load_sample(tmp_path / "ok", "a")["class_map"] == cls).all()
    rgb[0, 0] = (250, 250, 0)
    rgb[0, 1] = (250, 250, 0)
    Image.fromarray(rgb).save(path)
    result = run_prepare(tmp_path / "raw", tmp_path / "bad")
    assert result.exit_code == 1 and "2 pixels" in result.output and "a.png" in result.output


def test_non_square_and_greyscale_rgb_instance_ids(tmp_path):
    cls, inst, thermal = two_object_scene(h=30, w=71)
    write_voc_sample(tmp_path / "raw", "train", "a", cls, inst, thermal)
    grey = np.repeat(inst[..., None], 3, axis=2)  # #010101-style ids in an RGB file
    Image.fromarray(grey.astype(np.uint8)).save(tmp_path / "raw/train/SegmentationObject/a.png")
    assert run_prepare(tmp_path / "raw", tmp_path / "out").exit_code == 0
    s = load_sample(tmp_path / "out", "a")
    assert s["rgb"].shape == (30, 71, 3) and (s["instance_map"] == inst).all()
    ds = PreparedDataset(tmp_path / "out", "train", 32, ABSOLUTE, augment=False)
    item = ds[0]
    assert item["thermal"].shape == (1, 32, 32)
    rows = item["valid"][0].any(dim=1)
    assert 12 <= int(rows.sum()) <= 15  # letterbox: 30/71 of 32 rows are image


def test_thermalgan_layout(tmp_path):
    cls, inst, thermal = two_object_scene()
    base = tmp_path / "raw" / "train"
    for sub in ("TV", "IR_32", "LABEL_TEMP"):
        (base / sub).mkdir(parents=True)
    Image.fromarray(np.full(cls.shape + (3,), 90, np.uint8)).save(base / "TV" / "x.png")
    np.save(base / "IR_32" / "x.npy", thermal)
    label_temp = np.stack([cls.astype(np.float32), np.where(inst > 0, 20.0 + inst, 0)], axis=2)
    np.save(base / "LABEL_TEMP" / "x.npy", label_temp)
    assert run_prepare(tmp_path / "raw", tmp_path / "out").exit_code == 0
    meta = json.loads((tmp_path / "out/meta.json").read_text())
    assert meta["layout"] == "thermalgan"
    s = load_sample(tmp_path / "out", "x")
    assert (s["class_map"] == cls).all()
    assert len(np.unique(s["instance_map"][inst > 0])) == 2
    car = s["instance_map"] == s["instance_map"][5, 6]
    assert np.allclose(s["thermal_segmentation"][car], thermal[inst == 1].mean(), atol=1e-4)


def test_resume_skips_finished_samples_and_meta_is_written_last(tmp_path):
    cls, inst, thermal = two_object_scene()
    for name in ("a", "b", "c"):
        write_voc_sample(tmp_path / "raw", "train", name, cls, inst, thermal)
    np.save(tmp_path / "raw/train/ThermalImages/c.npy", np.full(cls.shape, np.nan, np.float32))
    out = tmp_path / "out"
    assert run_prepare(tmp_path / "raw", out).exit_code == 1  # "interrupted" at c
    assert not (out / "meta.json").exists()
    done = next(out.rglob("a.safetensors.zst"))
    stamp = done.stat().st_mtime_ns
    np.save(tmp_path / "raw/train/ThermalImages/c.npy", thermal)
    assert run_prepare(tmp_path / "raw", out).exit_code == 0
    assert done.stat().st_mtime_ns == stamp  # not redone
    assert json.loads((out / "meta.json").read_text())["splits"]["train"]["samples"] == 3
    assert not list(out.rglob("*.tmp"))


def _corrupt(root):
    (root / "train/JPEGImages/a.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")


def _missing_thermal(root):
    (root / "train/ThermalImages/a.npy").unlink()


def _missing_seg(root):
    (root / "train/SegmentationClass/a.png").unlink()


def _nan(root):
    t = np.load(root / "train/ThermalImages/a.npy")
    t[3, 3] = np.inf
    t[4, 4] = np.nan
    np.save(root / "train/ThermalImages/a.npy", t)


def _size(root):
    np.save(root / "train/ThermalImages/a.npy", np.zeros((10, 10), np.float32))


def _two_classes(root):
    inst = np.asarray(Image.open(root / "train/SegmentationObject/a.png")).copy()
    inst[10:20, 25:30] = 1  # the person region now carries the car's id
    Image.fromarray(inst, mode="L").save(root / "train/SegmentationObject/a.png")


def _channels(root):
    Image.new("RGBA", (40, 24)).save(root / "train/JPEGImages/a.png")


@pytest.mark.parametrize("damage, message", [
    (_corrupt, "corrupt or truncated"),
    (_missing_thermal, "missing thermal"),
    (_missing_seg, "missing segmentation"),
    (_nan, "2 NaN or inf"),
    (_size, "sizes differ"),
    (_two_classes, "spans classes [1, 2]"),
    (_channels, "4 channel"),
])
def test_bad_input_names_file_and_problem_and_skip_mode_lists_it(tmp_path, damage, message):
    cls, inst, thermal = two_object_scene()
    for name in ("a", "b"):
        write_voc_sample(tmp_path / "raw", "train", name, cls, inst, thermal)
    damage(tmp_path / "raw")
    before = sorted(p.name for p in (tmp_path / "raw").rglob("*"))
    result = run_prepare(tmp_path / "raw", tmp_path / "fail")
    assert result.exit_code == 1, result.output
    assert message in result.output and "a." in result.output and "Traceback" not in result.output
    assert not (tmp_path / "fail/meta.json").exists()
    result = run_prepare(tmp_path / "raw", tmp_path / "skip", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    skipped = (tmp_path / "skip/skipped.csv").read_text()
    assert message in skipped and skipped.count("\n") == 2
    assert json.loads((tmp_path / "skip/meta.json").read_text())["splits"]["train"]["samples"] == 1
    assert sorted(p.name for p in (tmp_path / "raw").rglob("*")) == before  # source untouched


def test_empty_or_unknown_layout_and_out_inside_src(tmp_path):
    (tmp_path / "raw/train").mkdir(parents=True)
    result = run_prepare(tmp_path / "raw", tmp_path / "out")
    assert result.exit_code == 1 and "unknown or empty layout" in result.output
    (tmp_path / "raw/train/JPEGImages").mkdir()
    assert "no images found" in run_prepare(tmp_path / "raw", tmp_path / "out").output
    assert "inside --src" in run_prepare(tmp_path / "raw", tmp_path / "raw/out").output


def test_dataset_tensors_and_encodings(synth_root, tmp_path):
    prepare(PrepareOptions(src=synth_root, out=tmp_path / "p"), progress=False)
    absolute = PreparedDataset(tmp_path / "p", "train", 32, ABSOLUTE, augment=False)[0]
    residual = PreparedDataset(tmp_path / "p", "train", 32, RESIDUAL, augment=False)[0]
    assert absolute["masks"].shape == (9, 32, 32) and absolute["t"].shape == (18,)
    assert torch.allclose(absolute["masks"].sum(0), absolute["valid"][0])
    v = absolute["valid"] > 0
    assert torch.allclose(absolute["target"][v], (absolute["thermal"][v].clamp(-50, 50) / 50), atol=1e-6)
    assert torch.allclose(RESIDUAL.decode(residual["target"], residual["r_celsius"])[v],
                          residual["thermal"][v].clamp(residual["r_celsius"][v] - 30, residual["r_celsius"][v] + 30),
                          atol=1e-4)
    assert RESIDUAL.limit == 30.0


def test_residual_encoding_covers_30_degrees_with_the_old_resolution_near_zero():
    """asinh companding: ±30 °C maps to ±1 and round-trips; near 0 the slope is the old linear ±10 °C one."""
    r = torch.zeros(7)
    celsius = torch.tensor([-45.0, -30.0, -5.0, 0.0, 0.5, 12.0, 30.0])
    encoded = RESIDUAL.encode(celsius, r)
    assert encoded[0] == -1 and encoded[1] == -1 and encoded[-1] == 1 and encoded[3] == 0
    torch.testing.assert_close(RESIDUAL.decode(encoded, r), celsius.clamp(-30, 30), atol=1e-4, rtol=1e-5)
    slope = float(RESIDUAL.encode(torch.tensor([0.01]), torch.zeros(1))) / 0.01
    assert slope == pytest.approx(1 / 10, rel=0.01)
    assert (encoded[1:].diff() > 0).all()  # monotonic


def test_augmentation_follows_paper_and_loader_is_deterministic(synth_root, tmp_path):
    prepare(PrepareOptions(src=synth_root, out=tmp_path / "p"), progress=False)
    ds = PreparedDataset(tmp_path / "p", "train", 64, ABSOLUTE, augment=True, seed=1)
    rng = np.random.default_rng(0)
    for _ in range(50):
        (h, w), (top, left) = ds.builder.geometry(72, 96, rng)
        assert 380 * 64 / 512 - 1 <= min(h, w) <= 480 * 64 / 512 + 1
        assert min(0, h - 64) <= top <= max(0, h - 64)

    def batches(workers):
        sampler = ResumableSampler(len(ds), 4, seed=5)
        loader = torch.utils.data.DataLoader(ds, batch_size=4, sampler=sampler, num_workers=workers)
        it = iter(loader)
        return [next(it)["thermal"] for _ in range(3)]

    a, b = batches(0), batches(2)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], a[1])


def test_sampler_global_batches_do_not_depend_on_world_size_or_restart():
    full = ResumableSampler(10, 4, seed=3)
    stream = [next(x) for x in [iter(full)] for _ in range(12)]
    halves = [ResumableSampler(10, 4, seed=3, rank=r, world_size=2) for r in (0, 1)]
    its = [iter(h) for h in halves]
    merged = []
    for _ in range(3):
        for it in its:
            merged += [next(it) for _ in range(2)]
    assert merged == stream
    resumed = iter(ResumableSampler(10, 4, seed=3, start_step=2))
    assert [next(resumed) for _ in range(4)] == stream[8:12]
    assert sorted(i for i, _ in stream[:10]) == list(range(10))  # one epoch is a permutation


@pytest.mark.parametrize("instance_offset", [0, 1 << 25])
def test_object_table_matches_a_per_segment_reference(instance_offset):
    rng = np.random.default_rng(0)
    class_map = rng.integers(0, 4, (23, 31)).astype(np.uint8)
    class_map[0, :5] = 255  # void pixels are left out
    instance_map = rng.integers(0, 3, (23, 31)).astype(np.int64)
    instance_map[instance_map > 0] += instance_offset  # large ids take the sorting path
    thermal = rng.normal(20, 5, (23, 31)).astype(np.float32)
    valid = class_map != 255
    table, inverse = object_table(class_map, instance_map, thermal, valid)
    pairs = sorted({(int(c), int(i)) for c, i in zip(class_map[valid], instance_map[valid])})
    assert len(table) == len(pairs)
    for row, (c, i) in zip(table, pairs):
        values = thermal[valid & (class_map == c) & (instance_map == i)].astype(np.float64)
        expected = [i, c, values.size, values.mean(), values.std(), values.min(), values.max()]
        np.testing.assert_allclose(row, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(table[inverse, 3], [table[pairs.index((int(c), int(i))), 3] for c, i in
                                                   zip(class_map[valid], instance_map[valid])])
    empty, _ = object_table(class_map, instance_map, thermal, np.zeros_like(valid))
    assert empty.shape == (0, 7)
