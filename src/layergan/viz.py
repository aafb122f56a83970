"""Figures: thermal frames through a perceptual colormap with a °C colorbar.

matplotlib draws the colorbars and labels; PNGs are saved without the
version metadata so that equal inputs give byte-identical files.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from layergan.io import write_bytes  # noqa: E402

THERMAL_CMAP = "inferno"
# The palettes thermal cameras offer. matplotlib has no "iron" (ironbow), so it is a ramp through the usual
# black, indigo, magenta, orange, yellow and white.
PALETTES = {
    "inferno": THERMAL_CMAP,
    "iron": matplotlib.colors.LinearSegmentedColormap.from_list(
        "iron", [(0.0, "#000000"), (0.15, "#1f0a5c"), (0.35, "#8c0f8c"), (0.55, "#e0342a"), (0.75, "#f79a0f"),
                 (0.9, "#fde24a"), (1.0, "#ffffff")]),
    "white-hot": "gray",
    "black-hot": "gray_r",
}


def palette_lut(palette: str = "inferno") -> np.ndarray:
    """(256, 3) uint8 colours of a PALETTES entry, coldest first."""
    if palette not in PALETTES:
        raise ValueError(f"unknown palette {palette!r}; choose one of {', '.join(PALETTES)}")
    cmap = plt.get_cmap(PALETTES[palette]) if isinstance(PALETTES[palette], str) else PALETTES[palette]
    return (cmap(np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


def thermal_to_rgb(thermal: np.ndarray, vmin: float, vmax: float, palette: str = "inferno") -> np.ndarray:
    """(H, W) °C -> (H, W, 3) uint8 through a thermal palette."""
    lut = palette_lut(palette)
    scaled = np.clip((thermal - vmin) / max(vmax - vmin, 1e-6), 0, 1)
    return lut[np.nan_to_num(scaled * 255).astype(np.uint8)]


def thermal_preview(thermal: np.ndarray, vmin: float, vmax: float, unit: str = "°C",
                    palette: str = "inferno") -> np.ndarray:
    """(H, W) frame -> (H, W + bar, 3) uint8: the colour-mapped frame with a labelled colorbar on its right.

    Drawn with Pillow rather than matplotlib: a figure per image costs 50-100 ms, this about 1 ms.
    """
    from PIL import Image, ImageDraw, ImageFont

    height, width = thermal.shape
    bar_width, label_width = max(8, width // 40), 64
    ramp = np.linspace(vmax, vmin, height, dtype=np.float32)[:, None].repeat(bar_width, axis=1)
    canvas = np.full((height, width + 4 + bar_width + label_width, 3), 255, np.uint8)
    canvas[:, :width] = thermal_to_rgb(thermal, vmin, vmax, palette)
    canvas[:, width + 4:width + 4 + bar_width] = thermal_to_rgb(ramp, vmin, vmax, palette)
    image = Image.fromarray(canvas)
    draw, font = ImageDraw.Draw(image), ImageFont.load_default()
    x = width + 6 + bar_width
    for value, y in ((vmax, 0), ((vmin + vmax) / 2, height // 2 - 5), (vmin, height - 11)):
        draw.text((x, max(0, y)), f"{value:.1f} {unit}", fill=(0, 0, 0), font=font)
    return np.asarray(image)


def thermal_range(frames: Sequence[np.ndarray]) -> tuple[float, float]:
    """A shared display window: the 1st to 99th percentile over all frames."""
    values = np.concatenate([np.asarray(f, np.float32).reshape(-1)[::7] for f in frames])
    lo, hi = np.percentile(values[np.isfinite(values)], [1, 99])
    return float(lo), float(max(hi, lo + 1.0))


def save_grid(path: str | Path, rows: Sequence[Sequence[np.ndarray]], column_titles: Sequence[str],
              thermal_columns: Sequence[int], title: str | None = None, cell_inches: float = 2.2,
              unit: str = "°C") -> None:
    """A grid of images, rows x columns. Thermal columns (°C or `unit` arrays) share one window and a colorbar."""
    thermal = [row[c] for row in rows for c in thermal_columns]
    vmin, vmax = thermal_range(thermal) if thermal else (0.0, 1.0)
    n_rows, n_cols = len(rows), len(column_titles)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell_inches * n_cols + 1.0, cell_inches * n_rows * 0.8 + 0.5),
                             squeeze=False, constrained_layout=True)
    image = None
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            ax = axes[r][c]
            if c in thermal_columns:
                image = ax.imshow(cell, cmap=THERMAL_CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
            else:
                ax.imshow(cell, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(column_titles[c], fontsize=9)
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.8, pad=0.01)
        bar.set_label(f"temperature ({unit})")
    if title:
        fig.suptitle(title, fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
