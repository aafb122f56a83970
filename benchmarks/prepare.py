"""prepare throughput at 640x480: samples/s against --workers and dataset size, and peak RSS; and the same
scenes as ThermalWorld ships them (593x445, RGB class maps with noisy edge colours, grayscale-triplet instance
PNGs, float64 thermal) beside the embedded files, with the rate of decoding the inputs alone as the limit."""

from __future__ import annotations

import multiprocessing as mp
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import run_measured, save_result
from layergan.classes import default_classes
from layergan.data.labels import object_edges
from layergan.data.layouts import list_samples, read_sample
from layergan.data.readers import Reading

QUICK = {"sizes": (50, 100), "workers": (1, 2), "convention_samples": 40}
EDGE_NOISE = 15  # per channel on edge pixels: within the default palette tolerance (30) as a vector


def thermalworld_like(raw: Path, out: Path, seed: int = 0) -> None:
    """The embedded VOC scenes rewritten with ThermalWorld's conventions (the colour JPEGs are linked)."""
    rng, palette = np.random.default_rng(seed), default_classes().palette_array().astype(np.int16)
    folders = {sub: out / "train" / sub for sub in ("JPEGImages", "SegmentationClass", "SegmentationObject",
                                                     "ThermalImages")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    for jpeg in sorted((raw / "train" / "JPEGImages").glob("*.jpg")):
        (folders["JPEGImages"] / jpeg.name).symlink_to(jpeg)
        classes = np.asarray(Image.open(raw / "train" / "SegmentationClass" / f"{jpeg.stem}.png"))
        instances = np.asarray(Image.open(raw / "train" / "SegmentationObject" / f"{jpeg.stem}.png"))
        colours = palette[np.minimum(classes, len(palette) - 1)]
        spread = np.where(object_edges(classes, instances)[..., None], EDGE_NOISE, 0)  # resampled borders
        noisy = colours + rng.integers(-1, 2, size=colours.shape) * spread
        void = classes == 255
        noisy[void] = (224, 224, 192)
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(folders["SegmentationClass"] / f"{jpeg.stem}.png")
        Image.fromarray(np.repeat(instances[..., None], 3, axis=2).astype(np.uint8)).save(
            folders["SegmentationObject"] / f"{jpeg.stem}.png")
        thermal = np.load(raw / "train" / "ThermalImages" / f"{jpeg.stem}.npy")
        np.save(folders["ThermalImages"] / f"{jpeg.stem}.npy", thermal.astype(np.float64))


def _decode(ref):
    read_sample(ref, Reading(default_classes()))


def decode_rate(src: Path, workers: int = 2) -> float:
    """Samples/s of reading and checking the inputs alone, in `workers` processes: what prepare cannot beat."""
    refs, _ = list_samples(src, "train", "voc")
    with mp.get_context("spawn").Pool(workers) as pool:
        pool.map(_decode, refs[:workers])  # start-up outside the timing
        start = time.perf_counter()
        pool.map(_decode, refs, chunksize=4)
        return len(refs) / (time.perf_counter() - start)


def conventions(samples: int = 200, size: str = "593x445") -> list[dict]:
    """Embedded files against ThermalWorld's conventions, the same scenes, measured in one run."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        embedded, real = Path(tmp) / "embedded", Path(tmp) / "thermalworld"
        run_measured(["layergan", "synth-data", "--out", str(embedded), "--train", str(samples), "--test", "0",
                      "--size", size, "--workers", "2", "--quiet"])
        thermalworld_like(embedded, real)
        for name, src in (("embedded", embedded), ("thermalworld conventions", real)):
            out = Path(tmp) / f"out-{src.name}"
            res = run_measured(["layergan", "prepare", "--src", str(src), "--out", str(out), "--split", "train",
                                "--workers", "2", "--quiet"])
            rows.append({"files": name, "size": size, "samples": samples, "seconds": res["seconds"],
                         "samples_per_s": round(samples / res["seconds"], 1),
                         "decode_only_samples_per_s": round(decode_rate(src), 1),
                         "peak_rss_mib_largest_process": res["peak_rss_mib_largest_process"]})
    return rows


def run(sizes: tuple[int, ...] = (200, 400, 800), workers: tuple[int, ...] = (1, 2),
        convention_samples: int = 200) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        run_measured(["layergan", "synth-data", "--out", str(raw), "--train", str(max(sizes)), "--test", "0",
                      "--size", "640x480", "--workers", "2", "--quiet"])

        def one(n, k):
            subset = Path(tmp) / f"raw{n}"
            if not subset.exists():  # a raw folder with the first n scenes, linked, not copied
                for sub in ("JPEGImages", "SegmentationClass", "SegmentationObject", "ThermalImages"):
                    (subset / "train" / sub).mkdir(parents=True)
                    for f in sorted((raw / "train" / sub).iterdir())[:n]:
                        (subset / "train" / sub / f.name).symlink_to(f)
            out = Path(tmp) / "out"
            res = run_measured(["layergan", "prepare", "--src", str(subset), "--out", str(out), "--split", "train",
                                "--workers", str(k), "--quiet"])
            shutil.rmtree(out)
            res.update(samples=n, workers=k, samples_per_s=round(n / res["seconds"], 1))
            return res

        by_workers = [one(sizes[1], k) for k in workers]
        by_size = [one(n, 2) for n in sizes]
    result = {"size": "640x480", "by_workers": by_workers, "by_size": by_size,
              "conventions": conventions(convention_samples),
              "target": ">= 30 samples/s with --workers 2; peak RSS < 1.5 GiB, flat in N"}
    save_result("prepare", result)
    return result
