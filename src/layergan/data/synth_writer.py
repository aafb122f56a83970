"""Write procedural scenes to disk in the ThermalWorld VOC layout, streaming.

Each worker makes and writes its scenes itself; the parent only counts, so
memory does not grow with the number of scenes.
"""

from __future__ import annotations

import json
import re
import multiprocessing as mp
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from layergan.classes import default_classes
from layergan.data.labels import edge_marked_segmentation, object_edges
from layergan.data.synth import make_scene
from layergan.data.voc import VOC_FOLDERS, write_voc_sample
from layergan.errors import ConfigError
from layergan.io import write_json, write_text
from layergan.viz import save_grid

MANIFEST = "synth.json"
SCENE_FILE = re.compile(r"^(train|test)_\d{6}\.(jpg|png|npy)$")  # scene_id() and the VOC writer's suffixes
MIN_SIZE = 32


@dataclass(frozen=True)
class SynthSettings:
    train: int
    test: int
    width: int
    height: int
    seed: int

    def validate(self):
        if self.train < 0 or self.test < 0:
            raise ConfigError(f"scene counts must be >= 0 (got --train {self.train}, --test {self.test})")
        if self.train + self.test == 0:
            raise ConfigError("nothing to write: --train and --test are both 0")
        if min(self.width, self.height) < MIN_SIZE:
            raise ConfigError(f"--size {self.width}x{self.height} is too small; each side must be >= {MIN_SIZE}")
        if max(self.width, self.height) > 8192:
            raise ConfigError(f"--size {self.width}x{self.height} is too large; each side must be <= 8192")


def scene_id(split: str, index: int) -> str:
    return f"{split}_{index:06d}"


def _write_scene(job: tuple[SynthSettings, str, str, int]) -> None:
    settings, out, split, index = job
    scene = make_scene(settings.seed, split, index, settings.height, settings.width)
    write_voc_sample(out, split, scene_id(split, index), scene.rgb, scene.class_map, scene.instance_map,
                     scene.thermal, default_classes())


def check_output_folder(out: Path, settings: SynthSettings, overwrite: bool) -> None:
    if not out.exists() or not any(out.iterdir()):
        return
    manifest = out / MANIFEST
    if manifest.exists():
        try:
            previous = json.loads(manifest.read_text())
        except json.JSONDecodeError:
            previous = None
        if previous == asdict(settings):
            return  # the same dataset: rewriting gives identical files
    if not overwrite:
        raise ConfigError(f"{out} already holds other files or a different dataset; "
                          "choose another --out or pass --overwrite")
    remove_written(out)


def remove_written(out: Path) -> None:
    """Delete only what synth-data writes (scene files by their names, its manifest, classes and preview)."""
    for split in ("train", "test"):
        for child in VOC_FOLDERS:
            folder = out / split / child
            if folder.is_dir():
                for path in folder.iterdir():
                    if SCENE_FILE.match(path.name) and path.is_file():
                        path.unlink()
    for name in (MANIFEST, "classes.yaml", "preview.png"):
        (out / name).unlink(missing_ok=True)


def write_dataset(out: str | Path, settings: SynthSettings, workers: int = 1, overwrite: bool = False,
                  preview_scenes: int = 4, progress: bool = True) -> Path:
    settings.validate()
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1 (got {workers})")
    out = Path(out)
    check_output_folder(out, settings, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", settings.train), ("test", settings.test)):
        for child in VOC_FOLDERS:
            if count:
                (out / split / child).mkdir(parents=True, exist_ok=True)
    write_text(out / "classes.yaml", default_classes().dump_yaml())
    jobs = [(settings, str(out), split, i) for split, n in (("train", settings.train), ("test", settings.test))
            for i in range(n)]
    bar = tqdm(total=len(jobs), desc="synth-data", unit="scene", disable=not progress)
    if workers == 1:
        for job in jobs:
            _write_scene(job)
            bar.update()
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            for _ in pool.imap_unordered(_write_scene, jobs, chunksize=8):
                bar.update()
    bar.close()
    write_preview(out, settings, preview_scenes)
    write_json(out / MANIFEST, asdict(settings))
    return out


def write_preview(out: Path, settings: SynthSettings, count: int) -> None:
    """RGB | class colours with white edges | thermal, for the first few scenes."""
    classes = default_classes()
    split = "train" if settings.train else "test"
    rows = []
    for i in range(min(count, settings.train or settings.test)):
        scene = make_scene(settings.seed, split, i, settings.height, settings.width)
        edges = object_edges(scene.class_map, scene.instance_map)
        seg = edge_marked_segmentation(scene.class_map, edges, classes.palette_array())
        rows.append([scene.rgb, seg, scene.thermal])
    save_grid(out / "preview.png", rows, ["RGB", "segmentation + edges", "thermal (°C)"], thermal_columns=[2],
              title="layergan synth-data preview")
