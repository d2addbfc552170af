"""Where the studio keeps its things: the data dir (autosave, logs, runs) and QSettings."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

ORG = "LayerLab"
APP = "LayerLab Studio"
RUNNER_MODES = ("thread", "process")
DEFAULT_RUNNER = "process"  # measured with bench/ui_latency.py (see docs/notes/studio.md)
DEFAULT_AUTOSAVE_S = 60
MAX_RECENT = 10


def data_dir() -> Path:
    """``$LAYERLAB_DATA_DIR`` if set, else Qt's AppDataLocation; created on first use."""
    env = os.environ.get("LAYERLAB_DATA_DIR")
    if env:
        p = Path(env)
    else:
        loc = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        p = Path(loc) if loc else Path.home() / ".local" / "share" / ORG
    p.mkdir(parents=True, exist_ok=True)
    return p


def settings() -> QSettings:
    """The studio's settings, an INI file in the data dir (so tests' isolated dirs isolate it too)."""
    return QSettings(str(data_dir() / "settings.ini"), QSettings.Format.IniFormat)


def runner_mode() -> str:
    """``$LAYERLAB_RUNNER`` (thread|process) beats the ``runner/mode`` setting beats the default."""
    env = os.environ.get("LAYERLAB_RUNNER", "").strip().lower()
    if env in RUNNER_MODES:
        return env
    val = str(settings().value("runner/mode", DEFAULT_RUNNER)).lower()
    return val if val in RUNNER_MODES else DEFAULT_RUNNER


def autosave_seconds() -> int:
    """Autosave period in seconds (setting ``autosave/seconds``, default 60; 0 turns it off)."""
    try:
        return max(0, int(settings().value("autosave/seconds", DEFAULT_AUTOSAVE_S)))
    except (TypeError, ValueError):
        return DEFAULT_AUTOSAVE_S


def reopen_last() -> bool:
    """Whether a start without a file reopens the last project (setting ``startup/reopenLast``, default on)."""
    val = settings().value("startup/reopenLast", True)
    return str(val).lower() not in ("false", "0", "no", "off")


def set_reopen_last(on: bool) -> None:
    s = settings()
    s.setValue("startup/reopenLast", bool(on))
    s.sync()


def recent_files() -> list[str]:
    val = settings().value("recent/files", [])
    if isinstance(val, str):
        val = [val]
    return [str(v) for v in (val or []) if v]


def add_recent_file(path: str) -> list[str]:
    path = str(Path(path).resolve())
    files = [f for f in recent_files() if f != path]
    files.insert(0, path)
    files = files[:MAX_RECENT]
    s = settings()
    s.setValue("recent/files", files)
    s.sync()
    return files


def remove_recent_file(path: str) -> None:
    s = settings()
    s.setValue("recent/files", [f for f in recent_files() if f != path])
    s.sync()
