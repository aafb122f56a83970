"""`layergan prepare`: raw ThermalWorld-style folders -> training-ready samples.

Output, per split: `<out>/<split>/shard-NNNN/<id>.safetensors.zst` (data.sample_file), 500 samples per shard
folder, each written atomically; then `<out>/meta.json`, written last. A folder
without meta.json is incomplete: re-running resumes, skipping finished samples.

Each sample records its source files (path, size, modification time): a rerun redoes
the samples whose sources changed, and those whose file is unreadable. `prepare.json`,
written first, names the source, so that an --out prepared from another --src is refused
unless --overwrite is given (which removes only what prepare wrote).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing as mp
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from layergan.classes import ClassList
from layergan.data.encoding import ENCODINGS, check_temperatures
from layergan.data.labels import OBJECT_COLUMNS, check_instances_single_class, derive_labels
from layergan.data.layouts import (LAYOUTS, detect_layout, layout_splits, list_samples, read_sample,
                                   split_exists)
from layergan.data.public_layouts import FolderSpec
from layergan.data.reading import make_reading
from layergan.data.thermal_units import ThermalUnits
from layergan.data.sample_file import FORMAT_VERSION, SUFFIX, compact_instances, read_sample_file, write_sample
from layergan.errors import ConfigError, DataError
from layergan.io import check_separate, make_dirs, write_json, write_text

SHARD_SIZE = 500
MARKER = "prepare.json"
OWN_FILES = ("meta.json", "classes.yaml", "skipped.csv", MARKER)
SPLIT_ORDER = ("train", "val", "test")


@dataclass(frozen=True)
class PrepareOptions:
    src: Path
    out: Path
    splits: tuple[str, ...] | None = None  # None: every split folder the source has
    layout: str = "auto"
    classes: ClassList | None = None
    workers: int = 1
    on_error: str = "fail"
    palette_tolerance: float = 30.0
    overwrite: bool = False  # prepare into an --out that holds another dataset (only prepare's files go)
    allow_extreme_temperatures: bool = False
    units: ThermalUnits | None = None  # None: the layout's default (counts for MFNet and PST900, else °C)
    class_map: Path | None = None  # --class-map YAML: the dataset's classes -> `classes`
    source_classes: ClassList | None = None  # the folders layout's label classes
    folders: FolderSpec | None = None  # the folders layout's --rgb-dir, --labels-dir, --thermal-dir


def sample_path(out: Path, split: str, position: int, sample_id: str) -> Path:
    return out / split / f"shard-{position // SHARD_SIZE:04d}" / f"{sample_id}{SUFFIX}"


def source_record(ref, src: Path) -> str:
    """The sample's source files as JSON: path relative to the source, size and modification time."""
    files = {}
    for role in ("rgb", "labels", "instances", "thermal"):
        path = getattr(ref, role)
        if path is not None:
            stat = Path(path).stat()
            files[role] = [str(Path(path).relative_to(src)), stat.st_size, stat.st_mtime_ns]
    return json.dumps(files, sort_keys=True)


