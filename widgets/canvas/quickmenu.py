"""The quick menu for a dangling connection (after Orange's ``orangecanvas/document/quickmenu.py``):
a search box over the layers that accept what the connection carries; Enter or a click picks one."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from engine.layers import ShapeError, all_layers

from .items import shape_text


def layers_that_fit(shape: tuple[int, ...] | None, dtype: str | None = "float") -> list[Any]:
    """Registry layers whose default parameters accept one input of ``shape`` (all one-input layers
    when the shape is unknown). Merge layers fit anything: their other inputs are still to come."""
    out = []
    for spec in all_layers():
        if spec.max_inputs == 0:
            continue
        if spec.max_inputs is None:
            out.append(spec)
            continue
        if spec.min_inputs > 1:
            continue
        if shape is None:
            out.append(spec)
            continue
        if spec.in_dtype not in ("any", dtype or "float"):
            continue
        try:
            spec.infer([tuple(shape)], spec.resolve({}))
        except ShapeError:
            continue
        except Exception:  # noqa: BLE001 - a registry bug must not hide the menu
            continue
        out.append(spec)
    return out


class QuickMenu(QFrame):
    """A popup list with a search box; ``triggered(type)`` when the user picks a layer."""

    triggered = Signal(str)

    def __init__(self, specs: list[Any], shape: tuple[int, ...] | None = None, parent=None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("quickMenu")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(f"Add a layer for {shape_text(shape)}" if shape is not None else "Add a layer")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search…")
        self.search.setObjectName("quickMenuSearch")
        self.list = QListWidget()
        self.list.setObjectName("quickMenuList")
        for s in specs:
            it = QListWidgetItem(f"{s.type}   ·  {s.category}")
            it.setData(Qt.ItemDataRole.UserRole, s.type)
            it.setToolTip(s.doc)
            self.list.addItem(it)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.title)
        lay.addWidget(self.search)
        lay.addWidget(self.list)
        self.resize(260, 320)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._pick_current)
        self.list.itemActivated.connect(self._pick)
        self.list.itemClicked.connect(self._pick)
        self._filter("")

    def types(self) -> list[str]:
        items = [self.list.item(i) for i in range(self.list.count())]
        return [it.data(Qt.ItemDataRole.UserRole) for it in items if not it.isHidden()]

    def _filter(self, text: str) -> None:
        t = text.strip().lower()
        by_name, by_doc = [], []
        for i in range(self.list.count()):
            it = self.list.item(i)
            name_hit = not t or t in it.text().lower()
            hide = not name_hit and t not in it.toolTip().lower()
            it.setHidden(hide)
            if not hide:
                (by_name if name_hit else by_doc).append(it)
        # name matches first, then layers whose explanation mentions the word
        for row, it in enumerate(by_name + by_doc):
            self.list.takeItem(self.list.row(it))
            self.list.insertItem(row, it)
        if by_name or by_doc:
            self.list.setCurrentItem((by_name + by_doc)[0])

    def _pick_current(self) -> None:
        it = self.list.currentItem()
        if it is not None and not it.isHidden():
            self._pick(it)

    def _pick(self, it: QListWidgetItem) -> None:
        self.triggered.emit(it.data(Qt.ItemDataRole.UserRole))
        self.close()

    def popup_at(self, pos: QPoint) -> None:
        self.move(pos)
        self.show()
        self.search.setFocus()
