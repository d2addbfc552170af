"""The open project: the document, its file path, its undo stack and its dirty state.

Every edit is a command on one undo stack: :class:`SetFieldCommand` for settings (``train.epochs``)
and :class:`EditCommand` for graph edits (``engine.edits``: add/remove node, connect, set a param,
move, paste, group into a block, a one-click fix). The stack's clean state *is* the dirty marker.

Graph edits change the document only; views follow the fine-grained signals
(``nodeAdded``/``nodeRemoved``/``nodeChanged``/``nodeMoved``/``edgeAdded``/``edgeRemoved``, then one
``graphChanged`` per touched graph), never the other way round.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from engine.edits import (
    AddNode,
    Batch,
    Connect,
    Disconnect,
    Edit,
    EditError,
    MoveNodes,
    PasteFragment,
    Patch,
    Relabel,
    RemoveNodes,
    SetParam,
)
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


_SIGNALS = {"node_added": "nodeAdded", "node_removed": "nodeRemoved", "node_changed": "nodeChanged",
            "node_moved": "nodeMoved", "edge_added": "edgeAdded", "edge_removed": "edgeRemoved"}


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


class EditCommand(QUndoCommand):
    """One graph edit (or a batch of them) as one undo step. The edit is applied before the command
    is pushed (so a refused edit never reaches the stack); undo/redo replay exact patches."""

    ID = 4243

    def __init__(self, doc: DocumentController, edit: Edit, inverse: Patch, text: str):
        super().__init__(text)
        self.doc, self.edit = doc, edit
        self._undo: Patch = inverse
        self._redo: Patch | None = None
        self._fresh = True  # QUndoStack.push calls redo(): the edit is already applied
        self.stamp = time.monotonic()
        self.merge_key = (edit.graph, edit.node_id, edit.name) if isinstance(edit, SetParam) else None

    def id(self) -> int:  # noqa: A003 - Qt API
        return self.ID

    def redo(self) -> None:
        if self._fresh:
            self._fresh = False
            return
        assert self._redo is not None
        self._undo = self.doc._run(self._redo)

    def undo(self) -> None:
        self._redo = self.doc._run(self._undo)

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt API
        """Consecutive edits of one parameter of one node (typing, a spin box) are one step."""
        if (not isinstance(other, EditCommand) or self.merge_key is None or other.merge_key != self.merge_key
                or other.stamp - self.stamp > MERGE_WINDOW_S):
            return False
        self.stamp = other.stamp
        graph, node_id, _name = self.merge_key
        before = self._undo.ops[0].value if self._undo.ops else None  # the params before the first edit
        try:
            now = self.doc.project.graph_at(graph).node(node_id).params
        except (KeyError, AttributeError):
            return True
        if before is not None and now == before:
            self.setObsolete(True)
        return True


class DocumentController(QObject):
    """Owns the project document. Signals: ``fieldChanged(path)``, ``replaced()``, ``pathChanged(str)``,
    ``dirtyChanged(bool)``, and for graph edits ``nodeAdded(graph, id)``, ``nodeRemoved(graph, id)``,
    ``nodeChanged(graph, id)``, ``nodeMoved(graph, id)``, ``edgeAdded(graph, EdgeSpec)``,
    ``edgeRemoved(graph, EdgeSpec)``, ``blocksChanged()`` and ``graphChanged(graph)`` (once per graph
    an edit touched, after the fine-grained ones)."""

    fieldChanged = Signal(str)
    replaced = Signal()
    pathChanged = Signal(str)
    dirtyChanged = Signal(bool)
    nodeAdded = Signal(str, str)
    nodeRemoved = Signal(str, str)
    nodeChanged = Signal(str, str)
    nodeMoved = Signal(str, str)
    edgeAdded = Signal(str, object)
    edgeRemoved = Signal(str, object)
    blocksChanged = Signal()
    graphChanged = Signal(str)

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

    # -- graph edits -----------------------------------------------------------------------
    def apply(self, edit: Edit | list[Edit], text: str) -> Any:
        """Apply a graph edit (a list is one batch) as ONE undo step and return its result (e.g. a new
        node's id). ``EditError`` (nothing changed, nothing pushed) when the edit is refused."""
        if self.project is None:
            raise EditError("no project is open")
        if isinstance(edit, list):
            edit = Batch(edit)
        inverse = self._run(edit)
        if not inverse.empty:
            self.undo_stack.push(EditCommand(self, edit, inverse, text))
        return inverse.result

    def _run(self, edit: Edit | Patch) -> Patch:
        events: list[tuple[str, str, Any]] = []
        patch = edit.apply(self.project, lambda kind, graph, payload: events.append((kind, graph, payload)))
        graphs: list[str] = []
        for kind, graph, payload in events:
            if kind == "blocks_changed":
                self.blocksChanged.emit()
            else:
                getattr(self, _SIGNALS[kind]).emit(graph, payload)
            if graph not in graphs:
                graphs.append(graph)
        for graph in graphs:
            self.graphChanged.emit(graph)
        return patch

    def add_node(self, graph: str, type_name: str, params: dict[str, Any] | None = None,
                 pos: tuple[float, float] | None = None, node_id: str | None = None) -> str:
        node: dict[str, Any] = {"id": node_id, "type": type_name, "params": dict(params or {})}
        if pos is not None:
            node["pos"] = [float(pos[0]), float(pos[1])]
        return self.apply(AddNode(graph, node), f"Add {type_name}")

    def remove_nodes(self, graph: str, ids: list[str]) -> None:
        what = ids[0] if len(ids) == 1 else f"{len(ids)} layers"
        self.apply(RemoveNodes(graph, list(ids)), f"Delete {what}")

    def connect(self, graph: str, src: str, dst: str, port: int | None = None) -> int:
        return self.apply(Connect(graph, src, dst, port), f"Connect {src} → {dst}")

    def disconnect(self, graph: str, src: str, dst: str, port: int | None = None) -> None:
        self.apply(Disconnect(graph, src, dst, port), f"Disconnect {src} → {dst}")

    def set_param(self, graph: str, node_id: str, name: str, value: Any) -> None:
        self.apply(SetParam(graph, node_id, name, value), f"Change {node_id}.{name}")

    def move_nodes(self, graph: str, positions: dict[str, tuple[float, float]], text: str | None = None) -> None:
        what = next(iter(positions)) if len(positions) == 1 else f"{len(positions)} layers"
        self.apply(MoveNodes(graph, dict(positions)), text or f"Move {what}")

    def relabel(self, graph: str, node_id: str, label: str | None) -> None:
        self.apply(Relabel(graph, node_id, label), f"Rename {node_id}")

    def paste(self, graph: str, fragment: dict[str, Any], offset: tuple[float, float] = (40.0, 40.0)) -> list[str]:
        return self.apply(PasteFragment(graph, fragment, offset), "Paste") or []

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
