"""The per-layer table under the designer (a model, so a 10,000-layer graph costs one reset)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

from widgets.canvas.items import shape_text

HEADERS = ("Layer", "Type", "Output", "Parameters", "MACs")


class LayerTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple[str, str, str, int, int, bool]] = []

    def set_result(self, result: Any, labels: dict[str, str] | None = None) -> None:
        labels = labels or {}
        self.beginResetModel()
        self.rows = [
            (labels.get(n.id) or n.id, n.type, shape_text(n.output_shape), n.params, n.macs, n.connected)
            for n in (getattr(result, "nodes", None) or [])
        ]
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt API
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return HEADERS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        c = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            v = row[c]
            return f"{v:,}" if c >= 3 else v
        if role == Qt.ItemDataRole.TextAlignmentRole and c >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and not row[5]:
            return "not connected to the Output: not built, not counted"
        return None


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover
