"""Where an export or a quantized model may be written: never onto the run it came from.

``check_output_file(out, suffix=..., checkpoint=..., run_dir=..., force=...)`` is the one rule the CLI
verbs (``export``, ``quantize``) and the studio's Export… / Save row… dialogs go through:

- ``-o`` must name a file (not ``/``, not an existing folder) whose suffix is the format's (an ONNX
  model is ``.onnx``; a name without a suffix gets it);
- it is never the ``--checkpoint`` file itself, nor one of a run folder's own files (``model.pt``,
  ``project.json``, ``history.csv``, anything under ``checkpoints/`` or ``samples/``), ``force`` or not;
- an existing file is replaced only with ``force`` (``--force``; the studio passes it when the user
  confirmed the overwrite in the file dialog).

Paths come back absolute, so a relative ``-o`` means the same file in a child process started in
another folder (the fresh-process verification).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import CompressError

# what `layerlab train` writes into a run folder (and the studio's variants folder): never an export target
RUN_FILES = ("model.pt", "project.json", "history.csv")
RUN_FOLDERS = ("checkpoints", "samples", "variants")


def absolute(path: str | os.PathLike) -> Path:
    """``path`` made absolute against the current folder (symlinks kept, ``~`` expanded)."""
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _is_run_folder(d: Path) -> bool:
    return (d / "project.json").is_file() and ((d / "model.pt").is_file() or (d / "checkpoints").is_dir())


def reserved_reason(path: Path, checkpoint: Path | None = None, run_dir: Path | None = None) -> str | None:
    """Why ``path`` belongs to a run (its checkpoint, project, history ...), or None."""
    path = absolute(path)
    real = Path(os.path.realpath(path))
    if checkpoint is not None and (_same(path, checkpoint) or real == Path(os.path.realpath(checkpoint))):
        return "is the --checkpoint file itself"
    for p in {path, real}:
        parent = p.parent
        runs = {Path(os.path.realpath(run_dir))} if run_dir is not None else set()
        in_run = Path(os.path.realpath(parent)) in runs or _is_run_folder(parent)
        if in_run and p.name in RUN_FILES:
            return f"is the run's own {p.name}"
        if in_run and p.name in RUN_FOLDERS:
            return f"is the run's {p.name}/ folder"
        if parent.name in ("checkpoints", "samples") and (
                Path(os.path.realpath(parent.parent)) in runs or _is_run_folder(parent.parent)):
            return f"is inside the run's {parent.name}/ folder"
    return None


def output_target(out: str | os.PathLike, *, suffix: str, what: str, flag: str = "-o") -> Path:
    """The absolute file ``out`` names (``suffix`` added when it has none), or ``CompressError``: not a folder,
    not a path without a name, not a suffix of another format."""
    text = os.fspath(out)
    if not text.strip():
        raise CompressError(f"{flag}: give a file name")
    p = absolute(text)
    example = f"model{suffix}"
    if p.is_dir() or text.endswith(("/", os.sep)):
        raise CompressError(f"{flag}: {text} is a folder: give a file name (e.g. {Path(text) / example})")
    if not p.name or p.name in (".", ".."):
        raise CompressError(f"{flag}: {text} has no file name: give one (e.g. {example})")
    if p.suffix == "":
        return p.with_name(p.name + suffix)
    if p.suffix != suffix:
        raise CompressError(f"{flag}: {what} is a {suffix} file, not {p.suffix}; name it {p.with_suffix(suffix).name}")
    return p


def check_writable(files: list[Path], *, checkpoint: str | os.PathLike | None = None,
                   run_dir: str | os.PathLike | None = None, force: bool = False, flag: str = "-o") -> None:
    """Refuse (``CompressError``) to write any of ``files`` onto a run's own files, onto a folder, or onto an
    existing file without ``force``."""
    ck = absolute(checkpoint) if checkpoint is not None else None
    rd = absolute(run_dir) if run_dir is not None else None
    for f in files:
        f = absolute(f)
        why = reserved_reason(f, ck, rd)
        if why:
            raise CompressError(f"{flag}: {f} {why}; it is never overwritten: choose another file name")
        if f.is_dir():
            raise CompressError(f"{flag}: {f} is a folder: give a file name")
        if (f.exists() or f.is_symlink()) and not force:
            raise CompressError(f"{flag}: {f} already exists; pass --force to replace it (or choose another name)")


def check_output_file(out: str | os.PathLike, *, suffix: str, what: str, checkpoint: str | os.PathLike | None = None,
                      run_dir: str | os.PathLike | None = None, force: bool = False, flag: str = "-o") -> Path:
    """``output_target`` and ``check_writable`` for a one-file output: the absolute file to write."""
    p = output_target(out, suffix=suffix, what=what, flag=flag)
    check_writable([p], checkpoint=checkpoint, run_dir=run_dir, force=force, flag=flag)
    return p
