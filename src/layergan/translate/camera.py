"""What `translate` writes per image, in the formats cameras and detector pipelines use, and a sensor model.

Formats (--format, one or more):
  npy      ThermalImages/<id>.npy   float32 °C (or units), as `prepare` reads it back
  tiff16   Thermal16/<id>.tiff      uint16 centikelvin: round((°C + 273.15) * 100), as radiometric LWIR
                                    cameras write (FLIR TLinear 0.01 K); -273.15..382.20 °C, 0.005 K step
  png8     Thermal8/<id>.png        uint8 white-hot with automatic gain control, as in FLIR ADAS: the 1st..99th
           Thermal8/<id>.json       percentile window maps linearly to 0..255; the sidecar holds that window
  preview  Previews/<id>.png        colour-mapped, with a colorbar in °C (or units)

The sensor model (--sensor "netd=0.05,fpn=0.03,blur=0.8,size=640x512"), applied in this order:
  blur  optics: a Gaussian of this sigma in output pixels
  size  resampling to the camera's WIDTHxHEIGHT (bilinear, antialiased)
  fpn   column fixed-pattern noise: one offset per column, N(0, fpn) °C, fixed per image seed
  netd  temporal noise: N(0, netd) °C per pixel (a camera's noise-equivalent temperature difference)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from layergan.data.thermal_units import KELVIN_OFFSET
from layergan.errors import ConfigError, DataError
from layergan.io import save_npy, save_pil, write_json, write_with
from layergan.viz import thermal_preview

FORMATS = ("npy", "tiff16", "png8", "preview")
FOLDERS = {"npy": "ThermalImages", "tiff16": "Thermal16", "png8": "Thermal8", "preview": "Previews"}
SUFFIXES = {"npy": ".npy", "tiff16": ".tiff", "png8": ".png", "preview": ".png"}
AGC_PERCENTILES = (1.0, 99.0)
CENTIKELVIN_RANGE = (-KELVIN_OFFSET, 65535 / 100 - KELVIN_OFFSET)


def parse_formats(spec: str) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(part.strip() for part in spec.split(",") if part.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ConfigError(f"--format: {', '.join(unknown) or 'nothing given'}; choose one or more of "
                          f"{', '.join(FORMATS)}, comma-separated")
    return formats


def output_paths(out: Path, split: str, sample_id: str, formats) -> list[Path]:
    """Every file that a finished image has: what resume checks (each is written atomically)."""
    paths = [out / split / FOLDERS[f] / f"{sample_id}{SUFFIXES[f]}" for f in formats]
    if "png8" in formats:
        paths.append(out / split / FOLDERS["png8"] / f"{sample_id}.json")
    return paths


@dataclass(frozen=True)
class SensorModel:
    netd: float = 0.0  # °C, temporal noise
    fpn: float = 0.0  # °C, column fixed-pattern noise
    blur: float = 0.0  # px, optics
    size: tuple[int, int] | None = None  # (width, height) of the camera

    def apply(self, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = frame.astype(np.float32)
        if self.blur > 0:
            out = ndimage.gaussian_filter(out, self.blur, mode="nearest")
        if self.size is not None and self.size != (out.shape[1], out.shape[0]):
            tensor = torch.from_numpy(np.ascontiguousarray(out))[None, None]
            out = F.interpolate(tensor, size=(self.size[1], self.size[0]), mode="bilinear", align_corners=False,
                                antialias=True)[0, 0].numpy()
        if self.fpn > 0:
            out = out + rng.normal(0, self.fpn, size=(1, out.shape[1])).astype(np.float32)
        if self.netd > 0:
            out = out + rng.normal(0, self.netd, size=out.shape).astype(np.float32)
        return out


def parse_sensor(spec: str | None) -> SensorModel | None:
    if not spec:
        return None
    values: dict = {}
    for part in spec.split(","):
        key, equals, value = (p.strip() for p in part.partition("="))
        try:
            if key == "size":
                width, height = (int(v) for v in value.lower().split("x"))
                if width < 8 or height < 8:
                    raise ValueError
                values["size"] = (width, height)
            elif key in ("netd", "fpn", "blur") and equals:
                values[key] = float(value)
                if not np.isfinite(values[key]) or values[key] < 0:
                    raise ValueError
            else:
                raise KeyError(key)
        except KeyError:
            raise ConfigError(f"--sensor: unknown setting {key!r}; use netd, fpn, blur (°C, °C, px) and "
                              "size=WIDTHxHEIGHT") from None
        except ValueError:
            raise ConfigError(f"--sensor: {part.strip()!r} is not a non-negative number (size: WIDTHxHEIGHT, "
                              "each at least 8)") from None
    return SensorModel(**values)


def to_centikelvin(celsius: np.ndarray, source: str) -> np.ndarray:
    low, high = CENTIKELVIN_RANGE
    if celsius.min() < low or celsius.max() > high:
        raise DataError(f"{source}: {celsius.min():.1f}..{celsius.max():.1f} °C does not fit 16-bit centikelvin "
                        f"({low:.2f}..{high:.2f} °C); write npy instead")
    return np.round((celsius.astype(np.float64) + KELVIN_OFFSET) * 100).astype(np.uint16)


def from_centikelvin(counts: np.ndarray) -> np.ndarray:
    return (counts.astype(np.float64) / 100 - KELVIN_OFFSET).astype(np.float32)


def agc_8bit(frame: np.ndarray) -> tuple[np.ndarray, dict]:
    """White-hot 8 bits over the AGC_PERCENTILES window, and the window (for the sidecar)."""
    low, high = (float(v) for v in np.percentile(frame, AGC_PERCENTILES))
    high = max(high, low + 1e-3)
    scaled = np.clip((frame - low) / (high - low), 0, 1) * 255
    return np.round(scaled).astype(np.uint8), {"low": low, "high": high, "percentiles": list(AGC_PERCENTILES)}


def write_thermal(out: Path, split: str, sample_id: str, frame: np.ndarray, formats, unit: str) -> None:
    """Write `frame` in each format; the files of one image are each atomic."""
    for fmt in formats:
        path = out / split / FOLDERS[fmt] / f"{sample_id}{SUFFIXES[fmt]}"
        if fmt == "npy":
            save_npy(path, frame.astype(np.float32))
        elif fmt == "tiff16":
            counts = to_centikelvin(frame, f"{split}/{sample_id}")
            import tifffile  # TIFF with exact 16-bit samples; Pillow's TIFF writer is not used for data

            write_with(path, lambda buffer: tifffile.imwrite(buffer, counts, photometric="minisblack"))
        elif fmt == "png8":
            image, window = agc_8bit(frame)
            save_pil(path, Image.fromarray(image))
            write_json(path.with_suffix(".json"), {**window, "unit": unit, "palette": "white-hot"})
        else:
            low, high = (float(v) for v in np.percentile(frame, AGC_PERCENTILES))
            save_pil(path, Image.fromarray(thermal_preview(frame, low, max(high, low + 1.0), unit)))


def read_tiff16(path: Path) -> np.ndarray:
    """A Thermal16 file back in °C (for tests and users)."""
    import tifffile

    return from_centikelvin(tifffile.imread(path))

