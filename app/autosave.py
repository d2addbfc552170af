"""Autosave and crash recovery.

Each running studio is a *session* with a random id (never a PID: PIDs are reused, so a new studio
could inherit a crashed one's number, or an unrelated process could make a crashed session look
alive). A session writes ``<data>/sessions/<id>.json`` (who, when, which project, which run) and holds
an exclusive ``flock`` on ``<data>/sessions/<id>.lock`` for as long as it lives; the kernel releases
the lock when the process dies, however it dies. So "is that session still running?" is answered by
trying the lock: if we can take it, its owner is gone.

Autosaves go to ``<data>/autosave/<id>.json``: the document, the project file it belongs to, and the
run being trained (so recovery brings the run back too). An autosave is deleted only when the user
saved the document, discarded the autosave, or restored it (then it lives on as the new session's).
A crashed session's autosave is offered even when the project file changed afterwards (the prompt
says so): touching a file never deletes unsaved work.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.fsutil import atomic_write_text

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: liveness falls back to the PID and start time
    fcntl = None  # type: ignore[assignment]

MAX_AUTOSAVE_BYTES = 256 * 1024 * 1024


def pid_alive(pid: int) -> bool:
    """Whether a process with this id is running (never signals or kills it). Only a fallback where
    locks are unavailable: a PID says nothing about *which* process it is."""
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


def lock_held(lock: Path) -> bool:
    """Whether a live process holds ``lock`` (an flock); False when the file is missing or free."""
    if fcntl is None:  # pragma: no cover - Windows
        return False
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Recovery:
    """An autosave left by a session that did not exit cleanly."""

    autosave: Path
    marker: Path
    project_path: str | None  # the file it belongs to (None: never saved)
    saved_at: float
    name: str
    document: dict[str, Any]
    run_dir: str | None = None  # the run that was being trained, if any
    dirty: bool = True  # the document had unsaved changes
    project_changed: bool = False  # the project file was written after this autosave

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.saved_at))
        where = self.project_path or "an unsaved project"
        name = self.name if len(self.name) <= 60 else self.name[:57] + "…"
        return f"“{name}” ({where}), autosaved {when}"

    def lock(self) -> Path:
        return self.marker.with_suffix(".lock")


class Session:
    """This process's session: marker, liveness lock and autosave file."""

    def __init__(self, data_dir: Path, session_id: str | None = None, pid: int | None = None):
        self.data_dir = Path(data_dir)
        self.pid = os.getpid() if pid is None else pid
        self.id = session_id or f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(6)}"
        self.marker = self.data_dir / "sessions" / f"{self.id}.json"
        self.lock_path = self.marker.with_suffix(".lock")
        self.autosave_path = self.data_dir / "autosave" / f"{self.id}.json"
        self._lock_fd: int | None = None
        self.started = time.time()

    def begin(self) -> None:
        """Write the marker and take the liveness lock (held until ``end`` or the process dies)."""
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is not None and self._lock_fd is None:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise
            self._lock_fd = fd
        info = {"id": self.id, "pid": self.pid, "host": socket.gethostname(), "started": self.started,
                "lock": fcntl is not None}
        atomic_write_text(self.marker, json.dumps(info))

    def write_autosave(self, document: dict[str, Any], project_path: str | None, run_dir: str | None = None,
                       dirty: bool = True) -> Path:
        payload = {"project_path": project_path, "saved_at": time.time(), "document": document,
                   "run_dir": run_dir, "dirty": bool(dirty)}
        atomic_write_text(self.autosave_path, json.dumps(payload, indent=1))
        return self.autosave_path

    def clear_autosave(self) -> None:
        """The user saved (or replaced) the document: its autosave has nothing left to recover."""
        with contextlib.suppress(FileNotFoundError):
            self.autosave_path.unlink()

    def end(self) -> None:
        """A clean exit: remove this session's own autosave, marker and lock (never another's)."""
        self.clear_autosave()
        for p in (self.marker, self.lock_path):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    # -- recovery --------------------------------------------------------------------------
    def _alive(self, marker: Path, info: dict[str, Any]) -> bool:
        lock = marker.with_suffix(".lock")
        if info.get("lock") and fcntl is not None:
            return lock_held(lock)
        # a marker from a studio without locks (an older LayerLab, or Windows): the PID is all there is
        try:
            pid = int(info.get("pid", marker.stem))
        except (TypeError, ValueError):
            return False
        return pid_alive(pid)

    def find_recoverable(self) -> list[Recovery]:
        """Autosaves of sessions that ended without a clean exit, oldest first. Markers of dead
        sessions that left no autosave are removed (there is nothing in them to lose)."""
        out: list[Recovery] = []
        host = socket.gethostname()
        for marker in sorted((self.data_dir / "sessions").glob("*.json")):
            if marker == self.marker:
                continue
            try:
                info = json.loads(marker.read_text(encoding="utf-8"))
                if not isinstance(info, dict):
                    raise ValueError
            except (OSError, ValueError):
                info = {}
            if info.get("host", host) != host:
                continue  # another machine's session (shared home): not ours to judge
            if self._alive(marker, info):
                continue
            sid = str(info.get("id") or marker.stem)
            autosave = self.data_dir / "autosave" / f"{sid}.json"
            if not autosave.exists():
                discard(marker, autosave)
                continue
            rec = self._read_autosave(autosave, marker)
            if rec is None:  # unreadable: set aside (not deleted) so it is not offered at every start
                with contextlib.suppress(OSError):
                    autosave.replace(autosave.with_suffix(".unreadable"))
                discard(marker, autosave)
                continue
            out.append(rec)
        return out

    @staticmethod
    def _read_autosave(autosave: Path, marker: Path) -> Recovery | None:
        from engine.fsutil import read_regular_file

        try:
            payload = json.loads(read_regular_file(autosave, MAX_AUTOSAVE_BYTES, "autosave").decode("utf-8"))
            doc = payload["document"]
            if not isinstance(doc, dict):
                return None
            saved_at = float(payload.get("saved_at", autosave.stat().st_mtime))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return None
        project_path = payload.get("project_path") or None
        changed = False
        if project_path:
            with contextlib.suppress(OSError):
                changed = Path(project_path).stat().st_mtime >= saved_at
        name = doc.get("name", "untitled")
        run_dir = payload.get("run_dir") or None
        return Recovery(autosave, marker, str(project_path) if project_path else None, saved_at, str(name), doc,
                        str(run_dir) if run_dir else None, bool(payload.get("dirty", True)), changed)


def discard(marker: Path, autosave: Path) -> None:
    """Remove a dead session's autosave, marker and lock (the user restored or discarded it)."""
    for p in (autosave, marker, marker.with_suffix(".lock")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
