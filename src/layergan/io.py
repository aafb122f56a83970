"""Atomic file output: write to a temporary name in the same folder, then rename.

A reader (or a resumed run) therefore never sees a half-written file under its
final name.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_with(path: str | Path, writer: Callable[[io.BytesIO], None]) -> None:
    """Serialize with `writer(buffer)` in memory, then write atomically."""
    buffer = io.BytesIO()
    writer(buffer)
    write_bytes(path, buffer.getvalue())


def save_npy(path: str | Path, array: np.ndarray) -> None:
    write_with(path, lambda b: np.save(b, array, allow_pickle=False))


def save_pil(path: str | Path, image, **options) -> None:
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}[Path(path).suffix.lower()]
    write_with(path, lambda b: image.save(b, format=fmt, **options))


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table; cells are written with str()."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)
