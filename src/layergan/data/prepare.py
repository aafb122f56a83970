"""`layergan prepare`: raw ThermalWorld-style folders -> training-ready samples.

Output, per split: `<out>/<split>/shard-NNNN/<id>.npz`, 500 samples per shard
folder, each written atomically; then `<out>/meta.json`, written last. A folder
without meta.json is incomplete: re-running resumes, skipping finished samples.
"""

from __future__ import annotations

import csv
import hashlib
import io
import multiprocessing as mp
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from layergan.classes import ClassList, default_classes
from layergan.data.encoding import ENCODINGS
from layergan.data.labels import OBJECT_COLUMNS, check_instances_single_class, derive_labels
from layergan.data.layouts import detect_layout, list_samples, read_sample
from layergan.errors import ConfigError, DataError
from layergan.io import write_json, write_text, write_with

SHARD_SIZE = 500
FORMAT_VERSION = 1


@dataclass(frozen=True)
class PrepareOptions:
    src: Path
    out: Path
    splits: tuple[str, ...] = ("train", "test")
    layout: str = "auto"
    classes: ClassList | None = None
    workers: int = 1
    on_error: str = "fail"
    palette_tolerance: float = 30.0


def sample_path(out: Path, split: str, position: int, sample_id: str) -> Path:
    return out / split / f"shard-{position // SHARD_SIZE:04d}" / f"{sample_id}.npz"


def _process(job) -> tuple[str, str | None, np.ndarray | None, tuple[int, int] | None]:
    """Prepare one sample; returns (id, error, object table, (H, W))."""
    ref, target, classes, tolerance = job
    target = Path(target)
    if target.exists():  # finished in an earlier run: reuse its object table for the statistics
        with np.load(target) as done:
            return ref.id, None, done["objects"], tuple(done["class_map"].shape)
    try:
        raw = read_sample(ref, classes, tolerance)
        labels = derive_labels(raw.class_map, raw.instance_map, raw.thermal, len(classes))
        check_instances_single_class(labels.objects, str(ref.instances or ref.labels))
    except DataError as error:
        return ref.id, str(error), None, None
    arrays = dict(
        rgb=raw.rgb, class_map=raw.class_map, instance_map=raw.instance_map.astype(np.int32),
        edges=labels.edges, thermal=raw.thermal, thermal_segmentation=labels.thermal_segmentation,
        class_temperatures=labels.class_temperatures, objects=labels.objects,
    )
    write_with(target, lambda buffer: np.savez(buffer, **arrays))
    return ref.id, None, labels.objects, raw.class_map.shape


class _ClassStats:
    """Streaming per-class statistics of object mean temperatures (the priors for `translate --temperatures auto`)."""

    def __init__(self, num_classes: int):
        self.count = np.zeros(num_classes)
        self.sum = np.zeros(num_classes)
        self.sq = np.zeros(num_classes)
        self.min = np.full(num_classes, np.inf)
        self.max = np.full(num_classes, -np.inf)
        self.pixels = np.zeros(num_classes)

    def add(self, objects: np.ndarray):
        cls = objects[:, 1].astype(np.int64)
        means = objects[:, 3]
        n = len(self.count)
        keep = cls < n
        cls, means, pixels = cls[keep], means[keep], objects[keep, 2]
        self.count += np.bincount(cls, minlength=n)
        self.sum += np.bincount(cls, weights=means, minlength=n)
        self.sq += np.bincount(cls, weights=means * means, minlength=n)
        self.pixels += np.bincount(cls, weights=pixels, minlength=n)
        np.minimum.at(self.min, cls, means)
        np.maximum.at(self.max, cls, means)

    def to_dict(self, names) -> dict:
        out = {}
        for i, name in enumerate(names):
            n = self.count[i]
            mean = self.sum[i] / n if n else None
            std = float(np.sqrt(max(self.sq[i] / n - mean**2, 0))) if n else None
            out[name] = {"objects": int(n), "pixels": int(self.pixels[i]), "mean": mean, "std": std,
                         "min": float(self.min[i]) if n else None, "max": float(self.max[i]) if n else None}
        return out


