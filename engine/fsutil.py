"""Atomic file writes: write a temp file in the same folder, fsync, then ``os.replace``.

A crash or kill mid-write leaves the previous file intact; readers never see half a file.

- The new file keeps the mode of the file it replaces (a new file follows the umask, like ``open``),
  since ``mkstemp`` would otherwise leave every saved file 0600.
- Writing onto a symlink writes the file it points to; the link stays a link.
- The writer holds an ``flock`` on its temp file, so a later writer can tell a temp file left by a
  killed process (lock free: removed) from one being written right now (lock held: left alone).

Reading: ``read_regular_file`` opens without blocking and reads only regular files up to a size
limit, so a FIFO, ``/dev/zero`` behind a symlink or a 10 GB file never hangs or exhausts memory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

try:  # POSIX; on Windows stale temp files are recognised by age instead
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

STALE_AGE_S = 3600.0  # without flock: a temp file untouched this long belongs to a dead writer


class FileReadError(OSError):
    """A path that must not be read as a file (not a regular file, too big, unreadable)."""


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (``os.umask`` is a set-and-get,
    racy with other threads creating files)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    old = os.umask(0o022)
    os.umask(old)
    return old


def resolve_target(path: str | os.PathLike) -> Path:
    """The file a write to ``path`` must change: the final target when ``path`` is a symlink (a
    dangling link resolves to the file it names, created by the write)."""
    p = Path(path)
    if p.is_symlink():
        return Path(os.path.realpath(p))
    return p


def _temp_glob(path: Path) -> str:
    return f".{path.name}.*.tmp"


def _lock(fd: int) -> None:
    if fcntl is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def remove_stale_temps(path: str | os.PathLike) -> int:
    """Remove temp files (``.NAME.*.tmp``) that writers of ``path`` left when they were killed (for a
    folder: every ``.*.tmp`` in it). A temp file whose writer is alive (it holds the lock) is kept.
    Returns how many went."""
    p = Path(path)
    removed = 0
    try:
        cands = list(p.glob(".*.tmp")) if p.is_dir() else list(p.parent.glob(_temp_glob(p)))
    except OSError:
        return 0
    for tmp in cands:
        try:
            if fcntl is not None:
                fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
                try:
                    if not stat.S_ISREG(os.fstat(fd).st_mode):
                        continue
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # a live writer
                    os.unlink(tmp)
                finally:
                    os.close(fd)
            else:  # pragma: no cover - Windows
                import time

                if time.time() - tmp.stat().st_mtime < STALE_AGE_S:
                    continue
                os.unlink(tmp)
            removed += 1
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temp file beside ``path``; on clean exit it replaces ``path`` atomically."""
    path = resolve_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    try:
        want_mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        want_mode = 0o666 & ~current_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _lock(fd)  # released when the file is closed or the process dies
        with contextlib.suppress(OSError):
            os.fchmod(fd, want_mode)
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


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or quota, or file size limit) is full. torch's zip writer turns
    ENOSPC into a RuntimeError ("file write failed"), so its text is checked too."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("file write failed" in text or "unexpected pos" in text
                                              or "no space left" in text)


def full_reason(exc: BaseException) -> str:
    """Plain words for an ``is_disk_full`` error."""
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "the file size limit was reached"
    if isinstance(exc, OSError) and exc.errno == errno.EDQUOT:
        return "the disk quota is used up"
    return "the disk is full"


def read_regular_file(path: str | os.PathLike, limit: int, what: str = "file") -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    Opened with ``O_NONBLOCK`` so that a FIFO cannot block the open; the type and size are checked on
    the open descriptor (a symlink to ``/dev/zero`` is refused, and a file swapped after a check too).
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        if p.is_symlink():
            raise FileReadError(errno.ENOENT, f"is a symbolic link to {os.readlink(p)}, which does not exist") from None
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder")
        if not stat.S_ISREG(st.st_mode):
            kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode)
                    or stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise FileReadError(errno.EINVAL, f"is {kind}, not a regular {what}")
        if st.st_size > limit:
            raise FileReadError(errno.EFBIG, f"is {st.st_size:,} bytes; a {what} may be at most {limit:,} bytes")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        chunks = []
        left = limit + 1
        while left > 0:
            b = os.read(fd, min(left, 1 << 20))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        data = b"".join(chunks)
        if len(data) > limit:  # grew while reading
            raise FileReadError(errno.EFBIG, f"is larger than {limit:,} bytes, the limit for a {what}")
        return data
    finally:
        os.close(fd)


def output_file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be written as a file (a folder, a file where a folder is needed, no
    permission), or None. Checked before long work so bad output paths fail fast as bad input."""
    p = Path(path)
    if p.is_dir():
        return f"{p} is a folder; give a file name such as {p / 'report.json'}"
    if p.exists() and not p.is_file():
        return f"{p} is not a regular file"
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
