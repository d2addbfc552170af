"""The layer palette: every registry layer by category, a search box, the registry's explanation as
the tooltip, drag onto the canvas (mime ``application/x-layerlab-layer``) or double-click to insert
after the selected node; a Blocks section with built-in and the user's saved blocks (fragments)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from engine.layers import CATEGORIES, all_layers
from widgets.canvas.scene import BLOCK_MIME, LAYER_MIME
from widgets.graph_diagram import layer_color

BUILTIN_BLOCKS = Path(__file__).resolve().parents[1] / "resources" / "blocks"
CATEGORY_TITLES = {
    "io": "Input / Output", "core": "Core", "conv": "Convolution & pooling", "recurrent": "Recurrent",
    "attention": "Attention", "merge": "Merge branches",
}
ROLE_KIND = Qt.ItemDataRole.UserRole + 1  # "layer" | "block"
ROLE_PAYLOAD = Qt.ItemDataRole.UserRole + 2  # layer type | fragment JSON text


@dataclass(frozen=True)
class BlockEntry:
    name: str
    description: str
    fragment: dict[str, Any]
    builtin: bool
    path: Path

    def json_text(self) -> str:
        return json.dumps(self.fragment)


def load_blocks(folder: Path, builtin: bool) -> tuple[list[BlockEntry], list[str]]:
    """Every ``*.json`` fragment in ``folder``; files that cannot be read are reported, not fatal."""
    out, problems = [], []
    if not folder.is_dir():
        return out, problems
    for f in sorted(folder.glob("*.json")):
        try:
            frag = json.loads(f.read_text(encoding="utf-8"))
            if not isinstance(frag, dict) or not isinstance(frag.get("nodes"), list):
                raise ValueError("not a block fragment (no 'nodes' list)")
        except (OSError, ValueError) as exc:
            problems.append(f"{f.name}: {exc}")
            continue
        out.append(BlockEntry(str(frag.get("name") or f.stem), str(frag.get("description", "")), frag, builtin, f))
    return out, problems


def layer_tooltip(spec: Any) -> str:
    rows = []
    for p in spec.params:
        rng = ""
        if p.min is not None or p.max is not None:
            rng = f" [{'' if p.min is None else _n(p.min)}…{'' if p.max is None else _n(p.max)}]"
        if p.choices:
            rng = " (" + ", ".join(map(str, p.choices)) + ")"
        rows.append(f"<li><b>{p.name}</b> = {json.dumps(p.default)}{rng}: {_esc(p.doc)}</li>")
    ins = "any number of inputs" if spec.max_inputs is None else (
        "no inputs" if spec.max_inputs == 0 else f"{spec.max_inputs} input" + ("s" if spec.max_inputs > 1 else ""))
    params = f"<ul style='margin:0'>{''.join(rows)}</ul>" if rows else "<i>no parameters</i>"
    return (f"<p style='white-space:pre-wrap; max-width:420px'><b>{spec.type}</b> — {ins}<br>{_esc(spec.doc)}</p>"
            f"{params}")


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _esc(s: str) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _swatch(color: QColor):
    from PySide6.QtGui import QIcon

    pm = QPixmap(12, 12)
    pm.fill(color)
    return QIcon(pm)


class _Tree(QTreeWidget):
    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:  # noqa: N802 - Qt API
        md = QMimeData()
        for it in items:
            kind, payload = it.data(0, ROLE_KIND), it.data(0, ROLE_PAYLOAD)
            if kind == "layer":
                md.setData(LAYER_MIME, payload.encode())
                md.setText(payload)
            elif kind == "block":
                md.setData(BLOCK_MIME, payload.encode())
        return md

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt API
        return [LAYER_MIME, BLOCK_MIME]


class Palette(QWidget):
    layerActivated = Signal(str)  # double-click / Enter on a layer
    blockActivated = Signal(str)  # ... on a block (its fragment JSON)

    def __init__(self, user_blocks_dir: Path | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("palette")
        self.setAccessibleName("Layer palette")
        self.user_blocks_dir = user_blocks_dir
        self.problems: list[str] = []
        self.search = QLineEdit()
        self.search.setObjectName("paletteSearch")
        self.search.setPlaceholderText("Search layers…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._activate_first)
        self.tree = _Tree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QTreeWidget.DragDropMode.DragOnly)
        self.tree.setRootIsDecorated(True)
        self.tree.itemActivated.connect(self._activated)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.search)
        lay.addWidget(self.tree, 1)
        self.blocks: list[BlockEntry] = []
        self.rebuild()

    def rebuild(self) -> None:
        self.tree.clear()
        cats: dict[str, QTreeWidgetItem] = {}
        for c in CATEGORIES:
            if c != "blocks":
                cats[c] = QTreeWidgetItem(self.tree, [CATEGORY_TITLES.get(c, c)])
        for spec in all_layers():
            if spec.type == "Block":  # a Block needs a definition: the Blocks section holds those
                continue
            parent = cats.get(spec.category)
            if parent is None:
                parent = cats[spec.category] = QTreeWidgetItem(self.tree, [CATEGORY_TITLES.get(spec.category, spec.category)])
            it = QTreeWidgetItem(parent, [spec.type])
            it.setData(0, ROLE_KIND, "layer")
            it.setData(0, ROLE_PAYLOAD, spec.type)
            it.setToolTip(0, layer_tooltip(spec))
            it.setIcon(0, _swatch(layer_color(spec.type)))
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsDragEnabled)
        for parent in cats.values():
            parent.setFlags(parent.flags() & ~Qt.ItemFlag.ItemIsDragEnabled)
        builtin, p1 = load_blocks(BUILTIN_BLOCKS, True)
        user, p2 = load_blocks(self.user_blocks_dir, False) if self.user_blocks_dir else ([], [])
        self.problems = p1 + p2
        self.blocks = builtin + user
        bl = QTreeWidgetItem(self.tree, ["Blocks"])
        bl.setFlags(bl.flags() & ~Qt.ItemFlag.ItemIsDragEnabled)
        for b in self.blocks:
            it = QTreeWidgetItem(bl, [b.name if b.builtin else f"{b.name} (mine)"])
            it.setData(0, ROLE_KIND, "block")
            it.setData(0, ROLE_PAYLOAD, b.json_text())
            types = ", ".join(n.get("type", "?") for n in b.fragment.get("nodes", []))
            it.setToolTip(0, f"<p style='max-width:420px'><b>{_esc(b.name)}</b><br>{_esc(b.description)}"
                             f"<br><i>{_esc(types)}</i></p>")
            it.setIcon(0, _swatch(QColor("#7f8c8d")))
        self.tree.expandAll()
        self.filter(self.search.text())

    def filter(self, text: str) -> None:
        t = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            cat = self.tree.topLevelItem(i)
            shown = 0
            for j in range(cat.childCount()):
                it = cat.child(j)
                hay = (it.text(0) + " " + (it.toolTip(0) if t and len(t) > 2 else "")).lower()
                ok = not t or t in it.text(0).lower() or (len(t) > 2 and t in hay)
                it.setHidden(not ok)
                shown += ok
            cat.setHidden(shown == 0)
            if t:
                cat.setExpanded(True)

    def visible_entries(self) -> list[QTreeWidgetItem]:
        out = []
        for i in range(self.tree.topLevelItemCount()):
            cat = self.tree.topLevelItem(i)
            if cat.isHidden():
                continue
            out.extend(cat.child(j) for j in range(cat.childCount()) if not cat.child(j).isHidden())
        return out

    def find_item(self, name: str) -> QTreeWidgetItem | None:
        for i in range(self.tree.topLevelItemCount()):
            cat = self.tree.topLevelItem(i)
            for j in range(cat.childCount()):
                it = cat.child(j)
                if it.text(0) == name or it.data(0, ROLE_PAYLOAD) == name:
                    return it
        return None

    def _activate_first(self) -> None:
        items = self.visible_entries()
        if items:
            self._activated(items[0], 0)

    def _activated(self, item: QTreeWidgetItem, _col: int) -> None:
        kind = item.data(0, ROLE_KIND)
        if kind == "layer":
            self.layerActivated.emit(item.data(0, ROLE_PAYLOAD))
        elif kind == "block":
            self.blockActivated.emit(item.data(0, ROLE_PAYLOAD))

    def save_user_block(self, name: str, fragment: dict[str, Any]) -> Path:
        """Write ``fragment`` as ``<user blocks>/<safe name>.json`` (atomic) and show it in the palette."""
        if self.user_blocks_dir is None:
            raise ValueError("no folder for your blocks is set")
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name).strip("_") or "block"
        self.user_blocks_dir.mkdir(parents=True, exist_ok=True)
        target = self.user_blocks_dir / f"{safe}.json"
        from engine.fsutil import atomic_write_text

        atomic_write_text(target, json.dumps({**fragment, "name": name}, indent=2) + "\n")
        self.rebuild()
        return target
