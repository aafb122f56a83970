"""The one writer and reader of prepared samples (format 3): `<id>.safetensors.zst`.

A sample stores only what cannot be recomputed cheaply: the colour image, the class and
instance maps, the thermal frame and the object table. Edges and R are derived in the
Dataset at the output size, from the maps and the table, which is cheaper than reading them.

The file is a safetensors file (arrays, plus `source`, `digest` and `format_version` as
string metadata) compressed whole with Zstandard: `zstd -d` gives a file that
`safetensors.numpy.load_file` reads. Zstandard rather than the zip deflate of `.npz`: at the
same size it decodes 3-4x faster, and deflate cost a loader worker a third of its rate
(benchmarks/notes/loader.md). The thermal frame is stored as its four byte planes
(`thermal_planes`, (4, H, W) uint8, plane k = byte k of little-endian float32): the
exponent bytes, nearly constant, then compress apart from the noisy low mantissa bytes,
which no general-purpose codec does by itself. Splitting the planes is exact.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import zstandard
from safetensors import SafetensorError
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from layergan.errors import DataError
from layergan.io import write_with

FORMAT_VERSION = 3  # 2: sources and a digest recorded; 3: no edges or R, uint16 instances, safetensors + zstd
SUFFIX = ".safetensors.zst"
ARRAY_KEYS = ("rgb", "class_map", "instance_map", "thermal", "class_temperatures", "objects")
TEXT_KEYS = ("source", "digest", "remapped")  # remapped: JSON {source label id: pixels sent to background}
ZSTD_LEVEL = 3  # levels above 3 shrink files by 1-2% and cost prepare several times the time
UNREADABLE = (OSError, ValueError, KeyError, EOFError, SafetensorError, zstandard.ZstdError, struct.error)


def thermal_to_planes(thermal: np.ndarray) -> np.ndarray:
    height, width = thermal.shape
    return np.ascontiguousarray(thermal.astype("<f4").view(np.uint8).reshape(height, width, 4).transpose(2, 0, 1))


def planes_to_thermal(planes: np.ndarray) -> np.ndarray:
    _, height, width = planes.shape
    thermal = np.empty((height, width), "<f4")
    interleaved = thermal.view(np.uint8).reshape(height, width, 4)
    for k in range(4):  # four strided copies: a quarter of the time of one transposed copy
        interleaved[..., k] = planes[k]
    return thermal


def compact_instances(instance_map: np.ndarray) -> np.ndarray:
    """uint16 where the ids fit (all real datasets), else int32."""
    if instance_map.size and (instance_map.min() < 0 or instance_map.max() > np.iinfo(np.uint16).max):
        return instance_map.astype(np.int32)
    return instance_map.astype(np.uint16)


def write_sample(path: Path, arrays: dict[str, np.ndarray], text: dict[str, str]) -> None:
    """Atomically write ARRAY_KEYS (`thermal` as float32 °C) and TEXT_KEYS as one format-3 sample."""
    tensors = {k: np.ascontiguousarray(arrays[k]) for k in ARRAY_KEYS if k != "thermal"}
    tensors["thermal_planes"] = thermal_to_planes(arrays["thermal"])
    metadata = {**{k: text[k] for k in TEXT_KEYS}, "format_version": str(FORMAT_VERSION)}
    packed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(save_safetensors(tensors, metadata=metadata))
    write_with(path, lambda buffer: buffer.write(packed))


def _metadata(raw: bytes) -> dict[str, str]:
    """The safetensors header's string metadata: an 8-byte little-endian length, then JSON."""
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]).get("__metadata__") or {}


def read_sample_file(path: Path, keys: tuple[str, ...] = ARRAY_KEYS + TEXT_KEYS) -> dict:
    """The members `keys` of a prepared sample (arrays, and strings for TEXT_KEYS); DataError naming the file
    if it is unreadable or was written in another format."""
    try:
        raw = zstandard.ZstdDecompressor().decompress(Path(path).read_bytes())
        metadata = _metadata(raw)
        version = metadata.get("format_version", "?")
        if version != str(FORMAT_VERSION):
            raise DataError(f"{path}: prepared in format {version}, this layergan reads format {FORMAT_VERSION}; "
                            "run the same `layergan prepare` again to redo it")
        tensors = load_safetensors(raw)
        out = {k: metadata[k] if k in TEXT_KEYS else tensors[k] for k in keys if k != "thermal"}
        if "thermal" in keys:
            out["thermal"] = planes_to_thermal(tensors["thermal_planes"])
        return out
    except UNREADABLE as error:
        raise DataError(f"{path}: unreadable prepared sample ({type(error).__name__}: {error}); run the same "
                        "`layergan prepare` again to redo it") from None

