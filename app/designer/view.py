"""The Designer: palette | canvas (one tab per graph, blocks open inside with a breadcrumb) |
inspector over code / layers / history, with totals under the canvas.

This is the controller between the document and the canvas: scene gestures and form edits become
undoable document edits (``doc.apply`` and its wrappers); the document's notifications update the
scenes, and the analysis service's results paint shapes, badges, totals and the layer table.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QMimeData, QObject, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMenu,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolBar,
    QUndoView,
    QVBoxLayout,
    QWidget,
)

from engine.layers import get_layer
from widgets.canvas import FRAGMENT_MIME, CanvasView, GraphScene, Overview
from widgets.canvas.items import NODE_H, NODE_W
from widgets.canvas.quickmenu import QuickMenu, layers_that_fit
from widgets.code_view import CodeView
from widgets.inspector import UNSET as FORM_UNSET
from widgets.inspector import Inspector
from widgets.palette import Palette

from .layer_table import LayerTableModel, human_bytes

log = logging.getLogger("layerlab.designer")
BIG_GRAPH = 400  # auto-layout of more nodes than this runs off the Qt thread
ROLE_TITLES = {"model": "Model", "models.generator": "Generator", "models.discriminator": "Discriminator",
               "models.encoder": "Encoder", "models.decoder": "Decoder"}


def initial_params(type_name: str) -> dict[str, Any]:
    """A new node starts with its required parameters at their defaults (an Input's shape), so it is
    valid at once and the inspector shows what to change."""
    spec = get_layer(type_name)
    return {p.name: p.default for p in spec.params if p.required} if spec is not None else {}


def _title(path: str) -> str:
    if path in ROLE_TITLES:
        return ROLE_TITLES[path]
    if path.startswith("blocks."):
        return f"block {path.split('.', 1)[1]}"
    return path


class CanvasPage(QWidget):
    """One tab: a breadcrumb (graph › block › ...) over a canvas whose scene swaps when a block opens."""

    def __init__(self, designer: DesignerView, root: str):
        super().__init__()
        self.designer = designer
        self.stack = [root]
        self.crumbs = QLabel()
        self.crumbs.setObjectName("breadcrumb")
        self.crumbs.setTextFormat(Qt.TextFormat.RichText)
        self.crumbs.linkActivated.connect(lambda href: self.back_to(int(href)))
        self.view = CanvasView(designer.scene_for(root))
        self.overview = Overview(self.view, self.view)
        # placed from the viewport's own size: scroll bars come and go without resizing the page
        self.view.viewport().installEventFilter(self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.crumbs)
        lay.addWidget(self.view, 1)
        self._update_crumbs()

    def path(self) -> str:
        return self.stack[-1]

    def scene(self) -> GraphScene:
        return self.view.scene()

    def open(self, path: str) -> None:
        self.stack.append(path)
        self._show()

    def back_to(self, depth: int) -> None:
        del self.stack[depth + 1:]
        self._show()

    def reset(self, root: str) -> None:
        self.stack = [root]
        self._show()

    def _show(self) -> None:
        scene = self.designer.scene_for(self.path())
        self.view.setScene(scene)
        self.overview.set_scene(scene)
        self._update_crumbs()
        QTimer.singleShot(0, lambda: self.view.fit(readable=True))
        self.designer._selection_changed()
        self.designer.refresh_code()
        self.designer._show_totals()

    def _update_crumbs(self) -> None:
        parts = []
        for i, p in enumerate(self.stack):
            t = _title(p)
            parts.append(f"<b>{t}</b>" if i == len(self.stack) - 1 else f"<a href='{i}'>{t}</a>")
        self.crumbs.setText(" › ".join(parts))
        self.crumbs.setVisible(len(self.stack) > 1)

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(ev)
        self.place_overview()

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 - Qt API
        if ev.type() == QEvent.Type.Resize and obj is self.view.viewport():
            self.place_overview()
        return False

    def place_overview(self) -> None:
        """Bottom right of the visible canvas, inside the scroll bars."""
        vp = self.view.viewport().geometry()
        self.overview.move(vp.right() - self.overview.width() - 8, vp.bottom() - self.overview.height() - 8)


def _graph_broken(res: Any) -> bool:
    """The graph itself does not compile (a mismatch with the data alone still has code to show)."""
    from engine.graph.datacheck import DATA_KINDS

    return any(e.level == "error" and e.kind not in DATA_KINDS for e in res.errors)


class _LayoutSignal(QObject):
    done = Signal(str, object)  # graph path, {id: (x, y)}


class _CodeSignal(QObject):
    ready = Signal(int, str, str, str)  # token, graph path, source, error


class DesignerView(QWidget):
    """``doc``: the window's DocumentController; ``analysis``: its AnalysisService (one is made if not
    given); ``blocks_dir``: where "Save block to palette" writes; ``ask_text(title, label, default)``
    returns a string or None (tests pass a scripted one)."""

    messageShown = Signal(str)
    layoutApplied = Signal(str)
    codeUpdated = Signal(str)

    def __init__(self, doc: Any, analysis: Any = None, blocks_dir: Path | None = None,
                 ask_text: Callable[[str, str, str], str | None] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("designerView")  # the Start page finds the tab by this name
        self.doc = doc
        if analysis is None:
            from app.analysis import AnalysisService

            analysis = AnalysisService(doc)
        self.analysis = analysis
        self.ask_text = ask_text or self._ask_text_dialog
        self.scenes: dict[str, GraphScene] = {}
        self.results: dict[str, Any] = {}
        self._paste_count = 0
        self._layout_signal = _LayoutSignal(self)
        self._layout_signal.done.connect(self._apply_layout)
        self._code_signal = _CodeSignal(self)
        self._code_signal.ready.connect(self._code_ready)
        self._doc_generation = 0  # one per opened document
        self._code_shown_for: tuple[int, str] | None = None  # (document, graph) of the code on show
        self._code_token = 0
        self._code_jobs: queue.Queue = queue.Queue()
        self._code_thread: threading.Thread | None = None
        self.destroyed.connect(lambda *_: self._code_jobs.put(None))

        self.palette = Palette(blocks_dir)
        self.palette.layerActivated.connect(self.insert_layer)
        self.palette.blockActivated.connect(lambda text: self.paste_fragment(json.loads(text)))
        self.tabs = QTabWidget()
        self.tabs.setObjectName("designerTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.currentChanged.connect(lambda _i: self._page_changed())
        self.pages: list[CanvasPage] = []
        self.inspector = Inspector()
        self.inspector.paramEdited.connect(self._param_edited)
        self.inspector.labelEdited.connect(self._label_edited)
        self.code_view = CodeView()
        self.layer_model = LayerTableModel(self)
        self.layer_table = QTableView()
        self.layer_table.setObjectName("layerTable")
        self.layer_table.setModel(self.layer_model)
        self.layer_table.verticalHeader().setVisible(False)
        hdr = self.layer_table.horizontalHeader()
        hdr.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)  # ResizeToContents measures every row
        hdr.setStretchLastSection(True)
        for col, width in enumerate((110, 110, 80, 90)):
            self.layer_table.setColumnWidth(col, width)
        self.layer_table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.layer_table.clicked.connect(self._table_clicked)
        self.history = QUndoView(doc.undo_stack)
        self.history.setObjectName("undoHistory")
        self.history.setEmptyLabel("(opened)")
        self.totals = QLabel()
        self.totals.setObjectName("designerTotals")
        self.message = QLabel()
        self.message.setObjectName("designerMessage")
        self.message.setStyleSheet("color: #d93025;")
        self.message.hide()
        for lbl in (self.message, self.totals):  # long text is elided, never widens the canvas column
            lbl.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            lbl.setMinimumWidth(0)
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.timeout.connect(self._show_graph_problems)

        self.toolbar = QToolBar()
        self.toolbar.setObjectName("designerToolbar")
        self._make_actions()

        center = QWidget()
        cl = QVBoxLayout(center)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(2)
        cl.addWidget(self.toolbar)
        cl.addWidget(self.tabs, 1)
        status = QHBoxLayout()  # one line: the canvas does not jump when a message comes and goes
        status.setContentsMargins(4, 0, 4, 0)
        status.addWidget(self.totals, 3)
        status.addWidget(self.message, 2)
        cl.addLayout(status)
        side = QTabWidget()
        side.setObjectName("designerSideTabs")
        side.addTab(self.code_view, "Code")
        side.addTab(self.layer_table, "Layers")
        side.addTab(self.history, "History")
        self.side_tabs = side
        side.currentChanged.connect(self._side_tab_changed)
        self._code_stale = self._table_stale = False
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.inspector)
        right.addWidget(side)
        right.setSizes([380, 420])
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("designerSplitter")
        self.splitter.addWidget(self.palette)
        self.splitter.addWidget(center)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([215, 760, 380])
        self.splitter.setChildrenCollapsible(False)
        self.palette.setMinimumWidth(140)
        right.setMinimumWidth(230)
        center.setMinimumWidth(280)
        self._columns_set = False
        self._columns_by_user = False  # once the user drags a splitter handle, the widths are theirs
        self.splitter.splitterMoved.connect(lambda *_: setattr(self, "_columns_by_user", True))
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.splitter)

        self._code_timer = QTimer(self)
        self._code_timer.setSingleShot(True)
        self._code_timer.setInterval(120)
        self._code_timer.timeout.connect(self.refresh_code)

        d = doc
        d.replaced.connect(self.rebuild)
        d.nodeAdded.connect(self._node_added)
        d.nodeRemoved.connect(self._node_removed)
        d.nodeChanged.connect(self._node_changed)
        d.nodeMoved.connect(self._node_moved)
        d.edgeAdded.connect(lambda g, e: self._scene_if(g) and self.scenes[g].add_edge(e.src, e.dst, e.port))
        d.edgeRemoved.connect(lambda g, e: self._scene_if(g) and self.scenes[g].remove_edge(e.src, e.dst, e.port))
        d.graphChanged.connect(lambda _g: self._code_timer.start())
        d.blocksChanged.connect(self._blocks_changed)
        self.analysis.analyzed.connect(self._analyzed)
        if d.project is not None:
            self.rebuild()

    # -- actions -----------------------------------------------------------------------------
    def _act(self, text: str, slot, shortcut=None, tip: str = "", toolbar: bool = True) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            a.setShortcuts([QKeySequence(k) for k in keys])
        a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        a.setToolTip(f"{tip or text} ({a.shortcut().toString()})" if shortcut else (tip or text))
        a.triggered.connect(lambda _c=False: slot())
        self.addAction(a)
        if toolbar:
            self.toolbar.addAction(a)
        return a

    def _make_actions(self) -> None:
        K = QKeySequence.StandardKey
        self.act_layout = self._act("Layout ↓", lambda: self.auto_layout("TB"), "Ctrl+L",
                                    "Arrange the graph in layers, top to bottom")
        self.act_layout_lr = self._act("Layout →", lambda: self.auto_layout("LR"), "Ctrl+Shift+L",
                                       "Arrange the graph in layers, left to right")
        self.act_fit = self._act("Fit", lambda: self.current_view() and self.current_view().fit(), None,
                                 "Show the whole graph (F)")
        self.toolbar.addSeparator()
        self.act_group = self._act("Group", self.group_selection, "Ctrl+G",
                                   "Group the selected layers into one reusable block (collapsed; double-click opens it)")
        self.act_save_block = self._act("Save block", self.save_block_to_palette, None,
                                        "Save the selected block (or layers) to the palette's Blocks, to reuse in any project")
        self.toolbar.addSeparator()
        self.act_delete = self._act("Delete", self.delete_selection, [QKeySequence(K.Delete), "Backspace"],
                                    "Delete the selected layers and connections")
        self.act_duplicate = self._act("Duplicate", self.duplicate_selection, "Ctrl+D")
        self.act_copy = self._act("Copy", self.copy_selection, QKeySequence(K.Copy), toolbar=False)
        self.act_cut = self._act("Cut", self.cut_selection, QKeySequence(K.Cut), toolbar=False)
        self.act_paste = self._act("Paste", self.paste, QKeySequence(K.Paste), toolbar=False)
        self.act_select_all = self._act("Select all", self.select_all, QKeySequence(K.SelectAll), toolbar=False)

    def _side_tab_changed(self, _index: int) -> None:
        if self._code_stale:
            self.refresh_code()
        if self._table_stale:
            self._refresh_table()

    def _fit_columns(self) -> None:
        """Palette and side panel take a share of the width, the canvas the rest (at 1024 px too)."""
        w = max(self.width(), 600)  # the splitter fills the view (its own width lags a resize event)
        pal = int(min(230, max(150, 0.17 * w)))
        side = int(min(420, max(250, 0.30 * w)))
        self.splitter.setSizes([pal, max(300, w - pal - side), side])

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(ev)
        # the shares follow the window (a window opened large then made small kept its wide palette and side
        # panel and squeezed the canvas), until the user sets them
        if self.isVisible() and (not self._columns_set or not self._columns_by_user):
            self._columns_set = True
            self._fit_columns()

    def showEvent(self, ev) -> None:  # noqa: N802 - Qt API
        super().showEvent(ev)
        if not self._columns_set:
            self._columns_set = True
            QTimer.singleShot(0, self._fit_columns)
        if self._code_stale:
            QTimer.singleShot(0, self.refresh_code)

    def edit_actions(self) -> list[QAction]:
        """For the window's Edit menu."""
        return [self.act_cut, self.act_copy, self.act_paste, self.act_duplicate, self.act_delete, self.act_select_all,
                self.act_group, self.act_layout]

    def show_for_screenshot(self) -> None:
        """Fit the canvas readably now (``--screenshot --view designer``)."""
        view = self.current_view()
        if view is not None:
            view.fit(readable=True)

    # -- pages & scenes ------------------------------------------------------------------------
    def current_page(self) -> CanvasPage | None:
        w = self.tabs.currentWidget()
        return w if isinstance(w, CanvasPage) else None

    def current_path(self) -> str | None:
        p = self.current_page()
        return p.path() if p else None

    def current_scene(self) -> GraphScene | None:
        p = self.current_page()
        return p.scene() if p else None

    def current_view(self) -> CanvasView | None:
        p = self.current_page()
        return p.view if p else None

    def _graph(self, path: str) -> Any:
        try:
            return self.doc.project.graph_at(path)
        except (KeyError, AttributeError, ValueError):
            return None

    def scene_for(self, path: str) -> GraphScene:
        scene = self.scenes.get(path)
        if scene is None:
            scene = GraphScene(self)
            scene.setObjectName(f"scene:{path}")
            self.scenes[path] = scene
            scene.connectRequested.connect(lambda a, b, p, g=path: self.connect_nodes(g, a, b, p))
            scene.moveRequested.connect(lambda moved, g=path: self._try(lambda: self.doc.move_nodes(g, moved)))
            scene.layerDropped.connect(lambda t, pos, g=path: self.add_layer(t, pos, g))
            scene.blockDropped.connect(lambda text, pos, g=path: self.paste_fragment(json.loads(text), pos, g))
            scene.danglingReleased.connect(lambda src, pos, screen, g=path: self.open_quick_menu(g, src, pos, screen))
            scene.fixRequested.connect(lambda nid, fix, g=path: self.apply_fix(g, nid, fix))
            scene.nodeActivated.connect(lambda nid, g=path: self.open_node(g, nid))
            scene.selectionChanged.connect(self._selection_changed)
            scene.contextRequested.connect(lambda nid, pos, screen, g=path: self.context_menu(g, nid, pos, screen))
            scene.load(self._graph(path), self.results.get(path), path)
        return scene

    def context_menu(self, path: str, nid: str, pos: QPointF, screen: Any) -> QMenu:
        menu = QMenu(self)
        menu.setObjectName("canvasMenu")
        g = self._graph(path)
        node = g.node(nid) if (g is not None and nid) else None
        if node is not None:
            if node.type == "Block":
                menu.addAction("Open block", lambda: self.open_node(path, nid))
            for a in (self.act_duplicate, self.act_copy, self.act_cut, self.act_delete, self.act_group,
                      self.act_save_block):
                menu.addAction(a)
        else:
            menu.addAction(self.act_paste)
            menu.addAction(self.act_select_all)
            menu.addSeparator()
            menu.addAction(self.act_layout)
            menu.addAction(self.act_layout_lr)
            menu.addAction(self.act_fit)
        self.canvas_menu = menu
        menu.popup(screen.toPoint() if hasattr(screen, "toPoint") else screen)
        return menu

    def _scene_if(self, path: str) -> bool:
        return path in self.scenes

    def rebuild(self) -> None:
        """A new or opened document: one tab per graph, every scene built afresh."""
        self.tabs.blockSignals(True)
        while self.tabs.count():
            w = self.tabs.widget(0)
            self.tabs.removeTab(0)
            w.deleteLater()
        self.tabs.blockSignals(False)
        for s in self.scenes.values():
            s.deleteLater()
        self.scenes.clear()
        self.pages = []
        self.results = dict(getattr(self.analysis, "results", None) or {})
        self.inspector.clear()
        self._doc_generation += 1  # the code shown so far belongs to the previous document
        self.code_view.set_source("", "")
        if self.doc.project is None:
            return
        for path in self.doc.project.graphs():
            page = CanvasPage(self, path)
            self.pages.append(page)
            self.tabs.addTab(page, _title(path))
        self.tabs.tabBar().setVisible(self.tabs.count() > 1)
        for page in self.pages:
            QTimer.singleShot(0, lambda v=page.view: v.fit(readable=True))
        self._paste_count = 0
        self._show_totals()
        self._show_graph_problems()
        QTimer.singleShot(300, self.refresh_code)  # after the canvas is on screen: opening stays quick

    def _page_changed(self) -> None:
        self._selection_changed()
        self._show_totals()
        self._show_graph_problems()
        self.refresh_code()

    # -- following the document ------------------------------------------------------------
    def _node_added(self, path: str, nid: str) -> None:
        scene = self.scenes.get(path)
        g = self._graph(path)
        n = g.node(nid) if g is not None else None
        if scene is not None and n is not None:
            scene.add_node(n, len(g.inputs_of(nid)))
            for e in g.edges_into(nid):
                scene.add_edge(e.src, e.dst, e.port)
            for e in g.edges_from(nid):
                scene.add_edge(e.src, e.dst, e.port)

    def _node_removed(self, path: str, nid: str) -> None:
        if path in self.scenes:
            self.scenes[path].remove_node(nid)
        if self.inspector.node_id == nid and self.current_path() == path:
            self.inspector.clear()

    def _node_changed(self, path: str, nid: str) -> None:
        g = self._graph(path)
        n = g.node(nid) if g is not None else None
        if n is None:
            return
        if path in self.scenes:
            self.scenes[path].update_node(n)
        if self.inspector.node_id == nid and self.current_path() == path:
            self._show_in_inspector(path, nid)

    def _node_moved(self, path: str, nid: str) -> None:
        g = self._graph(path)
        n = g.node(nid) if g is not None else None
        if n is not None and path in self.scenes:
            self.scenes[path].move_node(nid, n.pos)

    def _blocks_changed(self) -> None:
        """Block definitions changed (grouped, edited, undone): rebuild the block scenes not on show and
        refresh shown ones from the document."""
        for path in [p for p in self.scenes if p.startswith("blocks.")]:
            if self._graph(path) is None:
                for page in self.pages:
                    if path in page.stack:
                        page.back_to(page.stack.index(path) - 1)
                self.scenes.pop(path).deleteLater()
            else:
                self.scenes[path].load(self._graph(path), self.results.get(path), path)

    def _analyzed(self, results: dict) -> None:
        self.results = dict(results)
        for path, scene in self.scenes.items():
            res = results.get(path)
            if res is not None:
                scene.set_analysis(res)
        self._show_totals()
        path = self.current_path()
        if self.inspector.node_id and path:
            self._show_in_inspector(path, self.inspector.node_id)
        self._show_graph_problems()
        self._code_timer.start()

    # -- status ------------------------------------------------------------------------------
    def _show_totals(self) -> None:
        path = self.current_path()
        res = self.results.get(path) if path else None
        if res is None:
            self.totals.setText("")
            self.layer_model.set_result(None)
            return
        n_err = sum(1 for e in res.errors if e.level == "error")
        n_warn = len(res.errors) - n_err
        state = "ready to train" if res.ok else f"{n_err} problem{'s' if n_err != 1 else ''}"
        if n_warn:
            state += f", {n_warn} warning{'s' if n_warn != 1 else ''}"
        self.totals.setText(
            f"<b>{res.total_params:,}</b> parameters · <b>{res.total_macs:,}</b> MACs · "
            f"{human_bytes(res.total_params * 4)} fp32 · {len(res.nodes)} layers · {state}")
        self._refresh_table()

    def _refresh_table(self) -> None:
        """The per-layer table, only while it can be seen (a reset re-reads every row)."""
        if not self.layer_table.isVisible():
            self._table_stale = True
            return
        self._table_stale = False
        path = self.current_path()
        res = self.results.get(path) if path else None
        g = self._graph(path) if path else None
        labels = {n.id: n.label for n in g.nodes if n.label} if g is not None else {}
        self.layer_model.set_result(res, labels)

    def _show_graph_problems(self) -> None:
        path = self.current_path()
        res = self.results.get(path) if path else None
        msgs = [e.message for e in (res.errors if res else []) if e.node is None and e.level == "error"]
        self._set_message("  ·  ".join(msgs))

    def show_message(self, text: str) -> None:
        """A refused edit: say why under the canvas for a few seconds (and to listeners/tests)."""
        self._set_message(text)
        self.messageShown.emit(text)
        self._message_timer.start(6000)

    def _set_message(self, text: str) -> None:
        self.message.setToolTip(text)
        fm = self.message.fontMetrics()
        self.message.setText(fm.elidedText(text, Qt.TextElideMode.ElideRight, max(200, self.tabs.width() // 2)))
        self.message.setVisible(bool(text))

    def refresh_code(self) -> None:
        """Regenerate the code view on a worker thread (the generator takes tens of milliseconds for a
        300-layer graph, and its first run imports torch), only while the view can be seen."""
        if not self.code_view.isVisible():
            self._code_stale = True
            return
        self._code_stale = False
        path = self.current_path()
        if path is None or self.doc.project is None:
            self.code_view.set_source("")
            return
        res = self.results.get(path)
        if res is not None and _graph_broken(res):
            if self._code_shown_for == (self._doc_generation, path) and self.code_view.source():
                self.code_view.set_source(self.code_view.source(), "Fix the problems marked on the canvas to see "
                                          "the code of this graph (showing the last version that compiled).")
            else:  # never another document's or another graph's code
                self.code_view.set_source("", "Fix the problems marked on the canvas to see the code of this graph.")
            return
        self._code_token += 1
        self._code_jobs.put((self._code_token, path, self.doc.project.to_dict()))
        if self._code_thread is None:
            self._code_thread = threading.Thread(target=self._code_loop, name="layerlab-codegen", daemon=True)
            self._code_thread.start()

    def _code_loop(self) -> None:
        """One worker for the code view: it skips to the newest request (older ones are stale)."""
        from engine.graph.codegen import python_source
        from engine.project import parse_project

        while True:
            job = self._code_jobs.get()
            while not self._code_jobs.empty():
                job = self._code_jobs.get_nowait()
            if job is None:
                return
            token, path, raw = job
            try:
                src, err = python_source(parse_project(raw), path), ""
            except Exception as exc:  # noqa: BLE001 - shown as a note, the last good code stays
                src, err = "", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            try:
                self._code_signal.ready.emit(token, path, src, err)
            except RuntimeError:  # the view is gone
                return

    def _code_ready(self, token: int, path: str, src: str, err: str) -> None:
        if token != self._code_token or path != self.current_path():
            return  # an older edit's code, or another graph
        if err:
            keep = self.code_view.source() if self._code_shown_for == (self._doc_generation, path) else ""
            self.code_view.set_source(keep, f"No code for this graph: {err}")
        else:
            self.code_view.set_source(src, "Plain PyTorch for this graph: paste it into a notebook.")
            self._code_shown_for = (self._doc_generation, path)
        self.codeUpdated.emit(path)

    # -- edits -------------------------------------------------------------------------------
    def _try(self, fn: Callable[[], Any]) -> Any:
        from engine.edits import EditError

        try:
            return fn()
        except (EditError, ValueError, KeyError) as exc:
            self.show_message(str(exc).strip("'\""))
            return None

    def _apply(self, edits: Any, text: str) -> Any:
        return self._try(lambda: self.doc.apply(edits, text))

    def connect_nodes(self, path: str, src: str, dst: str, port: int) -> None:
        self._try(lambda: self.doc.connect(path, src, dst, None if port < 0 else port))

    def add_layer(self, type_name: str, pos: QPointF | None = None, path: str | None = None) -> str | None:
        path = path or self.current_path()
        if path is None:
            return None
        xy = (round(pos.x(), 1), round(pos.y(), 1)) if pos is not None else self._spot_in_view()
        nid = self._try(lambda: self.doc.add_node(path, type_name, initial_params(type_name), xy))
        if nid:
            self._select_later(path, [nid])
        return nid

    def _spot_in_view(self) -> tuple[float, float]:
        view = self.current_view()
        if view is None:
            return (0.0, 0.0)
        c = view.visible_scene_rect().center()
        return (round(c.x() - NODE_W / 2, 1), round(c.y() - NODE_H / 2, 1))

    def insert_layer(self, type_name: str) -> str | None:
        """Palette double-click: after the one selected node (wired in, taking over its outgoing
        connections, nodes below moved down to make room), else in the middle of the view."""
        from engine.edits import AddNode, Connect, Disconnect, MoveNodes, new_node_id

        path, scene = self.current_path(), self.current_scene()
        if path is None or scene is None:
            return None
        g = self._graph(path)
        sel = scene.selected_node_ids()
        a = g.node(sel[0]) if len(sel) == 1 else None
        spec = get_layer(type_name)
        if a is None or a.type == "Output" or spec is None or spec.max_inputs == 0:
            return self.add_layer(type_name)
        nid = new_node_id(g, type_name)
        ax, ay = a.pos if a.pos is not None else (scene.nodes[a.id].pos().x(), scene.nodes[a.id].pos().y())
        step = NODE_H + 30.0
        below = self._descendants(g, a.id)
        moves = {v: (g.node(v).pos[0], g.node(v).pos[1] + step) for v in below
                 if g.node(v).pos is not None and g.node(v).pos[1] > ay}
        edits: list[Any] = [AddNode(path, {"id": nid, "type": type_name, "params": initial_params(type_name), "pos": (ax, ay + step)})]
        if moves:
            edits.insert(0, MoveNodes(path, moves))
        if type_name != "Output":
            for e in list(g.edges_from(a.id)):
                edits += [Disconnect(path, e.src, e.dst, e.port), Connect(path, nid, e.dst, e.port)]
        edits.append(Connect(path, a.id, nid, 0))
        if self._apply(edits, f"Insert {type_name} after {a.label or a.id}") is None and g.node(nid) is None:
            return None
        self._select_later(path, [nid])
        return nid

    @staticmethod
    def _descendants(g: Any, nid: str) -> set[str]:
        seen: set[str] = set()
        stack = [nid]
        while stack:
            for w in g.successors_of(stack.pop()):
                if w not in seen:
                    seen.add(w)
                    stack.append(w)
        return seen

    def open_quick_menu(self, path: str, src: str, pos: QPointF, screen_pos: Any) -> QuickMenu:
        res = self.results.get(path)
        info = res.node(src) if res is not None else None
        shape = info.output_shape if info is not None else None
        menu = QuickMenu(layers_that_fit(shape, info.dtype if info is not None else "float"), shape, self)
        menu.triggered.connect(lambda t: self.add_connected(path, src, t, pos))
        self.quick_menu = menu
        pt = screen_pos.toPoint() if hasattr(screen_pos, "toPoint") else screen_pos
        menu.popup_at(pt)
        return menu

    def add_connected(self, path: str, src: str, type_name: str, pos: QPointF) -> str | None:
        from engine.edits import AddNode, Connect, new_node_id

        g = self._graph(path)
        nid = new_node_id(g, type_name)
        xy = (round(pos.x() - NODE_W / 2, 1), round(pos.y(), 1))
        edits = [AddNode(path, {"id": nid, "type": type_name, "params": initial_params(type_name), "pos": xy}), Connect(path, src, nid, 0)]
        if self._apply(edits, f"Add {type_name} after {src}") is None and g.node(nid) is None:
            return None
        self._select_later(path, [nid])
        return nid

    def apply_fix(self, path: str, nid: str, fix: Any) -> None:
        self._apply(list(fix.edits), f"Fix {nid}: {fix.title}")

    def _param_edited(self, nid: str, name: str, value: Any) -> None:
        path = self.current_path()
        if path is None:
            return
        from engine.edits import UNSET, EditError

        try:
            self.doc.set_param(path, nid, name, UNSET if value is FORM_UNSET else value)
        except (EditError, ValueError) as exc:
            w = self.inspector.field(name)
            if w is not None and hasattr(w, "show_error"):
                w.show_error(str(exc))
            else:
                self.show_message(str(exc))

    def _label_edited(self, nid: str, label: str) -> None:
        path = self.current_path()
        if path is not None:
            self._try(lambda: self.doc.relabel(path, nid, label or None))

    # -- selection, inspector ------------------------------------------------------------------
    def _select_later(self, path: str, ids: list[str]) -> None:
        scene = self.scenes.get(path)
        if scene is not None:
            scene.select_nodes(ids)

    def _selection_changed(self) -> None:
        scene, path = self.current_scene(), self.current_path()
        if scene is None or path is None:
            self.inspector.clear()
            return
        ids = scene.selected_node_ids()
        if len(ids) == 1:
            self._show_in_inspector(path, ids[0])
        elif ids:
            self.inspector.clear(f"{len(ids)} layers selected. Group them into a block (Ctrl+G), copy, "
                                 "duplicate or delete them.")
        else:
            self.inspector.clear()
        self.act_group.setEnabled(len(ids) >= 1)

    def _show_in_inspector(self, path: str, nid: str) -> None:
        g = self._graph(path)
        n = g.node(nid) if g is not None else None
        if n is None:
            self.inspector.clear()
            return
        res = self.results.get(path)
        info = res.node(nid) if res is not None else None
        errors = [e for e in res.errors if e.node == nid] if res is not None else []
        self.inspector.show_node(n, info, errors)

    def _table_clicked(self, index) -> None:
        scene = self.current_scene()
        res = self.results.get(self.current_path() or "")
        if scene is None or res is None or index.row() >= len(res.nodes):
            return
        nid = res.nodes[index.row()].id
        scene.select_nodes([nid])
        if nid in scene.nodes:
            self.current_view().centerOn(scene.nodes[nid])

    def select_all(self) -> None:
        scene = self.current_scene()
        if scene is not None:
            scene.select_nodes(scene.nodes)

    # -- delete, copy, paste, duplicate --------------------------------------------------------
    def delete_selection(self) -> None:
        from engine.edits import Disconnect, RemoveNode

        path, scene = self.current_path(), self.current_scene()
        if scene is None:
            return
        ids = scene.selected_node_ids()
        gone = set(ids)
        edits: list[Any] = [Disconnect(path, a, b, p) for a, b, p in scene.selected_edges()
                            if a not in gone and b not in gone]
        edits += [RemoveNode(path, nid) for nid in ids]
        if edits:
            what = f"{len(ids)} layer{'s' if len(ids) != 1 else ''}" if ids else "connection"
            self._apply(edits, f"Delete {what}")

    def _fragment(self) -> dict | None:
        from engine.edits import fragment_of

        path, scene = self.current_path(), self.current_scene()
        if scene is None or not scene.selected_node_ids():
            return None
        return self._try(lambda: fragment_of(self.doc.project, path, scene.selected_node_ids()))

    def copy_selection(self) -> bool:
        frag = self._fragment()
        if not frag:
            return False
        md = QMimeData()
        text = json.dumps(frag)
        md.setData(FRAGMENT_MIME, text.encode())
        md.setText(text)
        QGuiApplication.clipboard().setMimeData(md)
        self._paste_count = 0
        return True

    def cut_selection(self) -> None:
        if self.copy_selection():
            self.delete_selection()

    def paste(self) -> list[str] | None:
        md = QGuiApplication.clipboard().mimeData()
        text = None
        if md is not None and md.hasFormat(FRAGMENT_MIME):
            text = bytes(md.data(FRAGMENT_MIME)).decode()
        elif md is not None and md.hasText():
            text = md.text()
        try:
            frag = json.loads(text) if text else None
        except ValueError:
            frag = None
        if not isinstance(frag, dict) or not isinstance(frag.get("nodes"), list):
            self.show_message("The clipboard holds no LayerLab layers to paste.")
            return None
        self._paste_count += 1
        return self.paste_fragment(frag)

    def paste_fragment(self, frag: dict, pos: QPointF | None = None, path: str | None = None) -> list[str] | None:
        """Paste a fragment with its top-left at ``pos`` (default: the middle of the view, stepping
        on with each paste so copies do not stack exactly)."""
        path = path or self.current_path()
        if path is None:
            return None
        xs = [n["pos"][0] for n in frag["nodes"] if n.get("pos")]
        ys = [n["pos"][1] for n in frag["nodes"] if n.get("pos")]
        x0, y0 = (min(xs), min(ys)) if xs else (0.0, 0.0)
        if pos is None:
            tx, ty = self._spot_in_view()
            tx, ty = tx + 30.0 * self._paste_count, ty + 30.0 * self._paste_count
        else:
            tx, ty = pos.x(), pos.y()
        ids = self._try(lambda: self.doc.paste(path, frag, (round(tx - x0, 1), round(ty - y0, 1))))
        if ids:
            self._select_later(path, list(ids))
        return ids

    def duplicate_selection(self) -> list[str] | None:
        frag = self._fragment()
        if not frag:
            return None
        xs = [n["pos"][0] for n in frag["nodes"] if n.get("pos")]
        ys = [n["pos"][1] for n in frag["nodes"] if n.get("pos")]
        pos = QPointF(min(xs) + 40, min(ys) + 40) if xs else None
        return self.paste_fragment(frag, pos)

    # -- blocks --------------------------------------------------------------------------------
    def group_selection(self) -> str | None:
        from engine.edits import GroupIntoBlock

        path, scene = self.current_path(), self.current_scene()
        if scene is None or not scene.selected_node_ids():
            return None
        ids = scene.selected_node_ids()
        taken = set(self.doc.project.blocks or {})
        default = next(f"block{i}" for i in range(1, 10_000) if f"block{i}" not in taken)
        name = self.ask_text("Group into block", "Name of the new block:", default)
        if not name:
            return None
        block_id = self._apply(GroupIntoBlock(path, ids, name), f"Group {len(ids)} layers into block {name}")
        if block_id is None:
            return None
        self._select_later(path, [block_id])
        return name

    def open_node(self, path: str, nid: str) -> None:
        g = self._graph(path)
        n = g.node(nid) if g is not None else None
        if n is None or n.type != "Block":
            return
        name = n.params.get("block")
        if self._graph(f"blocks.{name}") is None:
            self.show_message(f"The block {name!r} is not defined in this project.")
            return
        page = self.current_page()
        if page is not None:
            page.open(f"blocks.{name}")

    def save_block_to_palette(self) -> Path | None:
        from engine.edits import fragment_of

        path, scene = self.current_path(), self.current_scene()
        if scene is None:
            return None
        ids = scene.selected_node_ids()
        g = self._graph(path)
        if len(ids) == 1 and g.node(ids[0]).type == "Block":
            # the collapsed node with its definition: dropping it from the palette reuses the block
            frag = self._try(lambda: fragment_of(self.doc.project, path, ids))
            default = str(g.node(ids[0]).params.get("block"))
        elif ids:
            frag = self._fragment()
            default = "my block"
        else:
            self.show_message("Select a block (or some layers) to save it to the palette.")
            return None
        if not frag:
            return None
        name = self.ask_text("Save block to palette", "Name in the palette:", default)
        if not name:
            return None
        try:
            return self.palette.save_user_block(name, frag)
        except (OSError, ValueError) as exc:
            self.show_message(f"Could not save the block: {exc}")
            return None

    # -- layout --------------------------------------------------------------------------------
    def auto_layout(self, direction: str = "TB", path: str | None = None, wait: bool = False) -> None:
        """Lay the graph out; one undo step. Large graphs are laid out on a worker thread."""
        from engine.graph.layout import layout_graph

        path = path or self.current_path()
        g = self._graph(path) if path else None
        if g is None:
            return
        ids = [n.id for n in g.nodes]
        pairs = list(g.edge_pairs())
        if len(ids) <= BIG_GRAPH or wait:
            self._apply_layout(path, layout_graph(ids, pairs, direction))
            return
        self.show_message(f"Arranging {len(ids):,} layers…")

        def work() -> None:
            try:
                pos = layout_graph(ids, pairs, direction)
            except Exception:  # noqa: BLE001 - reported on the Qt thread
                log.exception("auto-layout failed")
                pos = None
            self._layout_signal.done.emit(path, pos)

        threading.Thread(target=work, name="layerlab-layout", daemon=True).start()

    def _apply_layout(self, path: str, pos: Any) -> None:
        if not pos:
            self.show_message("Auto-layout failed; the graph is unchanged.")
            return
        g = self._graph(path)
        if g is None:
            return
        moved = {nid: xy for nid, xy in pos.items() if g.node(nid) is not None and tuple(g.node(nid).pos or ()) != xy}
        if moved:
            self._try(lambda: self.doc.move_nodes(path, moved))
        view = self.current_view()
        if view is not None and self.current_path() == path:
            view.fit()
        self.layoutApplied.emit(path)

    def _ask_text_dialog(self, title: str, label: str, default: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, label, text=default)
        return text.strip() if ok and text.strip() else None
