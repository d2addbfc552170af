"""Project panel: name, task, dataset, a diagram and a read-only model summary (from ``engine.graph.analyze``)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from engine.project import Project
from widgets.graph_diagram import GraphDiagram

from .text import elide


def _shape(s) -> str:
    return "?" if s is None else "×".join(str(d) for d in s) or "scalar"


class ProjectPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.diagram = GraphDiagram()
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Layer", "Output", "Params"])
        self.tree.setRootIsDecorated(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setColumnWidth(0, 140)
        self.tree.setColumnWidth(1, 80)
        self.total = QLabel()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.diagram)
        split.addWidget(self.tree)
        split.setSizes([240, 360])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.header)
        lay.addWidget(split, 1)
        lay.addWidget(self.total)
        self.errors: list[str] = []

    def set_project(self, project: Project | None) -> None:
        self.tree.clear()
        self.errors = []
        self.diagram.set_project(project)
        if project is None:
            self.header.setText("<i>No project</i>")
            self.total.setText("")
            return
        d = project.data
        self.header.setText(
            f"<b style='font-size:12pt'>{_esc(elide(project.name, 60))}</b><br>"
            f"{_esc(project.train.task)} · data: {_esc(d.dataset)}"
            + (f" ({_esc(elide(d.path, 80))})" if d.path else "")
            + (f"<br><span style='color:gray'>{_esc(elide(project.description, 300))}</span>" if project.description else "")
        )
        try:
            from engine.graph import analyze
        except Exception as exc:  # noqa: BLE001 - the compiler may be missing in a partial install
            self.total.setText(f"Model summary unavailable: {exc}")
            return
        grand = 0
        for gpath, g in project.graphs().items():
            top = QTreeWidgetItem([gpath.split(".")[-1], "", ""])
            top.setFirstColumnSpanned(False)
            self.tree.addTopLevelItem(top)
            try:
                res = analyze(g, gpath)
            except Exception as exc:  # noqa: BLE001
                top.setText(1, f"error: {exc}")
                self.errors.append(f"{gpath}: {exc}")
                continue
            for n in res.nodes:
                it = QTreeWidgetItem([n.id, _shape(n.output_shape), f"{n.params:,}"])
                it.setToolTip(0, f"{n.id}: {n.type}")
                it.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                msgs = [str(e.message) for e in res.errors_for(n.id)]
                if msgs:
                    it.setForeground(0, Qt.GlobalColor.red)
                    it.setToolTip(0, "\n".join(msgs))
                top.addChild(it)
            for e in res.errors:
                if e.level == "error":
                    self.errors.append(f"{gpath}: {e}")
            top.setText(2, f"{res.total_params:,}")
            top.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            top.setExpanded(True)
            grand += res.total_params
        text = f"Total parameters: <b>{grand:,}</b>"
        if self.errors:
            text += f"<br><span style='color:#E0393E'>{len(self.errors)} problem(s) in the model</span>"
        self.total.setText(text)
        for c in range(3):
            self.tree.resizeColumnToContents(c)


def _esc(s: str) -> str:
    import html

    return html.escape(str(s))
