"""New project: a grid of templates, each with a small diagram of its graph(s) and one line of text."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.project import ProjectError
from engine.templates import TemplateInfo, list_templates, load_template
from widgets.graph_diagram import render_diagram

ICON = QSize(150, 230)


class TemplatePicker(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("New project from a template")
        self.templates: list[TemplateInfo] = list_templates()
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(ICON)
        self.list.setGridSize(QSize(ICON.width() + 48, ICON.height() + 46))
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setMovement(QListWidget.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setSpacing(6)
        dark = self.palette().window().color().lightness() < 128
        for t in self.templates:
            item = QListWidgetItem(t.title)
            item.setData(Qt.ItemDataRole.UserRole, t.name)
            item.setToolTip(f"{t.title} — {t.task}\n{t.description}")
            try:
                pix = render_diagram(load_template(t.name), ICON, dark)
                icon = QIcon(pix)
                icon.addPixmap(pix, QIcon.Mode.Selected)  # no selection tint over the colours
                item.setIcon(icon)
            except ProjectError as exc:  # a broken template is listed but cannot be chosen
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(f"This template cannot be loaded: {exc}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            self.list.addItem(item)
        self.desc = QLabel()
        self.desc.setWordWrap(True)
        self.desc.setMinimumHeight(40)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.list.currentRowChanged.connect(self._row_changed)
        self.list.itemDoubleClicked.connect(lambda _i: self.accept())
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("<b>Start from a template</b> — every template is a complete, trainable project."))
        lay.addWidget(self.list, 1)
        lay.addWidget(self.desc)
        lay.addWidget(self.buttons)
        self.resize(940, 700)
        for i in range(self.list.count()):
            if self.list.item(i).flags() & Qt.ItemFlag.ItemIsEnabled:
                self.list.setCurrentRow(i)
                break
        self._row_changed(self.list.currentRow())

    def _row_changed(self, row: int) -> None:
        ok = 0 <= row < len(self.templates)
        if ok:
            t = self.templates[row]
            self.desc.setText(f"<b>{t.title}</b> <i>({t.task})</i><br>{t.description}")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def select(self, name: str) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(i)
