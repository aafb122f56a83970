"""Prepared format 3: what is stored, how much, and that deriving edges and R at the output size changes no item."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import zstandard
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from layergan.classes import VOID_LABEL
from layergan.data.dataset import PreparedDataset, load_meta, nearest_window
from layergan.data.encoding import RESIDUAL
from layergan.data.labels import derive_labels, thermal_segmentation
from layergan.data.prepare import PrepareOptions, prepare
from layergan.data.sample_file import SUFFIX, compact_instances, read_sample_file, write_sample
from layergan.errors import DataError


def torch_nearest_window(labels, resized, corner, size, fill):
    """The reference: resize the whole map with torch, then cut the window (format 2's loader did this)."""
    full = F.interpolate(torch.from_numpy(labels.astype(np.float64))[None, None], size=resized, mode="nearest")[0, 0]
    out = torch.full((size, size), float(fill), dtype=full.dtype)
    top, left = corner
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + size, resized[0]), min(left + size, resized[1])
    out[y0 - top:y1 - top, x0 - left:x1 - left] = full[y0:y1, x0:x1]
    return out.numpy().astype(labels.dtype)


@pytest.mark.parametrize("source, resized, corner", [
    ((445, 593), (190, 253), (-30, 10)),  # the paper's random downscale, padded above
    ((480, 640), (240, 320), (0, 64)),  # exactly 2x down
    ((72, 96), (144, 192), (5, -7)),  # exactly 2x up
    ((72, 96), (72, 96), (-4, 0)),  # no resize
    ((101, 37), (333, 122), (200, 50)),  # odd upscale, window past the bottom
    ((480, 640), (48, 64), (-8, 0)),  # the evaluation letterbox at 64 px
])
def test_gathering_the_window_equals_resizing_the_whole_map(source, resized, corner, rng):
    labels = rng.integers(0, 60000, size=source).astype(np.uint16)
    ours = nearest_window(labels, resized, corner, 64, 0)
    np.testing.assert_array_equal(ours, torch_nearest_window(labels, resized, corner, 64, 0))


def test_thermal_is_stored_bit_exact_and_instances_compact(tmp_path, rng):
    thermal = rng.normal(20, 15, size=(33, 47)).astype(np.float32)
    thermal[0, 0], thermal[0, 1] = -0.0, np.float32(1e-30)
    class_map = rng.integers(0, 3, size=thermal.shape).astype(np.uint8)
    path = tmp_path / f"s{SUFFIX}"
    for instances, dtype in ((rng.integers(0, 65536, size=thermal.shape), np.uint16),
                             (rng.integers(0, 70000, size=thermal.shape), np.int32)):
        labels = derive_labels(class_map, instances, thermal, 3)
        write_sample(path, dict(rgb=np.zeros((33, 47, 3), np.uint8), class_map=class_map,
                                instance_map=compact_instances(instances), thermal=thermal,
                                class_temperatures=labels.class_temperatures, objects=labels.objects),
                     dict(source='{"rgb": ["a.jpg", 1, 2]}', digest="d1", remapped="{}"))
        back = read_sample_file(path)
        assert back["thermal"].dtype == np.float32
        assert back["thermal"].tobytes() == thermal.tobytes()  # every bit, -0.0 and denormals included
        assert back["instance_map"].dtype == dtype and (back["instance_map"] == instances).all()
        assert back["source"] == '{"rgb": ["a.jpg", 1, 2]}' and back["digest"] == "d1"
        np.testing.assert_array_equal(back["objects"], labels.objects)
        # what the docs promise: zstd around a safetensors file, with no edges and no R inside
        stored = load_safetensors(zstandard.ZstdDecompressor().decompress(path.read_bytes()))
        assert set(stored) == {"rgb", "class_map", "instance_map", "thermal_planes", "class_temperatures", "objects"}


