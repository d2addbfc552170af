"""The open project: the document, its file path, its undo stack and its dirty state.

Every edit is a :class:`SetFieldCommand` on the undo stack; the stack's clean state *is* the dirty
marker (saving marks it clean, undoing back to the saved state makes it clean again).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from engine.project import Project, load_project, save_project

MERGE_WINDOW_S = 1.5  # consecutive edits of one field within this time are one undo step
LABELS = {
    "train.epochs": "epochs",
    "data.batch_size": "batch size",
    "train.optimizer.lr": "learning rate",
    "train.gan.g_optimizer.lr": "generator learning rate",
    "train.gan.d_optimizer.lr": "discriminator learning rate",
    "train.device": "device",
    "train.max_steps": "max steps",
}


def get_field(project: Project, path: str) -> Any:
    obj: Any = project
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _set_field(project: Project, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    obj: Any = project
    for part in parents:
        obj = getattr(obj, part)
    setattr(obj, last, value)  # validate_assignment: raises ValidationError for bad values


class SetFieldCommand(QUndoCommand):
    """Set one field of the document (``train.epochs``, ``train.optimizer.lr``, ...)."""

    ID = 4242

    def __init__(self, doc: DocumentController, path: str, new: Any, old: Any):
        super().__init__(f"Change {LABELS.get(path, path)}")
        self.doc, self.path, self.new, self.old = doc, path, new, old
        self.stamp = time.monotonic()

    def id(self) -> int:  # noqa: A003 - Qt API
        return self.ID

    def redo(self) -> None:
        self.doc._apply(self.path, self.new)

    def undo(self) -> None:
        self.doc._apply(self.path, self.old)

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt API
        if not isinstance(other, SetFieldCommand) or other.path != self.path:
            return False
        if other.stamp - self.stamp > MERGE_WINDOW_S:
            return False
        self.new = other.new
        self.stamp = other.stamp
        if self.new == self.old:
            self.setObsolete(True)
        return True


class DocumentController(QObject):
    """Owns the project document. Signals: ``fieldChanged(path)``, ``replaced()``, ``pathChanged(str)``,
    ``dirtyChanged(bool)``."""

    fieldChanged = Signal(str)
    replaced = Signal()
    pathChanged = Signal(str)
    dirtyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.project: Project | None = None
        self.path: Path | None = None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        self._forced_dirty = False

    def _clean_changed(self, clean: bool) -> None:
        self.dirtyChanged.emit(self._forced_dirty or not clean)

    # -- state -----------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self.project is not None and (self._forced_dirty or not self.undo_stack.isClean())

    def display_name(self) -> str:
        if self.path is not None:
            return self.path.name
        return self.project.name if self.project else "LayerLab"

    # -- edits -----------------------------------------------------------------------------
    def get(self, path: str) -> Any:
        if self.project is None:
            raise RuntimeError("no project is open")
        return get_field(self.project, path)

    def set_field(self, path: str, value: Any) -> bool:
        """Push an undoable edit; ``ValueError`` with a plain message when the value is not allowed.
        Returns False (and pushes nothing) when the value is unchanged."""
        old = self.get(path)
        if old == value:
            return False
        probe = self.project.copy_deep()
        try:
            _set_field(probe, path, value)
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"].removeprefix("Value error, ") if exc.errors() else str(exc)
            raise ValueError(f"{LABELS.get(path, path)}: {msg}") from None
        self.undo_stack.push(SetFieldCommand(self, path, value, old))
        return True

    def _apply(self, path: str, value: Any) -> None:
        _set_field(self.project, path, value)
        self.fieldChanged.emit(path)

    # -- whole documents -------------------------------------------------------------------
    def replace(self, project: Project, path: str | Path | None, *, dirty: bool = False) -> None:
        self.project = project
        self.path = Path(path).resolve() if path else None
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self._set_forced_dirty(dirty)
        self.replaced.emit()
        self.pathChanged.emit(str(self.path or ""))

    def open(self, path: str | Path) -> Project:
        """Load ``path`` (``ProjectError`` listing every problem if it cannot be used)."""
        project = load_project(path)
        self.replace(project, path)
        return project

    def save(self, path: str | Path | None = None) -> Path:
        if self.project is None:
            raise RuntimeError("no project is open")
        target = Path(path) if path else self.path
        if target is None:
            raise ValueError("choose a file name first (Save As…)")
        if target.suffix.lower() != ".json":
            target = target.with_suffix(".json")
        save_project(self.project, target)
        changed = self.path != target.resolve()
        self.path = target.resolve()
        self.undo_stack.setClean()
        self._set_forced_dirty(False)
        if changed:
            self.pathChanged.emit(str(self.path))
        return self.path

    def _set_forced_dirty(self, value: bool) -> None:
        before = self.dirty
        self._forced_dirty = value
        if self.dirty != before:
            self.dirtyChanged.emit(self.dirty)
