"""Real mouse gestures on a QGraphicsView's viewport for the canvas tests (press, moves, release)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


def _send(widget, kind, pos: QPoint, button, buttons, mods=Qt.KeyboardModifier.NoModifier) -> None:
    local = QPointF(pos)
    ev = QMouseEvent(kind, local, widget.mapToGlobal(local), button, buttons, mods)
    QApplication.sendEvent(widget, ev)


def view_point(view, scene_pt) -> QPoint:
    return view.mapFromScene(QPointF(scene_pt))


def drag(view, a, b, steps: int = 6, mods=Qt.KeyboardModifier.NoModifier, button=Qt.MouseButton.LeftButton) -> None:
    """Press at scene point ``a``, move in ``steps`` to ``b``, release there."""
    vp = view.viewport()
    pa, pb = view_point(view, a), view_point(view, b)
    _send(vp, QEvent.Type.MouseButtonPress, pa, button, button, mods)
    for i in range(1, steps + 1):
        p = pa + (pb - pa) * (i / steps)
        _send(vp, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, button, mods)
        QApplication.processEvents()
    _send(vp, QEvent.Type.MouseButtonRelease, pb, button, Qt.MouseButton.NoButton, mods)
    QApplication.processEvents()


def click(view, a, mods=Qt.KeyboardModifier.NoModifier, double: bool = False) -> None:
    vp = view.viewport()
    p = view_point(view, a)
    b = Qt.MouseButton.LeftButton
    _send(vp, QEvent.Type.MouseButtonPress, p, b, b, mods)
    _send(vp, QEvent.Type.MouseButtonRelease, p, b, Qt.MouseButton.NoButton, mods)
    if double:
        _send(vp, QEvent.Type.MouseButtonDblClick, p, b, b, mods)
        _send(vp, QEvent.Type.MouseButtonRelease, p, b, Qt.MouseButton.NoButton, mods)
    QApplication.processEvents()
