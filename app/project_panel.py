"""Project panel: name, task, dataset, a diagram and a read-only model summary (from ``engine.graph.analyze``)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine import glossary
from engine.layers import get_layer
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
        hdr = self.tree.headerItem()
        hdr.setToolTip(0, "Each layer (node) of the model; hover one for what it does")
        hdr.setToolTip(1, glossary.tooltip("shape"))
        hdr.setToolTip(2, glossary.tooltip("params"))
        self.tree.setRootIsDecorated(True)
        self.tree.setAlternatingRowColors(True)
        # Layer takes what is left and elides; Output and Params always fit their contents, so a narrow
        # panel never hides the Params column (a stored narrow width used to, for good)
        head = self.tree.header()
        head.setStretchLastSection(False)
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        head.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        head.setMinimumSectionSize(36)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.tree.setIndentation(12)
        self.setMinimumWidth(240)
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

    def set_project(self, project: Project | None, results: dict | None = None) -> None:
        """Show ``project``; ``results`` are the AnalysisService's (the studio passes them, so an edit is
        analysed once, not once per view); without them the panel analyses the project itself."""
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
        if results is None:
            try:
                from engine.graph import analyze_project

                results = analyze_project(project)  # graph rules and the model against its data, one place
            except Exception as exc:  # noqa: BLE001 - the compiler may be missing in a partial install
                self.total.setText(f"Model summary unavailable: {exc}")
                return
        grand = 0
        for gpath in project.graphs():
            top = QTreeWidgetItem([gpath.split(".")[-1], "", ""])
            top.setFirstColumnSpanned(False)
            self.tree.addTopLevelItem(top)
            res = results.get(gpath)
            if res is None:
                continue
            for n in res.nodes:
                it = QTreeWidgetItem([n.id, _shape(n.output_shape), f"{n.params:,}"])
                it.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                msgs = [str(e.message) for e in res.errors_for(n.id)]
                if msgs:
                    it.setForeground(0, Qt.GlobalColor.red)
                it.setToolTip(0, layer_tooltip(n.id, n.type, msgs))
                it.setToolTip(1, f"{n.id} produces {_shape(n.output_shape)} per sample. {GLOSSARY_SHAPE}")
                it.setToolTip(2, f"{n.params:,} learnable parameters, {n.macs:,} MACs per sample")
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


GLOSSARY_SHAPE = glossary.tooltip("shape")


def layer_tooltip(node_id: str, type_name: str, problems: list[str] | None = None) -> str:
    """Rich text: the node, its layer type, the registry's explanation of it, and its problems."""
    spec = get_layer(type_name)
    doc = spec.doc if spec is not None else "(unknown layer type)"
    out = f"<p><b>{_esc(node_id)}</b>: {_esc(type_name)}</p><p>{_esc(doc)}</p>"
    if problems:
        out += "".join(f"<p style='color:#E0393E'>{_esc(m)}</p>" for m in problems)
    return out


def _esc(s: str) -> str:
    import html

    return html.escape(str(s), quote=False)
