"""Canvas items: a node (type, label, key params, inferred shape), its ports, the edges between
ports, and the red problem badge. Items draw themselves with QPainter (no child text items) so a
10,000-node graph stays cheap; everything they show comes from the document and the analysis.

The flow is top-down: input ports sit on a node's top edge (one per input, in port order, for
Add/Concat), the output port on its bottom edge.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
)
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QGraphicsPathItem, QStyle

from engine.layers import get_layer
from widgets.graph_diagram import layer_color

NODE_W = 168.0
NODE_H = 64.0
PORT_R = 6.0
BADGE_R = 9.0
_POS_CHANGED = QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged  # looked up once: itemChange is hot
_SELECTED = QStyle.StateFlag.State_Selected
_NO_SHAPE = object()

# short names for the params a node shows on its face (the inspector shows all of them)
SHORT = {
    "out_channels": "", "out_features": "", "hidden_size": "h", "kernel_size": "k", "stride": "s",
    "padding": "p", "dilation": "d", "groups": "g", "p": "p", "shape": "", "num_heads": "heads",
    "nhead": "heads", "dim_feedforward": "ff", "num_embeddings": "n", "embedding_dim": "dim",
    "scale_factor": "×", "block": "",
}


def shape_text(shape: Any) -> str:
    if shape is None:
        return "?"
    return "×".join(str(d) for d in shape) if len(shape) else "scalar"


def _fmt_value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "×".join(str(x) for x in v) if all(isinstance(x, int) for x in v) else ",".join(map(str, v))
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


KEY_PARAMS = {  # what a node shows on its face, in this order (the inspector shows everything)
    "Conv2d": ("out_channels", "kernel_size", "stride", "padding"), "Conv1d": ("out_channels", "kernel_size",
    "stride", "padding"), "ConvTranspose2d": ("out_channels", "kernel_size", "stride", "padding"),
    "Linear": ("out_features",), "MaxPool2d": ("kernel_size", "stride"), "AvgPool2d": ("kernel_size", "stride"),
    "MaxPool1d": ("kernel_size", "stride"), "AvgPool1d": ("kernel_size", "stride"), "Dropout": ("p",),
    "Dropout2d": ("p",), "LSTM": ("hidden_size",), "GRU": ("hidden_size",), "RNN": ("hidden_size",),
    "Embedding": ("num_embeddings", "embedding_dim"), "Input": ("shape",), "Reshape": ("shape",),
    "TransformerEncoderLayer": ("nhead", "dim_feedforward"), "MultiheadAttention": ("num_heads",),
    "Upsample": ("scale_factor",), "Concat": ("dim",),
}
QUIET_DEFAULTS = {"stride": 1, "padding": 0}  # not worth showing at these values


def key_params_text(type_name: str, params: dict[str, Any]) -> str:
    """The few parameters worth reading on the node itself (defaults included for the key ones)."""
    spec = get_layer(type_name)
    keys = KEY_PARAMS.get(type_name)
    if spec is not None and keys:
        values = spec.resolve(params)
        items = [(k, values.get(k)) for k in keys if k in values and values.get(k) != QUIET_DEFAULTS.get(k, object())]
        items = [(k, v) for k, v in items if not (k == "stride" and type_name.endswith("Pool2d") and
                                                  v == values.get("kernel_size"))]
    else:
        items = list(params.items())
    parts = []
    for name, value in items:
        short = SHORT.get(name, name)
        val = _fmt_value(value)
        parts.append(val if short == "" else (f"{short}{val}" if short == "×" else f"{short}={val}"))
    return "  ".join(parts)


def input_port_count(type_name: str, connected: int) -> int:
    """One port per connected input, plus a free one where the layer takes any number (Add, Concat)."""
    spec = get_layer(type_name)
    if spec is None:
        return max(1, connected)
    if spec.max_inputs == 0:
        return 0
    if spec.max_inputs is None:
        return max(spec.min_inputs, connected + 1)
    return max(spec.max_inputs, connected)


class PortItem(QGraphicsItem):
    """A connection point. ``kind`` is "in" (with its ``index``) or "out"."""

    def __init__(self, node: NodeItem, kind: str, index: int = 0):
        super().__init__(node)
        self.node, self.kind, self.index = node, kind, index
        self.hover = False
        self.setAcceptHoverEvents(True)
        self.setZValue(2)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        r = PORT_R + 3
        return QRectF(-r, -r, 2 * r, 2 * r)

    def shape(self) -> QPainterPath:
        p = QPainterPath()
        p.addEllipse(self.boundingRect())
        return p

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if not self.hover:  # the node paints the resting dot; the port only its hover highlight
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor("#3a3f47"), 1.2))
        painter.setBrush(QColor("#ffd166"))
        painter.drawEllipse(QPointF(0, 0), PORT_R + 2, PORT_R + 2)

    def hoverEnterEvent(self, ev) -> None:  # noqa: N802 - Qt API
        self.hover = True
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.update()

    def hoverLeaveEvent(self, ev) -> None:  # noqa: N802 - Qt API
        self.hover = False
        self.update()

    def anchor(self) -> QPointF:
        return self.scenePos()

    def port_name(self) -> str:
        return f"{self.node.node_id}.{'out' if self.kind == 'out' else f'in{self.index}'}"


class BadgeItem(QGraphicsItem):
    """A red (error) or amber (warning) dot on a node; its tooltip says what is wrong and what would fix it."""

    def __init__(self, node: NodeItem):
        super().__init__(node)
        self.node = node
        self.errors: list[Any] = []
        self.setZValue(3)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setVisible(False)

    def set_errors(self, errors: list[Any]) -> None:
        self.errors = list(errors)
        self.setVisible(bool(self.errors))
        self.setToolTip(badge_tooltip(self.errors))
        self.update()

    @property
    def level(self) -> str:
        return "error" if any(getattr(e, "level", "error") == "error" for e in self.errors) else "warning"

    def fixes(self) -> list[Any]:
        out = []
        for e in self.errors:
            out.extend(getattr(e, "fixes", ()) or ())
        return out

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return QRectF(-BADGE_R - 1, -BADGE_R - 1, 2 * BADGE_R + 2, 2 * BADGE_R + 2)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor("#ffffff"), 1.5))
        painter.setBrush(QColor("#d93025") if self.level == "error" else QColor("#e8a317"))
        painter.drawEllipse(QPointF(0, 0), BADGE_R, BADGE_R)
        f = QFont(painter.font())
        f.setBold(True)
        f.setPointSizeF(9)
        painter.setFont(f)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(self.boundingRect(), Qt.AlignmentFlag.AlignCenter, "!")

    def mousePressEvent(self, ev) -> None:  # noqa: N802 - Qt API
        if ev.button() == Qt.MouseButton.LeftButton:
            scene = self.scene()
            if scene is not None and hasattr(scene, "badge_clicked"):
                scene.badge_clicked(self, ev.screenPos())
            ev.accept()
            return
        super().mousePressEvent(ev)


def badge_tooltip(errors: list[Any]) -> str:
    if not errors:
        return ""
    lines = []
    for e in errors:
        head = "Problem" if getattr(e, "level", "error") == "error" else "Warning"
        lines.append(f"<b>{head}:</b> {_esc(e.message)}")
        fixes = getattr(e, "fixes", ()) or ()
        for f in fixes:
            lines.append(f"&nbsp;&nbsp;→ <i>Fix:</i> {_esc(f.title)}")
    if any(getattr(e, "fixes", ()) for e in errors):
        lines.append("<br><i>Click the badge to apply a fix.</i>")
    return "<br>".join(lines)


def _esc(s: str) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class NodeItem(QGraphicsObject):
    """One layer on the canvas. Its document id is ``node_id``; what it shows is set by the scene.

    Ports and the badge are created on demand (the first hover or press near the node, the first
    problem): the node paints its port dots itself, and edges anchor to computed points, so a
    10,000-node graph creates one item per node and one per edge."""

    def __init__(self, node_id: str, type_name: str, params: dict[str, Any] | None = None,
                 label: str | None = None, n_inputs: int = 0):
        super().__init__()
        self.node_id = node_id
        self.type_name = type_name
        self.params: dict[str, Any] = dict(params or {})
        self.label = label
        self.shape_str = "?"
        self._shape: Any = _NO_SHAPE
        self.connected = True
        self.edges: list[EdgeItem] = []
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
        )
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self.color = layer_color(type_name)
        self.has_output = type_name != "Output"
        self.n_in = input_port_count(type_name, n_inputs)
        self._in_ports: list[PortItem] | None = None
        self._out_port: PortItem | None = None
        self._badge: BadgeItem | None = None
        self.errors: list[Any] = []

    # -- ports and badge (lazy) ------------------------------------------------------------
    def ensure_ports(self) -> None:
        if self._in_ports is not None:
            return
        self._in_ports = []
        if self.has_output:
            self._out_port = PortItem(self, "out")
            self._out_port.setPos(NODE_W / 2, NODE_H)
        self._sync_port_items()

    @property
    def in_ports(self) -> list[PortItem]:
        self.ensure_ports()
        return self._in_ports  # type: ignore[return-value]

    @property
    def out_port(self) -> PortItem | None:
        self.ensure_ports()
        return self._out_port

    @property
    def badge(self) -> BadgeItem:
        if self._badge is None:
            self._badge = BadgeItem(self)
            self._badge.setPos(NODE_W - 4, 4)
            self._badge.set_errors(self.errors)
        return self._badge

    def set_errors(self, errors: list[Any]) -> None:
        self.errors = list(errors)
        if errors or self._badge is not None:
            self.badge.set_errors(self.errors)
        self.update()

    def has_error(self) -> bool:
        return any(getattr(e, "level", "error") == "error" for e in self.errors)

    def in_anchor(self, index: int) -> QPointF:
        n = max(self.n_in, index + 1)
        return self.scenePos() + QPointF(NODE_W * (index + 1) / (n + 1), 0)

    def out_anchor(self) -> QPointF:
        return self.scenePos() + QPointF(NODE_W / 2, NODE_H)

    # -- content ---------------------------------------------------------------------------
    def title(self) -> str:
        return self.label or self.node_id

    def set_data(self, type_name: str, params: dict[str, Any], label: str | None) -> None:
        if type_name != self.type_name:
            self.type_name = type_name
            self.color = layer_color(type_name)
        self.params = dict(params)
        self.label = label
        if self.toolTip():
            self._refresh_tooltip()
        self.update()

    def set_info(self, shape: Any, connected: bool = True) -> None:
        if shape == self._shape and connected == self.connected and self._shape is not _NO_SHAPE:
            return  # the common case after an edit elsewhere: nothing to format or repaint
        self._shape = shape
        self.shape_str = shape_text(shape)
        self.connected = connected
        self.update()

    def set_input_count(self, n: int) -> None:
        if n == self.n_in:
            return
        self.n_in = n
        self._sync_port_items()
        self.update()

    def _sync_port_items(self) -> None:
        ports = self._in_ports
        if ports is None:
            return
        while len(ports) > self.n_in:
            p = ports.pop()
            if self.scene() is not None:
                self.scene().removeItem(p)
            else:
                p.setParentItem(None)
        while len(ports) < self.n_in:
            ports.append(PortItem(self, "in", len(ports)))
        for i, p in enumerate(ports):
            p.setPos(NODE_W * (i + 1) / (self.n_in + 1), 0)

    def in_port(self, index: int) -> PortItem | None:
        ports = self.in_ports
        return ports[index] if 0 <= index < len(ports) else None

    def _refresh_tooltip(self) -> None:
        spec = get_layer(self.type_name)
        doc = spec.doc if spec is not None else ""
        self.setToolTip(f"<b>{_esc(self.title())}</b> ({_esc(self.type_name)}, id <code>{_esc(self.node_id)}</code>)"
                        f"<br>{_esc(doc)}")

    # -- geometry & drawing ----------------------------------------------------------------
    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        m = PORT_R + 1
        return QRectF(-2, -m, NODE_W + 4, NODE_H + 2 * m)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        selected = bool(option.state & _SELECTED)
        rect = QRectF(0, 0, NODE_W, NODE_H)
        pal = widget.palette() if widget is not None else None
        base = pal.color(pal.ColorRole.Base) if pal is not None else QColor("#ffffff")
        text = pal.color(pal.ColorRole.Text) if pal is not None else QColor("#202124")
        dark = base.lightness() < 128
        fill = QColor(base).lighter(135) if dark else QColor("#fbfbfc")
        if lod < 0.35:  # far away: a coloured box is all one can see (and all that is cheap)
            painter.fillRect(rect, self.color)
            if selected:
                painter.setPen(QPen(QColor("#1a73e8"), 4))
                painter.drawRect(rect)
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        border = QColor("#1a73e8") if selected else (QColor(text).darker(150) if not dark else QColor("#5f6368"))
        painter.setPen(QPen(border, 2.5 if selected else 1.0, Qt.PenStyle.SolidLine if self.connected
                            else Qt.PenStyle.DashLine))
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, 7, 7)
        if self.type_name == "Block":  # a collapsed sub-graph: a second frame says "there is more inside"
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(3, 3, -3, -3), 5, 5)
        stripe = QPainterPath()
        stripe.addRoundedRect(QRectF(0, 0, 7, NODE_H), 3, 3)
        painter.fillPath(stripe, self.color)
        painter.setPen(QPen(QColor("#3a3f47"), 1.2))
        painter.setBrush(QColor("#e8eaed"))
        for i in range(self.n_in):
            painter.drawEllipse(QPointF(NODE_W * (i + 1) / (self.n_in + 1), 0), PORT_R, PORT_R)
        if self.has_output:
            painter.drawEllipse(QPointF(NODE_W / 2, NODE_H), PORT_R, PORT_R)
        f = QFont(painter.font())
        f.setPointSizeF(9.5)
        f.setBold(True)
        painter.setFont(f)
        painter.setPen(text)
        fm = QFontMetrics(f)
        painter.drawText(QRectF(14, 5, NODE_W - 24, 18), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(self.title(), Qt.TextElideMode.ElideRight, int(NODE_W - 24)))
        f.setBold(False)
        f.setPointSizeF(8.0)
        painter.setFont(f)
        fm = QFontMetrics(f)
        muted = QColor(text)
        muted.setAlpha(170)
        painter.setPen(muted)
        sub = self.type_name if not self.label or self.label == self.node_id else f"{self.type_name} · {self.node_id}"
        kp = key_params_text(self.type_name, self.params)
        if self.type_name == "Block":
            kp = f"{self.params.get('block', '?')} (double-click to open)"
        line2 = f"{sub}  {kp}" if kp else sub
        painter.drawText(QRectF(14, 23, NODE_W - 20, 16), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(line2, Qt.TextElideMode.ElideRight, int(NODE_W - 20)))
        f.setPointSizeF(8.5)
        f.setBold(True)
        painter.setFont(f)
        bad = self.has_error()
        painter.setPen(QColor("#d93025") if bad and self.shape_str == "?" else QColor("#188038") if not dark
                       else QColor("#81c995"))
        painter.drawText(QRectF(14, 40, NODE_W - 20, 16), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         "→ " + self.shape_str)

    def hoverEnterEvent(self, ev) -> None:  # noqa: N802 - Qt API
        self.ensure_ports()
        if not self.toolTip():  # built on first hover: 10,000 nodes need not format 10,000 tooltips
            self._refresh_tooltip()
        super().hoverEnterEvent(ev)

    def itemChange(self, change, value):  # noqa: N802 - Qt API
        if change == _POS_CHANGED:
            for e in self.edges:
                e.adjust()
        return super().itemChange(change, value)

    def mouseDoubleClickEvent(self, ev) -> None:  # noqa: N802 - Qt API
        scene = self.scene()
        if scene is not None and hasattr(scene, "node_double_clicked"):
            scene.node_double_clicked(self)
        ev.accept()


class EdgeItem(QGraphicsPathItem):
    """A connection from ``src``'s output port to input port ``port`` of ``dst``; re-routes when either moves."""

    def __init__(self, src: NodeItem, dst: NodeItem, port: int):
        super().__init__()
        self.src, self.dst, self.port = src, dst, port
        self.setZValue(0)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setPen(QPen(QColor("#80868b"), 2.0))
        self.setBrush(QBrush(Qt.BrushStyle.NoBrush))
        src.edges.append(self)
        dst.edges.append(self)
        self.setToolTip(f"{src.node_id} → {dst.node_id} (input {port})")
        self.adjust()

    def key(self) -> tuple[str, str, int]:
        return (self.src.node_id, self.dst.node_id, self.port)

    def endpoints(self) -> tuple[QPointF, QPointF]:
        return self.src.out_anchor(), self.dst.in_anchor(self.port)

    def adjust(self) -> None:
        a, b = self.endpoints()
        self.setPath(edge_path(a, b))

    def detach(self) -> None:
        for n in (self.src, self.dst):
            if self in n.edges:
                n.edges.remove(self)

    def shape(self) -> QPainterPath:
        s = QPainterPathStroker()
        s.setWidth(10)
        return s.createStroke(self.path())

    def paint(self, painter: QPainter, option, widget=None) -> None:
        selected = bool(option.state & _SELECTED)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor("#1a73e8") if selected else QColor("#80868b"), 3.0 if selected else 2.0))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())


def edge_path(a: QPointF, b: QPointF) -> QPainterPath:
    """A vertical S-curve from an output port down (or back up) to an input port."""
    path = QPainterPath(a)
    dy = max(40.0, abs(b.y() - a.y()) * 0.5)
    path.cubicTo(QPointF(a.x(), a.y() + dy), QPointF(b.x(), b.y() - dy), b)
    return path
