"""The inspector: a form generated from the selected node's registry entry.

Numbers use the one numeric field (``widgets.fields.NumberField``: reads ``1e-4``, never clamps or
rewrites what was typed, the message under the field); choices are combo boxes, flags check boxes,
sizes and shapes small text editors (``3`` or ``3, 5``; ``1, 28, 28``). Every accepted change is a
``paramEdited(node_id, name, value)`` the designer turns into one undoable ``set_param``; the form
follows the document, so undo shows up here too. Problems the analysis reports for a parameter
(``kernel_size: ...``) appear under that field; the node's other problems at the top.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.layers import get_layer
from widgets.fields import ERROR_COLOR, Limits, NumberField, fmt_number, line_edit_with_message

UNSET = object()  # "remove the key": the parameter goes back to the registry's default


def _esc(s: str) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fmt_sizes(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    return "" if v is None else str(v)


def parse_sizes(text: str, kind: str) -> tuple[Any, str | None]:
    """``"3"`` -> 3, ``"3, 5"`` / ``"3x5"`` / ``"3×5"`` -> [3, 5] (int_or_pair); shapes always give a list."""
    t = text.strip().strip("[]()")
    parts = [p for p in re.split(r"[\s,x×]+", t) if p]
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        return None, "use whole numbers separated by commas, e.g. 1, 28, 28"
    if kind == "int_or_pair":
        if len(vals) == 1:
            return vals[0], None
        if len(vals) == 2:
            return vals, None
        return None, "a whole number, or two for height and width (e.g. 3 or 3, 5)"
    return vals, None


class _SizesField(QWidget):
    """A text field for ``int_or_pair`` and ``shape`` params with its message underneath."""

    committed = Signal(object)

    def __init__(self, param: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.param = param
        self._value: Any = None
        self.edit, self.error_label = line_edit_with_message(
            self, "e.g. 3 or 3, 5" if param.kind == "int_or_pair" else "e.g. 1, 28, 28")
        self.edit.editingFinished.connect(self.commit)

    def setValue(self, v: Any) -> None:  # noqa: N802 - Qt naming
        self._value = v
        cur, msg = parse_sizes(self.edit.text(), self.param.kind)
        if msg is not None or cur != v:
            self.edit.setText(fmt_sizes(v))
        self.clear_error()

    def value(self) -> Any:
        return self._value

    def commit(self) -> bool:
        v, msg = parse_sizes(self.edit.text(), self.param.kind)
        if msg is None:
            msg = self.param.check(v)
        if msg:
            self.show_error(msg)
            return False
        self.clear_error()
        if v != self._value:
            self.committed.emit(v)
        return True

    def commit_text(self, text: str) -> bool:
        self.edit.setText(text)
        return self.commit()

    def show_error(self, msg: str) -> None:
        self.error_label.setText(msg)
        self.error_label.show()

    def clear_error(self) -> None:
        self.error_label.clear()
        self.error_label.hide()

    def error(self) -> str:
        return "" if self.error_label.isHidden() else self.error_label.text()


class Inspector(QWidget):
    paramEdited = Signal(str, str, object)  # node id, param name, value (UNSET: back to the default)
    labelEdited = Signal(str, str)  # node id, label ("" clears it)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("inspector")
        self.setAccessibleName("Layer inspector")
        self.node_id: str | None = None
        self._label = ""
        self.type_name: str | None = None
        self.fields: dict[str, QWidget] = {}
        self.title = QLabel("Select a layer to see and change its settings.")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.problems = QLabel()
        self.problems.setObjectName("nodeProblems")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet(f"color: {ERROR_COLOR};")
        self.problems.hide()
        self.doc_label = QLabel()
        self.doc_label.setWordWrap(True)
        self.doc_label.setStyleSheet("color: palette(placeholder-text);")
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.label_edit = QLineEdit()
        self.label_edit.setObjectName("labelEdit")
        self.label_edit.setPlaceholderText("a name to show on the canvas")
        self.label_edit.editingFinished.connect(self._label_done)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        inner = QWidget()
        il = QVBoxLayout(inner)
        il.setContentsMargins(6, 6, 6, 6)
        il.addWidget(self.title)
        il.addWidget(self.problems)
        il.addWidget(self.form_host)
        il.addWidget(self.doc_label)
        il.addStretch(1)
        scroll.setWidget(inner)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(scroll)
        self.form_host.hide()

    # -- what is shown ----------------------------------------------------------------------
    def clear(self, message: str = "Select a layer to see and change its settings.") -> None:
        self.node_id = self.type_name = None
        self._clear_form()
        self.title.setText(message)
        self.problems.hide()
        self.doc_label.clear()
        self.form_host.hide()

    def _clear_form(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.fields = {}
        self.label_edit = QLineEdit()
        self.label_edit.setObjectName("labelEdit")
        self.label_edit.setPlaceholderText("a name to show on the canvas")
        self.label_edit.editingFinished.connect(self._label_done)

    def show_node(self, node: Any, info: Any = None, errors: list[Any] | None = None) -> None:
        """Show ``node`` (a ``NodeSpec``); rebuild the form only when another node or type is shown,
        otherwise update values in place so typing in progress is not disturbed."""
        spec = get_layer(node.type)
        if node.id != self.node_id or node.type != self.type_name:
            self._build(node, spec)
        self.node_id, self.type_name = node.id, node.type
        if spec is not None:
            values = spec.resolve(node.params)
            for name, w in self.fields.items():
                v = values.get(name)
                if isinstance(w, QCheckBox):
                    w.blockSignals(True)
                    w.setChecked(bool(v))
                    w.blockSignals(False)
                elif isinstance(w, QComboBox):
                    w.blockSignals(True)
                    i = w.findData(v)
                    w.setCurrentIndex(i if i >= 0 else 0)
                    w.blockSignals(False)
                elif isinstance(w, QLineEdit):
                    if not w.hasFocus():
                        w.setText("" if v is None else str(v))
                else:
                    w.setValue(v)
                self._mark_default(name, name not in node.params)
        self._label = node.label or ""
        if not self.label_edit.hasFocus():
            self.label_edit.setText(self._label)
        self._show_info(node, spec, info)
        self.show_problems(errors or [])

    def _show_info(self, node: Any, spec: Any, info: Any) -> None:
        shape = getattr(info, "output_shape", None)
        out = "?" if shape is None else ("×".join(map(str, shape)) or "scalar")
        extra = ""
        if info is not None:
            extra = f" · {info.params:,} parameters · {info.macs:,} MACs"
        self.title.setText(f"<b>{_esc(node.label or node.id)}</b> — {_esc(node.type)} "
                           f"<span style='color:gray'>(id {_esc(node.id)})</span><br>output {out}{extra}")

    def show_problems(self, errors: list[Any]) -> None:
        """Messages naming a parameter go under its field; the rest at the top."""
        per_field: dict[str, str] = {}
        general = []
        for e in errors:
            m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*): (.*)$", e.message)
            if m and m.group(1) in self.fields:
                per_field[m.group(1)] = m.group(2)
            else:
                general.append(("⚠ " if getattr(e, "level", "error") == "warning" else "✖ ") + e.message)
        for name, w in self.fields.items():
            msg = per_field.get(name)
            if hasattr(w, "show_error"):
                if msg:
                    w.show_error(msg)
                elif not (hasattr(w, "error") and w.error() and w.hasFocus()):
                    w.clear_error()
        self.problems.setText("\n".join(general))
        self.problems.setVisible(bool(general))

    # -- building the form -----------------------------------------------------------------
    def _build(self, node: Any, spec: Any) -> None:
        self._clear_form()
        self.form_host.show()
        self.form.addRow("Label", self.label_edit)
        if spec is None:
            self.doc_label.setText(f"Unknown layer type {node.type!r}: it cannot be edited here.")
            return
        self.doc_label.setText(spec.doc)
        for p in spec.params:
            w = self._field_for(node.id, p)
            w.setObjectName(f"param_{p.name}")
            w.setToolTip(p.doc)
            lbl = QLabel(p.name.replace("_", " "))
            lbl.setToolTip(p.doc)
            reset = QToolButton()
            reset.setText("↺")
            reset.setObjectName(f"reset_{p.name}")
            reset.setToolTip(f"Back to the default ({fmt_sizes(p.default) if isinstance(p.default, list) else p.default})")
            reset.setAutoRaise(True)
            reset.clicked.connect(lambda _c=False, n=p.name: self._emit(n, UNSET))
            row = QWidget()
            h = QHBoxLayout(row)
            h.setContentsMargins(0, 0, 0, 0)
            h.addWidget(w, 1)
            h.addWidget(reset, 0, Qt.AlignmentFlag.AlignTop)
            self.form.addRow(lbl, row)
            self.fields[p.name] = w
            w.setProperty("reset_button", reset)

    def _field_for(self, node_id: str, p: Any) -> QWidget:
        if p.kind in ("int", "float"):
            f = NumberField(Limits.from_param(p), validator=p.check)
            f.setHelp(p.doc)
            f.committed.connect(lambda v, n=p.name, field=f: self._number_done(n, v, field))
            return f
        if p.kind == "bool":
            c = QCheckBox()
            c.toggled.connect(lambda v, n=p.name: self._emit(n, bool(v)))
            return c
        if p.kind == "choice":
            cb = QComboBox()
            for ch in p.choices:
                cb.addItem(str(ch), ch)
            cb.activated.connect(lambda i, n=p.name, box=cb: self._emit(n, box.itemData(i)))
            return cb
        if p.kind in ("int_or_pair", "shape"):
            s = _SizesField(p)
            s.committed.connect(lambda v, n=p.name: self._emit(n, v))
            return s
        e = QLineEdit()
        e.editingFinished.connect(lambda n=p.name, ed=e: self._emit(n, ed.text()))
        return e

    def _mark_default(self, name: str, is_default: bool) -> None:
        w = self.fields.get(name)
        reset = w.property("reset_button") if w is not None else None
        if reset is not None:
            reset.setEnabled(not is_default)

    # -- edits -------------------------------------------------------------------------------
    def _number_done(self, name: str, value: Any, field: NumberField) -> None:
        if value != field.value() or type(value) is not type(field.value()):
            self._emit(name, value)

    def _emit(self, name: str, value: Any) -> None:
        if self.node_id is not None:
            self.paramEdited.emit(self.node_id, name, value)

    def _label_done(self) -> None:
        text = self.label_edit.text().strip()
        if self.node_id is not None and text != self._label:
            self._label = text
            self.labelEdited.emit(self.node_id, text)

    def field(self, name: str) -> QWidget | None:
        return self.fields.get(name)

    def field_error(self, name: str) -> str:
        w = self.fields.get(name)
        return w.error() if w is not None and hasattr(w, "error") else ""


__all__ = ["Inspector", "UNSET", "fmt_number", "parse_sizes"]
