"""Autosave and crash recovery.

Each running studio writes a session marker ``<data>/sessions/<pid>.json`` at start and removes it
on a clean exit. Autosaves go to ``<data>/autosave/<pid>.json`` (the document plus the path of the
project it belongs to). On start, a marker whose process is gone means an unclean exit: if its
autosave is newer than the project file (or the project was never saved), the user is offered
to restore it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.fsutil import atomic_write_text


def pid_alive(pid: int) -> bool:
    """Whether a process with this id is running (never signals or kills it)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Recovery:
    """An autosave left by a session that did not exit cleanly."""

    autosave: Path
    marker: Path
    project_path: str | None  # the file it belongs to (None: never saved)
    saved_at: float
    name: str
    document: dict[str, Any]

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.saved_at))
        where = self.project_path or "an unsaved project"
        return f"“{self.name}” ({where}), autosaved {when}"


class Session:
    """This process's session marker and autosave file."""

    def __init__(self, data_dir: Path, pid: int | None = None):
        self.data_dir = Path(data_dir)
        self.pid = os.getpid() if pid is None else pid
        self.marker = self.data_dir / "sessions" / f"{self.pid}.json"
        self.autosave_path = self.data_dir / "autosave" / f"{self.pid}.json"

    def begin(self) -> None:
        info = {"pid": self.pid, "host": socket.gethostname(), "started": time.time()}
        atomic_write_text(self.marker, json.dumps(info))

    def write_autosave(self, document: dict[str, Any], project_path: str | None) -> Path:
        payload = {"project_path": project_path, "saved_at": time.time(), "document": document}
        atomic_write_text(self.autosave_path, json.dumps(payload, indent=1))
        return self.autosave_path

    def clear_autosave(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.autosave_path.unlink()

    def end(self) -> None:
        """A clean exit: remove the autosave and the marker."""
        self.clear_autosave()
        with contextlib.suppress(FileNotFoundError):
            self.marker.unlink()

    # -- recovery --------------------------------------------------------------------------
    def find_recoverable(self) -> list[Recovery]:
        """Autosaves of dead sessions that are newer than their project files. Stale markers
        without a useful autosave are cleaned up on the way."""
        out: list[Recovery] = []
        host = socket.gethostname()
        for marker in sorted((self.data_dir / "sessions").glob("*.json")):
            try:
                info = json.loads(marker.read_text(encoding="utf-8"))
                pid = int(info.get("pid", marker.stem))
            except (OSError, ValueError, TypeError):
                pid, info = -1, {}
            if pid == self.pid or (info.get("host", host) == host and pid_alive(pid)):
                continue
            if info.get("host", host) != host:
                continue  # another machine's session (shared home): not ours to judge
            autosave = self.data_dir / "autosave" / f"{pid}.json"
            rec = self._read_autosave(autosave, marker)
            if rec is None:
                discard(marker, autosave)
            else:
                out.append(rec)
        return out

    @staticmethod
    def _read_autosave(autosave: Path, marker: Path) -> Recovery | None:
        try:
            payload = json.loads(autosave.read_text(encoding="utf-8"))
            doc = payload["document"]
            saved_at = float(payload.get("saved_at", autosave.stat().st_mtime))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        project_path = payload.get("project_path") or None
        if project_path:
            with contextlib.suppress(OSError):
                if Path(project_path).stat().st_mtime >= saved_at:
                    return None  # the project was saved after this autosave: nothing to recover
        name = doc.get("name", "untitled") if isinstance(doc, dict) else "untitled"
        return Recovery(autosave, marker, project_path, saved_at, str(name), doc)


def discard(marker: Path, autosave: Path) -> None:
    for p in (autosave, marker):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
