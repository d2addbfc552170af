"""The canvas scene: items built from one graph of the document and kept in step with it.

The scene never edits the document. Gestures end in request signals; the designer turns them into
undoable edits, and the document's notifications come back as ``add_node``/``remove_edge``/... calls
here. ``set_analysis`` paints shapes and badges from a ``CompileResult``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtWidgets import QGraphicsScene, QGraphicsSceneMouseEvent, QMenu

from .interactions import Interaction, MoveAction, NewLinkAction, RubberBandAction
from .items import NODE_H, NODE_W, BadgeItem, EdgeItem, NodeItem, PortItem, input_port_count

LAYER_MIME = "application/x-layerlab-layer"  # payload: the layer type name
BLOCK_MIME = "application/x-layerlab-block"  # payload: a fragment (JSON) from the palette's Blocks
FRAGMENT_MIME = "application/x-layerlab-fragment"  # the clipboard's document fragments

Edge = tuple[str, str, int]


def edge_triples(graph: Any) -> list[Edge]:
    """``(src, dst, port)`` for every edge, whichever edge form the document uses (objects with ports,
    or the older pairs, whose port is their order among the dst's inputs)."""
    out: list[Edge] = []
    next_port: dict[str, int] = {}
    for e in graph.edges:
        if hasattr(e, "src"):
            out.append((e.src, e.dst, int(e.port)))
        else:
            a, b = e[0], e[1]
            port = int(e[2]) if len(e) > 2 else next_port.get(b, 0)
            next_port[b] = max(next_port.get(b, 0), port + 1)
            out.append((a, b, port))
    return out


class GraphScene(QGraphicsScene):
    connectRequested = Signal(str, str, int)  # src, dst, port (-1: the next free port)
    moveRequested = Signal(object)  # {node_id: (x, y)}
    danglingReleased = Signal(str, QPointF, object)  # src, scene pos, screen pos (QPoint)
    layerDropped = Signal(str, QPointF)  # layer type, scene pos
    blockDropped = Signal(str, QPointF)  # fragment JSON, scene pos
    fixRequested = Signal(str, object)  # node id, the Fix
    nodeActivated = Signal(str)  # double-click (opens a block)
    contextRequested = Signal(str, QPointF, object)  # node id ("" for empty canvas), scene pos, screen pos

    def __init__(self, parent=None):
        super().__init__(parent)
        self.graph_path = "model"
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[Edge, EdgeItem] = {}
        self.interaction: Interaction | None = None
        self.fix_menu: QMenu | None = None
        self.graph_errors: list[Any] = []
        self._errors_by_node: dict[str, list[Any]] = {}
        self.setBackgroundBrush(QColor(0, 0, 0, 0))
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)

    # -- following the document --------------------------------------------------------------
    def load(self, graph: Any, result: Any = None, graph_path: str = "model") -> None:
        """Rebuild every item from ``graph`` (a ``GraphSpec``); nodes without a position get one."""
        self.set_interaction(None)
        self.clear()
        self.nodes.clear()
        self.edges.clear()
        self.graph_path = graph_path
        if graph is None:
            return
        triples = edge_triples(graph)
        n_in: dict[str, int] = {}
        for _a, b, p in triples:
            n_in[b] = max(n_in.get(b, 0), p + 1)
        missing = [n for n in graph.nodes if n.pos is None]
        auto = _fallback_positions(graph, triples) if missing else {}
        for n in graph.nodes:
            self._add_item(n.id, n.type, n.params, n.label, n.pos or auto.get(n.id, (0.0, 0.0)), n_in.get(n.id, 0))
        for t in triples:
            self._add_edge_item(*t)
        if result is not None:
            self.set_analysis(result)

    def _add_item(self, nid: str, type_name: str, params: dict, label: str | None, pos, n_inputs: int) -> NodeItem:
        item = NodeItem(nid, type_name, params, label, n_inputs)
        item.setPos(float(pos[0]), float(pos[1]))
        self.addItem(item)
        self.nodes[nid] = item
        return item

    def add_node(self, node: Any, n_inputs: int = 0) -> NodeItem:
        old = self.nodes.get(node.id)
        if old is not None:
            self.remove_node(node.id)
        pos = node.pos if node.pos is not None else self._free_spot()
        return self._add_item(node.id, node.type, node.params, node.label, pos, n_inputs)

    def remove_node(self, node_id: str) -> None:
        item = self.nodes.pop(node_id, None)
        if item is None:
            return
        for e in list(item.edges):
            self._drop_edge_item(e)
        self.removeItem(item)

    def update_node(self, node: Any) -> None:
        item = self.nodes.get(node.id)
        if item is None:
            return
        item.set_data(node.type, node.params, node.label)
        self._sync_ports(item)

    def move_node(self, node_id: str, pos: Any) -> None:
        item = self.nodes.get(node_id)
        if item is not None and pos is not None and (item.pos().x(), item.pos().y()) != (pos[0], pos[1]):
            item.setPos(float(pos[0]), float(pos[1]))

    def add_edge(self, src: str, dst: str, port: int) -> None:
        self._add_edge_item(src, dst, port)

    def _add_edge_item(self, src: str, dst: str, port: int) -> EdgeItem | None:
        a, b = self.nodes.get(src), self.nodes.get(dst)
        if a is None or b is None or (src, dst, port) in self.edges:
            return None
        if port >= b.n_in:
            b.set_input_count(max(port + 1, input_port_count(b.type_name, port + 1)))
        e = EdgeItem(a, b, port)
        self.addItem(e)
        self.edges[(src, dst, port)] = e
        self._sync_ports(b)
        return e

    def remove_edge(self, src: str, dst: str, port: int) -> None:
        e = self.edges.get((src, dst, port))
        if e is not None:
            self._drop_edge_item(e)

    def _drop_edge_item(self, e: EdgeItem) -> None:
        self.edges.pop(e.key(), None)
        e.detach()
        self.removeItem(e)
        if e.dst.node_id in self.nodes:
            self._sync_ports(e.dst)

    def _sync_ports(self, item: NodeItem) -> None:
        used = [e.port for e in item.edges if e.dst is item]
        n = input_port_count(item.type_name, max(used) + 1 if used else 0)
        if n != item.n_in:
            item.set_input_count(max(n, max(used) + 1 if used else 0))
            for e in item.edges:
                e.adjust()

    def set_analysis(self, result: Any) -> None:
        """Shapes and badges from a ``CompileResult`` (only items whose content changed repaint)."""
        by_node: dict[str, list[Any]] = {}
        graph_level = []
        for err in getattr(result, "errors", []) or []:
            if err.node is None or err.node not in self.nodes:
                graph_level.append(err)
            else:
                by_node.setdefault(err.node, []).append(err)
        self.graph_errors = graph_level
        for nid, item in self.nodes.items():
            info = result.node(nid) if result is not None else None
            item.set_info(info.output_shape if info else None, info.connected if info else True)
            errs = by_node.get(nid, [])
            if errs != self._errors_by_node.get(nid, []):
                item.set_errors(errs)
        self._errors_by_node = by_node

    # -- queries -----------------------------------------------------------------------------
    def selected_node_ids(self) -> list[str]:
        return [it.node_id for it in self.selectedItems() if isinstance(it, NodeItem)]

    def selected_edges(self) -> list[Edge]:
        return [it.key() for it in self.selectedItems() if isinstance(it, EdgeItem)]

    def select_nodes(self, ids: Iterable[str]) -> None:
        wanted = set(ids)
        self.clearSelection()
        for nid in wanted:
            if nid in self.nodes:
                self.nodes[nid].setSelected(True)

    def node_rect(self) -> QRectF:
        r = QRectF()
        for it in self.nodes.values():
            r = r.united(it.sceneBoundingRect())
        return r

    def _free_spot(self) -> tuple[float, float]:
        r = self.node_rect()
        return (0.0, 0.0) if r.isNull() else (r.left(), r.bottom() + 30.0)

    # -- gestures ----------------------------------------------------------------------------
    def set_interaction(self, interaction: Interaction | None) -> None:
        self.interaction = interaction

    def mousePressEvent(self, ev: QGraphicsSceneMouseEvent) -> None:  # noqa: N802 - Qt API
        if self.interaction is not None and self.interaction.mouse_press(ev):
            return
        if ev.button() == Qt.MouseButton.LeftButton:
            self.ensure_ports_near(ev.scenePos())
            top = self.itemAt(ev.scenePos(), self.views()[0].transform() if self.views() else self._identity())
            if isinstance(top, PortItem):
                self.set_interaction(NewLinkAction(self, top))
                ev.accept()
                return
            if isinstance(top, BadgeItem):
                super().mousePressEvent(ev)
                return
            if top is None:
                self.set_interaction(RubberBandAction(self, ev))
                ev.accept()
                return
            node = top if isinstance(top, NodeItem) else None
            super().mousePressEvent(ev)  # Qt selects (and prepares to move) the node
            if node is not None:
                move = MoveAction(self, ev)
                move.snapshot()
                self.set_interaction(move)
            return
        super().mousePressEvent(ev)

    def ensure_ports_near(self, pos: QPointF) -> None:
        """Port items exist only where the mouse has been (see ``NodeItem``): make them under ``pos``."""
        r = QRectF(pos.x() - 12, pos.y() - 12, 24, 24)
        for it in self.items(r):
            if isinstance(it, NodeItem):
                it.ensure_ports()

    @staticmethod
    def _identity():
        from PySide6.QtGui import QTransform

        return QTransform()

    def mouseMoveEvent(self, ev: QGraphicsSceneMouseEvent) -> None:  # noqa: N802 - Qt API
        if self.interaction is not None and self.interaction.mouse_move(ev):
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev: QGraphicsSceneMouseEvent) -> None:  # noqa: N802 - Qt API
        if self.interaction is not None and self.interaction.mouse_release(ev):
            return
        super().mouseReleaseEvent(ev)

    def keyPressEvent(self, ev: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if ev.key() == Qt.Key.Key_Escape and self.interaction is not None:
            self.interaction.cancel()
            return
        super().keyPressEvent(ev)

    def contextMenuEvent(self, ev) -> None:  # noqa: N802 - Qt API
        node = next((it for it in self.items(ev.scenePos()) if isinstance(it, NodeItem)), None)
        if node is not None and not node.isSelected():
            self.select_nodes([node.node_id])
        self.contextRequested.emit(node.node_id if node else "", ev.scenePos(), ev.screenPos())
        ev.accept()

    # -- badges and double-clicks (called by the items) ------------------------------------
    def badge_clicked(self, badge: BadgeItem, screen_pos) -> None:
        """A menu of the badge's one-click fixes (non-blocking, so tests and scripts can drive it)."""
        menu = QMenu()
        menu.setObjectName("fixMenu")
        fixes = badge.fixes()
        for e in badge.errors:
            head = menu.addAction(_short(e.message))
            head.setEnabled(False)
        if fixes:
            menu.addSeparator()
        for fix in fixes:
            act = menu.addAction(f"Fix: {fix.title}")
            act.triggered.connect(lambda _c=False, f=fix, n=badge.node.node_id: self.fixRequested.emit(n, f))
        if not fixes:
            act = menu.addAction("No automatic fix; change the node in the inspector")
            act.setEnabled(False)
        self.fix_menu = menu
        menu.popup(screen_pos.toPoint() if hasattr(screen_pos, "toPoint") else screen_pos)

    def node_double_clicked(self, item: NodeItem) -> None:
        self.nodeActivated.emit(item.node_id)

    # -- drops from the palette -------------------------------------------------------------
    def dragEnterEvent(self, ev) -> None:  # noqa: N802 - Qt API
        md = ev.mimeData()
        if md.hasFormat(LAYER_MIME) or md.hasFormat(BLOCK_MIME):
            ev.acceptProposedAction()
        else:
            ev.ignore()

    def dragMoveEvent(self, ev) -> None:  # noqa: N802 - Qt API
        self.dragEnterEvent(ev)

    def dropEvent(self, ev) -> None:  # noqa: N802 - Qt API
        md = ev.mimeData()
        pos = ev.scenePos() - QPointF(NODE_W / 2, NODE_H / 2)
        if md.hasFormat(LAYER_MIME):
            self.layerDropped.emit(bytes(md.data(LAYER_MIME)).decode(), pos)
            ev.acceptProposedAction()
        elif md.hasFormat(BLOCK_MIME):
            text = bytes(md.data(BLOCK_MIME)).decode()
            try:
                json.loads(text)
            except ValueError:
                ev.ignore()
                return
            self.blockDropped.emit(text, pos)
            ev.acceptProposedAction()
        else:
            ev.ignore()


def _short(msg: str, n: int = 90) -> str:
    return msg if len(msg) <= n else msg[: n - 1] + "…"


def _fallback_positions(graph: Any, triples: list[Edge]) -> dict[str, tuple[float, float]]:
    """Positions for nodes the document did not place (the designer auto-lays out such graphs)."""
    try:
        from engine.graph.layout import layout_graph  # type: ignore[import-not-found]

        return layout_graph([n.id for n in graph.nodes], [(a, b) for a, b, _ in triples])
    except Exception:  # noqa: BLE001 - any failure: a plain column keeps the graph usable
        return {n.id: (0.0, i * (NODE_H + 30.0)) for i, n in enumerate(graph.nodes)}
