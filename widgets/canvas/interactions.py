"""Mouse gestures on the canvas, each a small state object (after Orange's canvas,
``orangecanvas/document/interactions.py``): the scene hands press/move/release to the active
interaction until it finishes. Interactions never edit the document; they end in a request signal
on the scene (``connectRequested``, ``moveRequested``, ``danglingReleased``) that the designer turns
into an undoable edit, and the scene then follows the document's notifications.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsRectItem, QGraphicsSceneMouseEvent

from .items import NodeItem, PortItem, edge_path

if TYPE_CHECKING:  # pragma: no cover
    from .scene import GraphScene


class Interaction:
    """Base: return True from a handler to consume the event."""

    def __init__(self, scene: GraphScene):
        self.scene = scene

    def mouse_press(self, ev: QGraphicsSceneMouseEvent) -> bool:
        return False

    def mouse_move(self, ev: QGraphicsSceneMouseEvent) -> bool:
        return False

    def mouse_release(self, ev: QGraphicsSceneMouseEvent) -> bool:
        return False

    def cancel(self) -> None:
        self.end()

    def end(self) -> None:
        self.scene.set_interaction(None)


class NewLinkAction(Interaction):
    """Drag from a port: a live curve follows the mouse; release on a port (or a node) of the other
    kind connects; release on empty canvas from an output asks for a layer to put there."""

    def __init__(self, scene: GraphScene, port: PortItem):
        super().__init__(scene)
        self.port = port
        self.line = QGraphicsPathItem()
        self.line.setPen(QPen(QColor("#1a73e8"), 2.0, Qt.PenStyle.DashLine))
        self.line.setZValue(10)
        scene.addItem(self.line)
        self.target: PortItem | None = None
        self._draw(port.anchor())

    def _draw(self, pos: QPointF) -> None:
        a = self.port.anchor()
        self.line.setPath(edge_path(a, pos) if self.port.kind == "out" else edge_path(pos, a))

    def _target_at(self, pos: QPointF) -> PortItem | NodeItem | None:
        self.scene.ensure_ports_near(pos)
        for it in self.scene.items(pos):
            if isinstance(it, PortItem) and it.node is not self.port.node and it.kind != self.port.kind:
                return it
        for it in self.scene.items(pos):
            node = it if isinstance(it, NodeItem) else getattr(it, "node", None)
            if isinstance(node, NodeItem) and node is not self.port.node:
                return node
        return None

    def mouse_move(self, ev: QGraphicsSceneMouseEvent) -> bool:
        self._draw(ev.scenePos())
        return True

    def mouse_release(self, ev: QGraphicsSceneMouseEvent) -> bool:
        pos = ev.scenePos()
        target = self._target_at(pos)
        src_port = self.port
        self.end()
        sc = self.scene
        if isinstance(target, PortItem):
            if src_port.kind == "out":
                sc.connectRequested.emit(src_port.node.node_id, target.node.node_id, target.index)
            else:
                sc.connectRequested.emit(target.node.node_id, src_port.node.node_id, src_port.index)
        elif isinstance(target, NodeItem):
            if src_port.kind == "out":
                sc.connectRequested.emit(src_port.node.node_id, target.node_id, -1)  # -1: the next free port
            elif target.out_port is not None:
                sc.connectRequested.emit(target.node_id, src_port.node.node_id, src_port.index)
        elif src_port.kind == "out":
            sc.danglingReleased.emit(src_port.node.node_id, pos, ev.screenPos())
        return True

    def end(self) -> None:
        if self.line.scene() is not None:
            self.scene.removeItem(self.line)
        super().end()


class MoveAction(Interaction):
    """Qt moves the selected nodes; on release the new positions become one ``moveRequested``."""

    def __init__(self, scene: GraphScene, ev: QGraphicsSceneMouseEvent):
        super().__init__(scene)
        self.start: dict[str, QPointF] = {}
        self.press = ev.scenePos()

    def snapshot(self) -> None:
        self.start = {it.node_id: it.pos() for it in self.scene.selectedItems() if isinstance(it, NodeItem)}

    def mouse_release(self, ev: QGraphicsSceneMouseEvent) -> bool:
        moved = {}
        for nid, p0 in self.start.items():
            item = self.scene.nodes.get(nid)
            if item is not None and item.pos() != p0:
                moved[nid] = (round(item.pos().x(), 1), round(item.pos().y(), 1))
        self.end()
        if moved:
            self.scene.moveRequested.emit(moved)
        return False  # Qt finishes its own move handling


class RubberBandAction(Interaction):
    """Drag on empty canvas: select every node the rectangle touches (Shift/Ctrl adds to the selection)."""

    def __init__(self, scene: GraphScene, ev: QGraphicsSceneMouseEvent):
        super().__init__(scene)
        self.origin = ev.scenePos()
        self.additive = bool(ev.modifiers() & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier))
        self.before = set(scene.selectedItems()) if self.additive else set()
        if not self.additive:
            scene.clearSelection()
        self.rect = QGraphicsRectItem()
        self.rect.setPen(QPen(QColor("#1a73e8"), 1.0, Qt.PenStyle.DashLine))
        self.rect.setBrush(QColor(26, 115, 232, 40))
        self.rect.setZValue(20)
        scene.addItem(self.rect)

    def mouse_move(self, ev: QGraphicsSceneMouseEvent) -> bool:
        r = QRectF(self.origin, ev.scenePos()).normalized()
        self.rect.setRect(r)
        path = QPainterPath()
        path.addRect(r)
        inside = {it for it in self.scene.items(path, Qt.ItemSelectionMode.IntersectsItemShape)
                  if isinstance(it, NodeItem)}
        self.scene.blockSignals(True)
        try:
            for it in self.scene.nodes.values():
                it.setSelected(it in inside or it in self.before)
        finally:
            self.scene.blockSignals(False)
        self.scene.selectionChanged.emit()
        return True

    def mouse_release(self, ev: QGraphicsSceneMouseEvent) -> bool:
        self.end()
        return True

    def end(self) -> None:
        if self.rect.scene() is not None:
            self.scene.removeItem(self.rect)
        super().end()