def prepare(options: PrepareOptions, progress: bool = True) -> dict:
    src, out = Path(options.src).resolve(), Path(options.out).resolve()
    if options.on_error not in ("fail", "skip"):
        raise ConfigError(f"--on-error must be fail or skip, got {options.on_error!r}")
    if options.workers < 1:
        raise ConfigError(f"--workers must be >= 1 (got {options.workers})")
    if not src.is_dir():
        raise DataError(f"{src}: source folder not found")
    if out == src or src in out.parents:
        raise ConfigError(f"--out {out} is inside --src {src}; prepare never writes into the source folder")
    classes = options.classes or _classes_for(src)
    layout = detect_layout(src, list(options.splits)) if options.layout == "auto" else options.layout
    if layout not in ("voc", "thermalgan"):
        raise ConfigError(f"--layout must be auto, voc or thermalgan, got {options.layout!r}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "meta.json").unlink(missing_ok=True)  # the folder is incomplete until this run finishes
    stats, splits_meta, skipped = _ClassStats(len(classes)), {}, []
    signature = hashlib.sha256()
    for split in options.splits:
        if not (src / split).is_dir():
            raise DataError(f"{src / split}: split folder not found")
        refs, problems = list_samples(src, split, layout)
        for path, reason in problems:
            if options.on_error == "fail":
                raise DataError(f"{path}: {reason}")
            skipped.append((split, path, reason))
        jobs = [(ref, str(sample_path(out, split, i, ref.id)), classes, options.palette_tolerance)
                for i, ref in enumerate(refs)]
        entries = []
        bar = tqdm(total=len(jobs), desc=f"prepare {split}", unit="sample", disable=not progress)
        results = _run(jobs, options.workers)
        try:
            for (ref, target, *_), (sample_id, error, objects, shape) in zip(jobs, results):
                bar.update()
                if error is not None:
                    if options.on_error == "fail":
                        raise DataError(error)
                    skipped.append((split, str(ref.rgb), error))
                    continue
                stats.add(objects)
                entries.append({"id": sample_id, "file": str(Path(target).relative_to(out)), "height": shape[0],
                                "width": shape[1]})
                signature.update(f"{split}/{sample_id}/{shape}".encode())
        finally:
            bar.close()
            close = getattr(results, "close", None)
            if close:
                close()
        if not entries:
            raise DataError(f"{src / split}: no usable samples")
        write_json(out / split / "index.json", entries)
        splits_meta[split] = {"samples": len(entries), "index": f"{split}/index.json"}
    if skipped:
        _write_skipped(out / "skipped.csv", skipped)
    meta = {
        "format_version": FORMAT_VERSION,
        "source": str(src),
        "layout": layout,
        **classes.to_dict(),
        "temperature_encodings": {name: enc.describe() for name, enc in ENCODINGS.items()},
        "object_table_columns": list(OBJECT_COLUMNS),
        "splits": splits_meta,
        "skipped": len(skipped),
        "class_statistics": stats.to_dict(classes.names),
        "signature": signature.hexdigest()[:16],
    }
    write_text(out / "classes.yaml", classes.dump_yaml())
    write_json(out / "meta.json", meta)
    return meta


class _Pool:
    """Ordered results from a process pool, closable early (on the first failure)."""

    def __init__(self, jobs, workers):
        self.pool = mp.get_context("spawn").Pool(workers)
        self.results = self.pool.imap(_process, jobs, chunksize=4)

    def __iter__(self):
        return iter(self.results)

    def close(self):
        self.pool.terminate()
        self.pool.join()


def _run(jobs, workers):
    return map(_process, jobs) if workers == 1 else _Pool(jobs, workers)


def _classes_for(src: Path) -> ClassList:
    path = src / "classes.yaml"
    return ClassList.load(path) if path.exists() else default_classes()


def _write_skipped(path: Path, rows) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["split", "file", "reason"])
    writer.writerows(rows)
    write_text(path, buffer.getvalue())
