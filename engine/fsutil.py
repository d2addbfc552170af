"""Atomic file writes: write a temp file in the same folder, fsync, then ``os.replace``.

A crash or kill mid-write leaves the previous file intact; readers never see half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temp file beside ``path``; on clean exit it replaces ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: str | os.PathLike, writer: Callable[[IO], None]) -> None:
    """``writer(fh)`` writes into the temp file (e.g. ``lambda f: torch.save(obj, f)``)."""
    with atomic_open(path, "wb") as fh:
        writer(fh)


def output_file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be written as a file (a folder, a file where a folder is needed, no
    permission), or None. Checked before long work so bad output paths fail fast as bad input."""
    p = Path(path)
    if p.is_dir():
        return f"{p} is a folder; give a file name such as {p / 'report.json'}"
    parent = next((q for q in [p.parent, *p.parent.parents] if q.exists()), None)
    if parent is not None and not parent.is_dir():
        return f"{parent} is not a folder"
    if parent is not None and not os.access(parent, os.W_OK):
        return f"cannot write into {parent} (permission denied)"
    return None


def output_dir_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be used as an output folder, or None."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        return f"{p} exists and is not a folder"
    parent = next((q for q in [p, *p.parents] if q.exists()), None)
    if parent is not None and not parent.is_dir():
        return f"{parent} is not a folder"
    if parent is not None and not os.access(parent, os.W_OK):
        return f"cannot write into {parent} (permission denied)"
    return None


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name the same existing file (so writing one would clobber the other)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
