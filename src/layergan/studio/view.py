"""What the page shows of a frame: a palette image with a colorbar, and the temperatures under the mouse.

The temperatures travel with the image as a uint16 grid (centikelvin, as the 16-bit TIFF: 0.01 °C steps) in a
data attribute, so hovering needs no request to the server. Frames wider than
DISPLAY_MAX_SIDE are shown nearest-sampled, smaller ones enlarged by an integer zoom (so that the colorbar's labels
keep their size); the readout names the frame pixel whose value it shows.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
from PIL import Image

from layergan.data.thermal_units import KELVIN_OFFSET
from layergan.viz import thermal_preview

DISPLAY_MAX_SIDE = 640
VIEW_SIDE = 360  # small frames are zoomed to about this: about the width a view gets, so labels stay legible
PALETTE_CHOICES = ("iron", "white-hot", "black-hot")

# Hover: find the image under the mouse, decode its grid once, and write the value beside it.
HOVER_SCRIPT = """
<script>
(() => {
  const grids = new WeakMap();
  function grid(img) {
    let cached = grids.get(img);
    if (!cached || cached.source !== img.dataset.temps) {
      const bytes = Uint8Array.from(atob(img.dataset.temps), c => c.charCodeAt(0));
      cached = {source: img.dataset.temps, values: new Uint16Array(bytes.buffer)};
      grids.set(img, cached);
    }
    return cached.values;
  }
  document.addEventListener("mousemove", (event) => {
    const img = event.target.closest ? event.target.closest("img[data-temps]") : null;
    if (!img) return;
    const readout = img.closest(".studio-view").querySelector(".studio-hover");
    const box = img.getBoundingClientRect();
    const px = Math.floor((event.clientX - box.left) / box.width * img.naturalWidth);
    const py = Math.floor((event.clientY - box.top) / box.height * img.naturalHeight);
    const gw = +img.dataset.gw, gh = +img.dataset.gh, zoom = +img.dataset.zoom;
    if (px < 0 || py < 0 || px >= gw * zoom || py >= gh * zoom) { readout.textContent = "\\u00a0"; return; }
    const gx = Math.floor(px / zoom), gy = Math.floor(py / zoom);
    const value = +img.dataset.offset + grid(img)[gy * gw + gx] * +img.dataset.step;
    const fx = Math.min(+img.dataset.fw - 1, Math.floor(gx * +img.dataset.scale));
    const fy = Math.min(+img.dataset.fh - 1, Math.floor(gy * +img.dataset.scale));
    readout.textContent = `${value.toFixed(2)} ${img.dataset.unit} at pixel (${fx}, ${fy})`;
    readout.dataset.value = value; readout.dataset.x = fx; readout.dataset.y = fy;
  });
})();
</script>
"""


def display_grid(frame: np.ndarray) -> tuple[np.ndarray, float]:
    """The frame nearest-sampled to at most DISPLAY_MAX_SIDE, and frame pixels per display pixel."""
    height, width = frame.shape
    scale = max(1.0, max(height, width) / DISPLAY_MAX_SIDE)
    rows = np.minimum((np.arange(int(height / scale)) * scale).astype(np.int64), height - 1)
    cols = np.minimum((np.arange(int(width / scale)) * scale).astype(np.int64), width - 1)
    return frame[rows[:, None], cols[None, :]], scale


def quantize(values: np.ndarray, calibrated: bool) -> tuple[np.ndarray, float, float]:
    """uint16 counts, offset and step: value = offset + count * step. Calibrated frames use centikelvin (as the
    16-bit TIFF does), so a pixel's count depends on its value alone; raw units span the frame's range."""
    if calibrated:
        low, step = -KELVIN_OFFSET, 0.01
    else:
        low = float(values.min())
        step = max((float(values.max()) - low) / 65535, 1e-6)
    return np.round(np.clip((values - low) / step, 0, 65535)).astype("<u2"), low, step


def frame_html(frame: np.ndarray | None, title: str, unit: str, palette: str, window: tuple[float, float],
               tag: str, calibrated: bool = True) -> str:
    """The HTML of one view: the palette image with its colorbar, the hover grid, and a readout line."""
    if frame is None:
        return f'<div class="studio-view"><b>{html.escape(title)}</b><p>none</p></div>'
    shown, scale = display_grid(frame)
    zoom = max(1, VIEW_SIDE // max(shown.shape))
    preview = thermal_preview(np.repeat(np.repeat(shown, zoom, axis=0), zoom, axis=1), *window, unit, palette)
    png = io.BytesIO()
    Image.fromarray(preview).save(png, format="PNG", compress_level=1)
    counts, offset, step = quantize(shown, calibrated)
    attributes = {"gw": shown.shape[1], "gh": shown.shape[0], "zoom": zoom, "fw": frame.shape[1], "fh": frame.shape[0],
                  "scale": f"{scale:.6f}", "offset": f"{offset:.6f}", "step": f"{step:.9f}", "unit": unit,
                  "temps": base64.b64encode(counts.tobytes()).decode()}
    data = " ".join(f'data-{k}="{html.escape(str(v))}"' for k, v in attributes.items())
    return (f'<div class="studio-view" id="{tag}"><b>{html.escape(title)}</b>'
            f'<img class="studio-image" style="image-rendering:pixelated" alt="{html.escape(title)}" '
            f'src="data:image/png;base64,{base64.b64encode(png.getvalue()).decode()}" {data}>'
            '<div class="studio-hover">&nbsp;</div></div>')


def display_window(*frames: np.ndarray | None, include: tuple[float, ...] = ()) -> tuple[float, float]:
    """One colour window for the views shown side by side: the 1st..99th percentile, widened to the temperatures
    in `include` (the values set: a small object set hot would otherwise saturate), at least 1 degree wide."""
    values = np.concatenate([f.reshape(-1)[::3] for f in frames if f is not None])
    low, high = (float(v) for v in np.percentile(values, [1, 99]))
    low, high = min([low, *include]), max([high, *include])
    return low, max(high, low + 1.0)


def input_factor(shape: tuple[int, int]) -> int:
    """How much the input is enlarged for the page. Gradio maps a click to image pixels correctly only when the
    image is shown at most at its own size, so small inputs are sent enlarged (nearest) to DISPLAY_MAX_SIDE."""
    return max(1, DISPLAY_MAX_SIDE // max(shape))


def input_image(rgb: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The input with the selected object tinted, so the page shows what a click picked; enlarged by input_factor."""
    out = rgb
    if mask is not None and mask.any():
        out = rgb.astype(np.float32)
        out[mask] = 0.5 * out[mask] + 0.5 * np.array([0, 255, 255], np.float32)
        out = out.astype(np.uint8)
    factor = input_factor(rgb.shape[:2])
    return np.repeat(np.repeat(out, factor, axis=0), factor, axis=1) if factor > 1 else out
