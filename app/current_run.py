"""The current run: one object that owns "the trained run the studio is looking at" and announces changes.

The Train view's runs set it (a run that finished with weights, or the past run shown when a project
opens); Compress & Export (and later Evaluate) are views of it. Holding a folder path, not modules,
keeps it cheap: each view opens what it needs with ``engine.runs.open_run``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal


class CurrentRun(QObject):
    changed = Signal(object)  # the run folder (str) or None

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._dir: str | None = None

    @property
    def run_dir(self) -> str | None:
        return self._dir

    def set(self, run_dir: str | Path | None) -> None:
        """Make ``run_dir`` current if it holds trained weights (``model.pt``); None clears it."""
        new = str(run_dir) if run_dir is not None and (Path(run_dir) / "model.pt").is_file() else None
        if new != self._dir:
            self._dir = new
            self.changed.emit(new)

    def clear(self) -> None:
        self.set(None)