def content_digest(*arrays: np.ndarray) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        digest.update(str((array.dtype, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def _reuse(target: Path, record: str, notes: list):
    """(objects, shape, digest, remapped) of a finished sample whose sources did not change, else None."""
    try:
        done = read_sample_file(target, ("objects", "class_map", "digest", "source", "remapped"))
    except DataError as error:
        notes.append(("redo", f"{str(error).split('; run')[0]}; preparing it again"))
        return None
    if done["source"] == record:
        return done["objects"], tuple(done["class_map"].shape), done["digest"], json.loads(done["remapped"])
    notes.append(("redo", f"{target}: its source files changed since it was prepared; preparing it again"))
    return None


def _process(job):
    """Prepare one sample: (id, error, object table, (H, W), digest, remapped pixels by source id, notes)."""
    ref, target, reading, record, allow_extreme = job
    target, notes = Path(target), []
    if target.exists():
        reused = _reuse(target, record, notes)
        if reused is not None:
            return ref.id, None, *reused, notes
    try:
        raw = read_sample(ref, reading)
        if reading.units.kind == "celsius" and np.issubdtype(np.dtype(raw.thermal_dtype), np.integer):
            notes.append(("integer", f"{ref.thermal} ({raw.thermal_dtype})"))
        if reading.units.calibrated:
            check_temperatures(float(raw.thermal.min()), float(raw.thermal.max()), str(ref.thermal), allow_extreme)
        labels = derive_labels(raw.class_map, raw.instance_map, raw.thermal, len(reading.classes))
        check_instances_single_class(labels.objects, str(ref.instances or ref.labels))
    except DataError as error:
        return ref.id, str(error), None, None, None, None, notes
    remapped = {} if raw.remapped is None else {int(i): int(raw.remapped[i]) for i in np.flatnonzero(raw.remapped)}
    instance_map = compact_instances(raw.instance_map)
    digest = content_digest(raw.rgb, raw.class_map, instance_map, raw.thermal)
    write_sample(target, dict(rgb=raw.rgb, class_map=raw.class_map, instance_map=instance_map, thermal=raw.thermal,
                              class_temperatures=labels.class_temperatures, objects=labels.objects),
                 dict(source=record, digest=digest, remapped=json.dumps(remapped)))
    return ref.id, None, labels.objects, raw.class_map.shape, digest, remapped, notes


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


def available_splits(src: Path, layout: str, folders: FolderSpec | None = None) -> tuple[str, ...]:
    """The source's splits (split folders, or MFNet's lists): train, val, test first."""
    names = layout_splits(src, layout, folders)
    return tuple(sorted(names, key=lambda n: (SPLIT_ORDER.index(n) if n in SPLIT_ORDER else len(SPLIT_ORDER), n)))


def claim_output(out: Path, src: Path, overwrite: bool, warn) -> None:
    """Refuse an --out that holds another dataset or other files, unless `overwrite`; then mark it as ours.

    A folder prepared from the same source in an older format is redone whole: its sample files have
    other names, and would otherwise stay beside the new ones.
    """
    if out.is_dir() and any(out.iterdir()):
        recorded = {}
        for name in (MARKER, "meta.json"):
            try:
                recorded = dict(json.loads((out / name).read_text()))
                break
            except (OSError, ValueError, TypeError):
                continue
        source = recorded.get("source")
        if source != str(src):
            if not overwrite:
                what = f"a dataset prepared from {source}" if source else "files that prepare did not write"
                raise ConfigError(f"--out {out} holds {what}, not {src}; choose another --out or pass --overwrite "
                                  "(which removes only what prepare wrote)")
            remove_prepared(out)
        elif recorded.get("format_version") != FORMAT_VERSION:
            warn(f"{out} was prepared in format {recorded.get('format_version')}; this layergan writes format "
                 f"{FORMAT_VERSION} (a third of the bytes), so every sample is prepared again")
            remove_prepared(out)
    make_dirs(out)
    write_json(out / MARKER, {"source": str(src), "format_version": FORMAT_VERSION})


def remove_prepared(out: Path) -> None:
    """Delete what prepare writes (shard folders, split indexes and its own files), nothing else."""
    for name in OWN_FILES:
        (out / name).unlink(missing_ok=True)
    for split in (d for d in out.iterdir() if d.is_dir()):
        (split / "index.json").unlink(missing_ok=True)
        for shard in split.glob("shard-[0-9][0-9][0-9][0-9]"):
            shutil.rmtree(shard)


def _stderr(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


def prepare(options: PrepareOptions, progress: bool = True, warn=_stderr) -> dict:
    src, out = Path(options.src).resolve(), Path(options.out).resolve()
    if options.on_error not in ("fail", "skip"):
        raise ConfigError(f"--on-error must be fail or skip, got {options.on_error!r}")
    if options.workers < 1:
        raise ConfigError(f"--workers must be >= 1 (got {options.workers})")
    if not src.is_dir():
        raise DataError(f"{src}: source folder not found")
    check_separate(out, src, "--out", "--src")
    layout = options.layout
    if layout == "auto":
        layout = detect_layout(src, list(options.splits or layout_splits(src, "auto") or ("train", "test")))
    if layout not in LAYOUTS:
        raise ConfigError(f"--layout must be auto or one of {', '.join(LAYOUTS)}, got {options.layout!r}")
    splits = options.splits or available_splits(src, layout, options.folders) or ("train", "test")
    for split in splits:
        if not split_exists(src, split, layout, options.folders):
            what = f"{src / split}.txt: split list" if layout == "mfnet" else f"{src / split}: split folder"
            raise DataError(f"{what} not found")
    reading = make_reading(layout, src, options.classes, options.class_map, options.source_classes, options.units,
                           options.palette_tolerance)
    classes = reading.classes
    claim_output(out, src, options.overwrite, warn)
    for name in ("meta.json", "skipped.csv"):  # the folder is incomplete until this run finishes
        (out / name).unlink(missing_ok=True)
    stats, splits_meta, skipped, notes_by_kind = _ClassStats(len(classes)), {}, [], {"redo": [], "integer": []}
    remapped = np.zeros(256, np.int64)
    signature = hashlib.sha256()
    for split in splits:
        refs, problems = list_samples(src, split, layout, folders=options.folders)
        for path, reason in problems:
            if options.on_error == "fail":
                raise DataError(f"{path}: {reason}")
            skipped.append((split, path, reason))
        jobs = [(ref, str(sample_path(out, split, i, ref.id)), reading, source_record(ref, src),
                 options.allow_extreme_temperatures) for i, ref in enumerate(refs)]
        entries = []
        bar = tqdm(total=len(jobs), desc=f"prepare {split}", unit="sample", disable=not progress)
        results = _run(jobs, options.workers)
        try:
            for (ref, target, *_), (sample_id, error, objects, shape, digest, lost, notes) in zip(jobs, results):
                bar.update()
                for kind, note in notes:
                    notes_by_kind[kind].append(note)
                if error is not None:
                    if options.on_error == "fail":
                        raise DataError(error)
                    skipped.append((split, str(ref.rgb), error))
                    continue
                stats.add(objects)
                for source_id, pixels in lost.items():
                    remapped[int(source_id)] += pixels
                entries.append({"id": sample_id, "file": str(Path(target).relative_to(out)), "height": shape[0],
                                "width": shape[1]})
                signature.update(f"{split}/{sample_id}/{digest}".encode())
        finally:
            bar.close()
            close = getattr(results, "close", None)
            if close:
                close()
        if not entries:
            raise DataError(f"{src / split}: no usable samples")
        write_json(out / split / "index.json", entries)
        splits_meta[split] = {"samples": len(entries), "index": f"{split}/index.json"}
    redone, integer_frames = notes_by_kind["redo"], notes_by_kind["integer"]
    for note in redone[:3]:
        warn(f"warning: {note}")
    if len(redone) > 3:
        warn(f"warning: ... and {len(redone) - 3} more samples prepared again")
    if integer_frames:
        warn(f"warning: {len(integer_frames)} thermal frames are integer arrays, read as °C (e.g. "
             f"{integer_frames[0]}). If they hold raw sensor counts or centikelvin, convert them to °C first.")
    lost = {}
    if reading.mapping is not None:
        lost = {reading.mapping.source_names[i]: int(remapped[i]) for i in np.flatnonzero(remapped)}
        if lost:
            warn(f"--class-map: {sum(lost.values())} pixels of unmapped classes became background ("
                 + ", ".join(f"{k}: {v}" for k, v in lost.items()) + ")")
    if not reading.units.calibrated:
        warn(f"note: thermal frames are uncalibrated {reading.units.kind}; metrics and reports will say 'units', "
             "not °C (give --calibration GAIN,OFFSET to convert counts to °C)")
    if skipped:
        _write_skipped(out / "skipped.csv", skipped)
    meta = {
        "format_version": FORMAT_VERSION,
        "source": str(src),
        "layout": layout,
        **classes.to_dict(),
        "thermal_units": reading.units.describe(),
        "class_mapping": reading.mapping.describe() if reading.mapping else None,
        "remapped_to_background": lost,
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


def _write_skipped(path: Path, rows) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["split", "file", "reason"])
    writer.writerows(rows)
    write_text(path, buffer.getvalue())