def test_r_painted_from_the_object_table_is_each_segment_mean(rng):
    class_map = np.array([[0, 0, 1, 1], [0, 2, 2, 1], [VOID_LABEL, 2, 2, 1]], np.uint8)
    instances = np.array([[0, 0, 1, 1], [0, 2, 2, 1], [0, 2, 2, 3]], np.int32)
    thermal = rng.normal(10, 5, size=class_map.shape).astype(np.float32)
    r = thermal_segmentation(class_map, instances, derive_labels(class_map, instances, thermal, 3).objects)
    for cls, inst in ((0, 0), (1, 1), (2, 2), (1, 3)):
        region = (class_map == cls) & (instances == inst)
        assert np.allclose(r[region], thermal[region].mean(), atol=1e-5)
    assert r[2, 0] == 0.0  # void


def test_items_get_r_from_the_object_table_and_files_shrink(synth_root, tmp_path):
    out = tmp_path / "prepared"
    prepare(PrepareOptions(src=synth_root, out=out, splits=("train",)), progress=False)
    dataset = PreparedDataset(out, "train", 64, RESIDUAL, augment=True)
    format_2_bytes = stored = 0
    for index in range(len(dataset)):
        path = out / dataset.entries[index]["file"]
        sample = read_sample_file(path)
        height, width = sample["class_map"].shape
        format_2_bytes += height * width * (3 + 1 + 4 + 1 + 4 + 4)  # rgb, classes, int32 ids, edges, T, R
        stored += path.stat().st_size
        item = dataset[(index, 7)]
        valid = item["valid"][0] > 0
        classes = (item["instances"] // 65536).numpy()
        ids = (item["instances"] % 65536).numpy()
        means = {(int(r[1]), int(r[0])): r[3] for r in sample["objects"]}
        painted = np.array([means[(int(c), int(i))] for c, i in zip(classes[valid.numpy()], ids[valid.numpy()])])
        np.testing.assert_allclose(item["r_celsius"][0][valid].numpy(), painted, rtol=1e-6)
        assert (item["r_celsius"][0][~valid] == 0).all()
    # 3x and more at camera sizes (benchmarks/loader.py); at 96x72 the zip headers and object table weigh more
    assert stored * 2.5 <= format_2_bytes, (stored, format_2_bytes)


def test_an_older_format_is_named_with_what_to_do(synth_root, tmp_path):
    out = tmp_path / "prepared"
    prepare(PrepareOptions(src=synth_root, out=out, splits=("train",)), progress=False)
    sample = out / json.loads((out / "train/index.json").read_text())[0]["file"]
    other = tmp_path / f"other{SUFFIX}"
    raw = zstandard.ZstdDecompressor().decompress(sample.read_bytes())
    tensors = load_safetensors(raw)
    other.write_bytes(zstandard.ZstdCompressor().compress(save_safetensors(tensors, metadata={"format_version": "4"})))
    with pytest.raises(DataError, match=rf"other{SUFFIX}: prepared in format 4, .* `layergan prepare` again"):
        read_sample_file(other)
    meta = json.loads((out / "meta.json").read_text())
    (out / "meta.json").write_text(json.dumps({**meta, "format_version": 2}))
    with pytest.raises(DataError, match=r"meta.json: prepared in format 2 .*prepare` again"):
        load_meta(out)


def test_preparing_a_format_2_folder_again_replaces_its_files(synth_root, tmp_path):
    out = tmp_path / "prepared"
    shard = out / "train/shard-0000"
    shard.mkdir(parents=True)
    np.savez(shard / "train_000000.npz", rgb=np.zeros((2, 2, 3), np.uint8))  # what format 2 left
    (out / "prepare.json").write_text(json.dumps({"source": str(synth_root.resolve()), "format_version": 2}))
    (out / "my-notes.txt").write_text("mine")
    warnings = []
    prepare(PrepareOptions(src=synth_root, out=out, splits=("train",)), progress=False, warn=warnings.append)
    assert any("prepared in format 2" in w for w in warnings)
    assert not list(out.rglob("*.npz")) and len(list(out.rglob(f"*{SUFFIX}"))) == 12
    assert (out / "my-notes.txt").read_text() == "mine"
    assert load_meta(out)["format_version"] == 3
