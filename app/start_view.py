"""The Start tab: what to do next, with buttons that do it (a template, an empty project, a file, the
Designer or Data view when the window has them)."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.templates import list_templates

from . import settings as st
from .layout import page_of

# views built elsewhere, found by object name first and tab text second (see find_tab)
DESIGNER_TAB = ("designerView", "Designer")
DATA_TAB = ("dataView", "Data")


def find_tab(tabs: QTabWidget, object_name: str, text: str) -> int:
    """Index of the tab whose page has ``object_name`` (or whose title is ``text``); -1 if none."""
    for i in range(tabs.count()):
        if object_name in (tabs.widget(i).objectName(), getattr(page_of(tabs.widget(i)), "objectName", str)()):
            return i
    for i in range(tabs.count()):
        if tabs.tabText(i).replace("&", "") == text:
            return i
    return -1


def show_at_start() -> bool:
    v = st.settings().value("start/show", True)
    return v if isinstance(v, bool) else str(v).lower() not in ("false", "0")


def set_show_at_start(on: bool) -> None:
    s = st.settings()
    s.setValue("start/show", bool(on))
    s.sync()


def _card(title: str, text: str) -> tuple[QFrame, QVBoxLayout]:
    box = QFrame()
    box.setFrameShape(QFrame.Shape.StyledPanel)
    lay = QVBoxLayout(box)
    head = QLabel(f"<b style='font-size:12pt'>{html.escape(title)}</b>")
    body = QLabel(text)
    body.setWordWrap(True)
    lay.addWidget(head)
    lay.addWidget(body)
    return box, lay


class StartView(QWidget):
    """``new_from_template(name) -> bool``, ``new_empty() -> bool``, ``open_dialog() -> bool`` and
    ``open_path(path) -> bool`` are the window's own actions; ``tabs`` is where the other views live."""

    templateChosen = Signal(str)

    def __init__(self, tabs: QTabWidget, *, new_from_template: Callable[[str], bool], new_empty: Callable[[], bool],
                 open_dialog: Callable[[], bool], open_path: Callable[[str], bool], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("startView")
        self.tabs = tabs
        self._new_from_template, self._new_empty = new_from_template, new_empty
        self._open_dialog, self._open_path = open_dialog, open_path

        intro = QLabel("<h2>Welcome to LayerLab</h2><p>Build a neural network, train it on data and watch it "
                       "learn. Pick one of the steps below; F1 explains whichever view you are in, and "
                       "Help ▸ Glossary explains every metric.</p>")
        intro.setWordWrap(True)

        t_box, t_lay = _card("1. Start from a template",
                             "A complete, working project (network, data and training settings) you can train "
                             "at once and then change.")
        self.template_list = QListWidget()
        self.template_list.setObjectName("startTemplates")
        for t in list_templates():
            it = QListWidgetItem(f"{t.title}  ·  {t.task}")
            it.setData(Qt.ItemDataRole.UserRole, t.name)
            it.setToolTip(t.description)
            self.template_list.addItem(it)
        self.template_list.setCurrentRow(0)
        self.template_list.setMinimumHeight(120)
        self.template_list.itemDoubleClicked.connect(lambda _it: self.open_template())
        self.template_desc = QLabel()
        self.template_desc.setWordWrap(True)
        self.template_list.currentItemChanged.connect(lambda it, _p: self.template_desc.setText(
            it.toolTip() if it is not None else ""))
        if self.template_list.currentItem() is not None:
            self.template_desc.setText(self.template_list.currentItem().toolTip())
        self.template_btn = QPushButton("Open this template and train it")
        self.template_btn.clicked.connect(self.open_template)
        t_lay.addWidget(self.template_list, 1)
        t_lay.addWidget(self.template_desc)
        t_lay.addWidget(self.template_btn)

        b_box, b_lay = _card("2. Build a network",
                             "Start from an empty model and add layers yourself, or change a template's network.")
        self.empty_btn = QPushButton("New empty project")
        self.empty_btn.clicked.connect(self.new_empty)
        self.designer_btn = QPushButton("Open the Designer")
        self.designer_btn.clicked.connect(lambda: self.go_to(*DESIGNER_TAB))
        b_lay.addWidget(self.empty_btn)
        b_lay.addWidget(self.designer_btn)
        b_lay.addStretch(1)

        d_box, d_lay = _card("3. Choose the data", "See what the model learns from: thumbnails, classes, the "
                             "validation split and augmentation.")
        self.data_btn = QPushButton("Open the Data view")
        self.data_btn.clicked.connect(lambda: self.go_to(*DATA_TAB))
        self.data_missing = QLabel("<i>Projects from templates come with their data: most use <b>digits</b>, "
                                   "5,000 handwritten digits (28×28, bundled with LayerLab).</i>")
        self.data_missing.setWordWrap(True)
        d_lay.addWidget(self.data_btn)
        d_lay.addWidget(self.data_missing)
        d_lay.addStretch(1)

        o_box, o_lay = _card("Or open a project", "A project file (.json) you saved before.")
        self.open_btn = QPushButton("Open a project…")
        self.open_btn.clicked.connect(lambda: self._open_dialog())
        self.recent_list = QListWidget()
        self.recent_list.setObjectName("startRecent")
        self.recent_list.setMaximumHeight(110)
        self.recent_list.itemActivated.connect(lambda it: self._open_path(it.data(Qt.ItemDataRole.UserRole)))
        o_lay.addWidget(self.open_btn)
        o_lay.addWidget(self.recent_list)

        self.show_check = QCheckBox("Show this page when LayerLab starts")
        self.show_check.setChecked(show_at_start())
        self.show_check.toggled.connect(set_show_at_start)

        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(12)
        grid.addWidget(t_box, 0, 0, 2, 1)
        grid.addWidget(b_box, 0, 1)
        grid.addWidget(d_box, 1, 1)
        grid.addWidget(o_box, 2, 0, 1, 2)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)

        inner = QWidget()
        il = QVBoxLayout(inner)
        il.addWidget(intro)
        il.addLayout(grid, 1)
        row = QHBoxLayout()
        row.addWidget(self.show_check)
        row.addStretch(1)
        il.addLayout(row)
        inner.setMaximumWidth(1100)
        scroll = QScrollArea()  # small windows scroll instead of squeezing the cards
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(inner)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(scroll)
        self.refresh()

    # -- state -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Show the buttons for views the window has now, and the recent files."""
        has_designer = find_tab(self.tabs, *DESIGNER_TAB) >= 0
        has_data = find_tab(self.tabs, *DATA_TAB) >= 0
        self.designer_btn.setVisible(has_designer)
        self.data_btn.setVisible(has_data)
        self.data_missing.setVisible(not has_data)
        self.recent_list.clear()
        for path in st.recent_files():
            it = QListWidgetItem(Path(path).name)
            it.setToolTip(path)
            it.setData(Qt.ItemDataRole.UserRole, path)
            self.recent_list.addItem(it)
        self.recent_list.setVisible(self.recent_list.count() > 0)

    def showEvent(self, ev) -> None:  # noqa: N802 - Qt API
        self.refresh()
        super().showEvent(ev)

    # -- actions ---------------------------------------------------------------------------
    def go_to(self, object_name: str, text: str) -> bool:
        i = find_tab(self.tabs, object_name, text)
        if i < 0:
            return False
        self.tabs.setCurrentIndex(i)
        return True

    def open_template(self) -> bool:
        it = self.template_list.currentItem()
        if it is None:
            return False
        name = it.data(Qt.ItemDataRole.UserRole)
        if not self._new_from_template(name):
            return False
        self.templateChosen.emit(name)
        self._after_new()
        return True

    def new_empty(self) -> bool:
        if not self._new_empty():
            return False
        if not self.go_to(*DESIGNER_TAB):
            self._after_new()
        return True

    def _after_new(self) -> None:
        """A new project: on to the Train view (where a template can be trained at once)."""
        for i in range(self.tabs.count()):
            if self.tabs.tabText(i).replace("&", "") == "Train":
                self.tabs.setCurrentIndex(i)
                return
