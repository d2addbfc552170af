"""A small picture of a project's graph(s): a vertical stack of coloured layer boxes per graph,
drawn with QPainter from the document (used by the template picker and the project panel)."""

from __future__ import annotations

import collections
import zlib

from PySide6.QtCore import QLineF, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from engine.project import GraphSpec, Project

CATEGORY_COLORS = {
    "io": QColor("#9AA5B1"),
    "core": QColor("#4C9BE8"),
    "conv": QColor("#F28E2B"),
    "recurrent": QColor("#59A14F"),
    "attention": QColor("#B07AA1"),
    "merge": QColor("#E15759"),
}


def _category(type_name: str) -> str | None:
    try:
        from engine.layers import get_layer

        spec = get_layer(type_name)
        return spec.category if spec else None
    except Exception:  # noqa: BLE001 - the registry may be incomplete; colour by name then
        return None


def layer_color(type_name: str) -> QColor:
    cat = _category(type_name)
    if cat in CATEGORY_COLORS:
        return CATEGORY_COLORS[cat]
    if type_name.lower() in ("input", "output"):
        return CATEGORY_COLORS["io"]
    hue = zlib.crc32(type_name.encode()) % 360
    return QColor.fromHsv(hue, 110, 215)


def _order(g: GraphSpec) -> list[str]:
    """Node ids in topological order (document order breaks ties; cycles fall back to document order).
    Linear in nodes + edges: this runs on every paint, and a project may hold 100,000 nodes."""
    ids = [n.id for n in g.nodes]
    indeg = dict.fromkeys(ids, 0)
    succ: dict[str, list[str]] = {i: [] for i in ids}
    for a, b in g.edge_pairs():
        if a in indeg and b in indeg:
            indeg[b] += 1
            succ[a].append(b)
    out: list[str] = []
    ready = collections.deque(i for i in ids if indeg[i] == 0)
    while ready:
        cur = ready.popleft()
        out.append(cur)
        for b in succ[cur]:
            indeg[b] -= 1
            if indeg[b] == 0:
                ready.append(b)
    return out if len(out) == len(ids) else ids


def paint_graphs(p: QPainter, rect: QRectF, project: Project, dark: bool = False) -> None:
    graphs = project.graphs()
    if not graphs:
        p.setPen(QColor("#888"))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, "no model")
        return
    n = len(graphs)
    col_w = rect.width() / n
    text_color = QColor("#f0f0f0") if dark else QColor("#202020")
    for gi, (gpath, g) in enumerate(graphs.items()):
        col = QRectF(rect.left() + gi * col_w, rect.top(), col_w, rect.height())
        title_h = 16.0 if n > 1 else 0.0
        if n > 1:
            f = QFont()
            f.setBold(True)
            title = gpath.split(".")[-1]
            for px in (11, 10, 9, 8):  # the largest size that fits the column
                f.setPixelSize(px)
                p.setFont(f)
                if p.fontMetrics().horizontalAdvance(title) <= col.width() - 2:
                    break
            title = p.fontMetrics().elidedText(title, Qt.TextElideMode.ElideRight, int(col.width() - 2))
            p.setPen(text_color)
            p.drawText(QRectF(col.left(), col.top(), col.width(), title_h), Qt.AlignmentFlag.AlignCenter, title)
        nodes = {nd.id: nd for nd in g.nodes}
        order = _order(g)
        k = max(1, len(order))
        avail = col.height() - title_h - 4
        gap = min(6.0, avail / (k * 4))
        box_h = min(22.0, (avail - gap * (k - 1)) / k)
        total = k * box_h + (k - 1) * gap
        y = col.top() + title_h + 2 + (avail - total) / 2
        bw = col.width() * (0.8 if n == 1 else 0.9)
        x = col.left() + (col.width() - bw) / 2
        f = QFont()
        f.setPixelSize(int(max(7, min(12, box_h * 0.6))))
        p.setFont(f)
        prev_bottom: QPointF | None = None
        for nid in order:
            nd = nodes[nid]
            box = QRectF(x, y, bw, box_h)
            if prev_bottom is not None and gap >= 1:
                p.setPen(QPen(QColor("#999"), 1))
                p.drawLine(QLineF(prev_bottom, QPointF(box.center().x(), box.top())))
            c = layer_color(nd.type)
            p.setPen(QPen(c.darker(130), 1))
            p.setBrush(c)
            p.drawRoundedRect(box, 4, 4)
            if box_h >= 8:
                p.setPen(QColor("#ffffff") if c.lightness() < 150 else QColor("#111111"))
                label = nd.label or nd.type
                label = p.fontMetrics().elidedText(label, Qt.TextElideMode.ElideRight, int(bw - 6))
                p.drawText(box, Qt.AlignmentFlag.AlignCenter, label)
            y += box_h + gap
            prev_bottom = QPointF(box.center().x(), box.bottom())


def render_diagram(project: Project, size: QSize, dark: bool = False) -> QPixmap:
    img = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
    img.fill(Qt.GlobalColor.transparent)
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    try:
        paint_graphs(p, QRectF(4, 4, size.width() - 8, size.height() - 8), project, dark)
    finally:
        p.end()
    return QPixmap.fromImage(img)


class GraphDiagram(QWidget):
    """Paints ``project``'s graphs; ``set_project(None)`` shows nothing."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.project: Project | None = None
        self.setMinimumSize(120, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_project(self, project: Project | None) -> None:
        self.project = project
        self.update()

    def paintEvent(self, _ev) -> None:  # noqa: N802 - Qt API
        if self.project is None:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        try:
            dark = self.palette().window().color().lightness() < 128
            paint_graphs(p, QRectF(self.rect()).adjusted(4, 4, -4, -4), self.project, dark)
        finally:
            p.end()
