"""The one writer of the ThermalWorld VOC layout (synth-data, translate and the tests use it).

<root>/<split>/JPEGImages/<id>.jpg (or .png), SegmentationClass/<id>.png (palette),
SegmentationObject/<id>.png (palette ids, or 16-bit grey past 255 instances),
ThermalImages/<id>.npy (float32 °C). Every file is written atomically.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from layergan.classes import VOID_COLOR, VOID_LABEL, ClassList
from layergan.io import save_npy, save_pil

VOC_FOLDERS = ("JPEGImages", "SegmentationClass", "SegmentationObject", "ThermalImages")


@lru_cache(maxsize=1)
def instance_palette() -> tuple[int, ...]:
    """Distinct bright colours for instance ids (0 black, 255 the void colour), fixed for byte-identical files."""
    rng = np.random.default_rng(0)
    colors = rng.integers(40, 255, size=(256, 3), dtype=np.uint8)
    colors[0] = 0
    colors[VOID_LABEL] = VOID_COLOR
    return tuple(colors.reshape(-1).tolist())


def write_voc_sample(root: str | Path, split: str, sample_id: str, rgb: np.ndarray, class_map: np.ndarray,
                     instance_map: np.ndarray, thermal: np.ndarray | None, classes: ClassList,
                     rgb_suffix: str = ".jpg", jpeg_quality: int = 92) -> None:
    base = Path(root) / split
    options = {"quality": jpeg_quality} if rgb_suffix in (".jpg", ".jpeg") else {}
    save_pil(base / "JPEGImages" / f"{sample_id}{rgb_suffix}", Image.fromarray(rgb), **options)
    class_png = Image.fromarray(class_map.astype(np.uint8), mode="P")
    class_png.putpalette(classes.pil_palette())
    save_pil(base / "SegmentationClass" / f"{sample_id}.png", class_png)
    if int(instance_map.max(initial=0)) < 256:
        instance_png = Image.fromarray(instance_map.astype(np.uint8), mode="P")
        instance_png.putpalette(list(instance_palette()))
    else:
        instance_png = Image.fromarray(instance_map.astype(np.uint16))
    save_pil(base / "SegmentationObject" / f"{sample_id}.png", instance_png)
    if thermal is not None:
        save_npy(base / "ThermalImages" / f"{sample_id}.npy", thermal.astype(np.float32))
