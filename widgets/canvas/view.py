"""The canvas view (zoom with the wheel or Ctrl+= / Ctrl+-, pan with the middle button or
Space+drag, F fits the graph) and a small overview of the whole graph for large models."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPen, QWheelEvent
from PySide6.QtWidgets import QFrame, QGraphicsView, QWidget

from .scene import GraphScene

MIN_ZOOM, MAX_ZOOM = 0.05, 4.0
READABLE_ZOOM = 0.75  # below this a node's text is too small to read


class CanvasView(QGraphicsView):
    zoomChanged = Signal(float)
    viewportMoved = Signal()

    def __init__(self, scene: GraphScene, parent: QWidget | None = None):
        super().__init__(scene, parent)
        self.setObjectName("canvas")
        self.setAccessibleName("Model canvas")
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setAcceptDrops(True)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)  # the scene's interactions do selection
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from: QPointF | None = None
        self._was_empty = True
        scene.changed.connect(self._scene_changed)
        self._space = False
        # a fixed, roomy scene rect: Qt's default (the items' bounds) re-centres the view on every drop
        self.setSceneRect(QRectF(-3000, -3000, 6000, 6000))
        self.horizontalScrollBar().valueChanged.connect(lambda _v: self.viewportMoved.emit())
        self.verticalScrollBar().valueChanged.connect(lambda _v: self.viewportMoved.emit())

    def setScene(self, scene) -> None:  # noqa: N802 - Qt API
        old = self.scene()
        if old is not None:
            try:
                old.changed.disconnect(self._scene_changed)
            except (RuntimeError, TypeError):
                pass
        super().setScene(scene)
        scene.changed.connect(self._scene_changed)
        self.viewport().update()

    def _scene_changed(self, _rects) -> None:
        sc = self.scene()
        empty = isinstance(sc, GraphScene) and not sc.nodes
        if empty != self._was_empty:  # the hint on an empty canvas comes or goes: repaint all of it
            self._was_empty = empty
            self.viewport().update()

    # -- zoom --------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, z: float) -> None:
        z = max(MIN_ZOOM, min(MAX_ZOOM, z))
        f = z / self.zoom()
        if abs(f - 1.0) > 1e-9:
            self.scale(f, f)
            self.zoomChanged.emit(self.zoom())

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom() * 1.25)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom() / 1.25)

    def fit(self, readable: bool = False) -> None:
        """Fit the whole graph (never zooming in beyond 100%). ``readable``: on opening, never zoom out
        so far that the text cannot be read; show the graph's beginning (its top-left) instead."""
        sc = self.scene()
        r = sc.node_rect() if isinstance(sc, GraphScene) else sc.itemsBoundingRect()
        if r.isNull():
            return
        r = r.adjusted(-40, -40, 40, 40)
        self.setSceneRect(self.sceneRect().united(r.adjusted(-2000, -2000, 2000, 2000)))
        self.fitInView(r, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > 1.0:
            self.set_zoom(1.0)
            self.centerOn(r.center())
        elif readable and self.zoom() < READABLE_ZOOM:
            self.set_zoom(READABLE_ZOOM)
            vis = self.visible_scene_rect()
            self.centerOn(QPointF(max(r.center().x(), r.left() + vis.width() / 2) if r.width() > vis.width()
                                  else r.center().x(), r.top() + vis.height() / 2))
        elif self.zoom() < MIN_ZOOM:
            self.set_zoom(MIN_ZOOM)
            self.centerOn(r.center())
        self.zoomChanged.emit(self.zoom())

    def grow_scene_rect(self) -> None:
        """Keep some room around the graph so nodes can be dragged past its edge."""
        sc = self.scene()
        r = (sc.node_rect() if isinstance(sc, GraphScene) else sc.itemsBoundingRect()).adjusted(-2000, -2000, 2000, 2000)
        if not self.sceneRect().contains(r):
            self.setSceneRect(self.sceneRect().united(r))

    def wheelEvent(self, ev: QWheelEvent) -> None:  # noqa: N802 - Qt API
        if ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            super().wheelEvent(ev)  # Shift+wheel scrolls
            return
        dy = ev.angleDelta().y()
        if dy:
            self.set_zoom(self.zoom() * (1.0015 ** dy))
        ev.accept()

    def keyPressEvent(self, ev: QKeyEvent) -> None:  # noqa: N802 - Qt API
        k, mods = ev.key(), ev.modifiers()
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        if ctrl and k in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_in()
        elif ctrl and k == Qt.Key.Key_Minus:
            self.zoom_out()
        elif ctrl and k == Qt.Key.Key_0:
            self.set_zoom(1.0)
        elif k == Qt.Key.Key_F and not mods:
            self.fit()
        elif k == Qt.Key.Key_Space and not ev.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            super().keyPressEvent(ev)
            return
        ev.accept()

    def keyReleaseEvent(self, ev: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if ev.key() == Qt.Key.Key_Space and not ev.isAutoRepeat():
            self._space = False
            self.viewport().unsetCursor()
        super().keyReleaseEvent(ev)

    # -- pan ---------------------------------------------------------------------------------
    def mousePressEvent(self, ev: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if ev.button() == Qt.MouseButton.MiddleButton or (self._space and ev.button() == Qt.MouseButton.LeftButton):
            self._pan_from = ev.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            ev.accept()
            return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if self._pan_from is not None:
            d = ev.position() - self._pan_from
            self._pan_from = ev.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(d.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(d.y()))
            ev.accept()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if self._pan_from is not None:
            self._pan_from = None
            if self._space:
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            else:
                self.viewport().unsetCursor()
            ev.accept()
            return
        super().mouseReleaseEvent(ev)
        self.grow_scene_rect()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 - Qt API
        sc = self.scene()
        if isinstance(sc, GraphScene) and not sc.nodes:  # an empty canvas says how to begin
            painter.save()
            painter.resetTransform()
            painter.setPen(self.palette().color(self.palette().ColorRole.PlaceholderText))
            painter.drawText(self.viewport().rect().adjusted(30, 0, -30, 0),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             "Drag layers here from the palette (start with an Input). "
                             "Then drag from a layer's bottom dot to the next layer's top dot to connect them.")
            painter.restore()

    def visible_scene_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()


class Overview(QGraphicsView):
    """The whole graph at a glance with the main view's window on it; click or drag to go there."""

    def __init__(self, main: CanvasView, parent: QWidget | None = None):
        super().__init__(main.scene(), parent)
        self.main = main
        self.setObjectName("canvasOverview")
        self.setInteractive(False)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.NoViewportUpdate)
        self.setFixedSize(150, 110)
        self.setToolTip("Overview: click or drag to move the canvas")
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.refit)
        main.scene().changed.connect(lambda _r: self._timer.start())
        main.viewportMoved.connect(self._main_moved)
        main.zoomChanged.connect(lambda _z: self._main_moved())

    def showEvent(self, ev) -> None:  # noqa: N802 - Qt API
        super().showEvent(ev)
        self.refit()

    def set_scene(self, scene) -> None:
        self.setScene(scene)
        scene.changed.connect(lambda _r: self._timer.start())
        self.refit()

    def refit(self) -> None:
        sc = self.scene()
        if sc is None:
            return
        r = sc.node_rect() if isinstance(sc, GraphScene) else sc.itemsBoundingRect()
        if not r.isNull():
            self.fitInView(r.adjusted(-20, -20, 20, 20), Qt.AspectRatioMode.KeepAspectRatio)
        self._main_moved()

    def _main_moved(self) -> None:
        """Shown only while part of the graph is off screen; repaint the window frame."""
        sc = self.scene()
        if self.main is None:
            return
        if isinstance(sc, GraphScene):
            r = sc.node_rect()
            roomy = self.main.viewport().width() >= 3 * self.width()  # never cover a narrow canvas
            self.setVisible(roomy and not r.isNull() and not self.main.visible_scene_rect().contains(r))
        self.viewport().update()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 - Qt API
        if self.main is None:
            return
        painter.setPen(QPen(QColor("#1a73e8"), 0))
        painter.setBrush(QColor(26, 115, 232, 40))
        painter.drawRect(self.main.visible_scene_rect())

    def mousePressEvent(self, ev: QMouseEvent) -> None:  # noqa: N802 - Qt API
        self.main.centerOn(self.mapToScene(ev.position().toPoint()))

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if ev.buttons() & Qt.MouseButton.LeftButton:
            self.main.centerOn(self.mapToScene(ev.position().toPoint()))
