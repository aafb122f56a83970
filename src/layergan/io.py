"""Atomic file output: write to a temporary name in the same folder, then rename.

A reader (or a resumed run) therefore never sees a half-written file under its
final name. Files get the permissions the umask allows, as open() would give them,
and a failure to write (read-only folder, disk full) names the file.
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

from layergan.errors import ConfigError, OutputError


def current_umask() -> int:
    mask = os.umask(0)  # the only way to read it; set straight back
    os.umask(mask)
    return mask


def make_dirs(path: str | Path) -> Path:
    """mkdir -p, with an error that names the folder."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{path}: cannot create the folder ({error.strerror or error})") from None
    return path


def check_separate(out: str | Path, source: str | Path, out_option: str, source_option: str) -> None:
    """Refuse an output folder that is, lies inside or contains the source (symlinks resolved)."""
    out, source = Path(out).resolve(), Path(source).resolve()
    if out == source or source in out.parents or out in source.parents:
        relation = "is" if out == source else "lies inside" if source in out.parents else "contains"
        raise ConfigError(f"{out_option} {out} {relation} {source_option} {source}; "
                          f"layergan never writes into its inputs: choose a separate folder")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` on success."""
    path = Path(path)
    make_dirs(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise OutputError(f"{path}: cannot write ({error.strerror or error})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~current_umask())  # mkstemp makes 0600 whatever the umask
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as error:
        raise OutputError(f"{path}: cannot write ({error.strerror or error})") from None
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


class FolderLock:
    """An exclusive lock on a folder (flock on FOLDER/.lock), so that two processes never write one run."""

    def __init__(self, folder: str | Path, holder: str):
        self.path, self.holder, self.file = Path(folder) / ".lock", holder, None

    def acquire(self) -> "FolderLock":
        import fcntl

        make_dirs(self.path.parent)
        self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            pid = self.file.read().strip() or "unknown"
            self.file.close()
            self.file = None
            raise ConfigError(f"{self.path.parent} is in use by process {pid} (another {self.holder}); "
                              "wait for it to finish or choose another folder") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(str(os.getpid()))
        self.file.flush()
        return self

    def release(self) -> None:
        if self.file is not None:
            self.file.close()  # closing the descriptor releases the flock
            self.file = None
