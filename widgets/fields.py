"""One numeric field for every form: it reads what people type (``1e-4``, ``0.0001``, ``3e-4``, ``12``),
refuses what it cannot use with a message under the field, never rewrites what the user typed, and
commits on Enter or focus-out by emitting :attr:`NumberField.committed` with the parsed value.

The limits come from the document's own validation: :func:`limits_for` reads the pydantic ``Field``
constraints (``gt``/``ge``/``lt``/``le``) of ``engine.project`` models by path, and
:meth:`Limits.from_param` reads a layer registry ``Param`` (so the inspector shares this widget). A
``validator`` callable can add any other rule; whatever the document itself still refuses is shown
with :meth:`NumberField.show_error`.

Why not QSpinBox/QDoubleSpinBox: they clamp and round silently (``1e-4`` typed into a 6-decimal box
became 1.0 before this widget, ``-5`` epochs became 5), which is exactly what a form must not do.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QLabel, QLineEdit, QSizePolicy, QVBoxLayout, QWidget

Number = int | float
Validator = Callable[[Any], "str | None"]

ERROR_COLOR = "#E0393E"


def fmt_number(v: Any) -> str:
    """The shortest text that reads back as exactly ``v`` (``0.0001``, ``1e-05``, ``64``)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    return repr(float(v))  # Python's shortest round-trip form


@dataclass(frozen=True)
class Limits:
    """What a numeric field accepts. ``gt``/``ge``/``lt``/``le`` as in pydantic; ``kind`` int or float;
    ``optional``: an empty field means None."""

    kind: type = float
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    optional: bool = False

    @classmethod
    def from_param(cls, param: Any) -> Limits:
        """From a layer registry ``Param`` (``kind`` "int"/"float", inclusive ``min``/``max``)."""
        return cls(kind=int if getattr(param, "kind", "float") == "int" else float,
                   ge=getattr(param, "min", None), le=getattr(param, "max", None))

    def check(self, v: Number) -> str | None:
        """A plain message when ``v`` is out of range, else None."""
        if self.gt is not None and not v > self.gt:
            return f"must be greater than {fmt_number(self.gt)}" + (" (try 1 or more)" if self.kind is int and self.gt == 0 else "")
        if self.ge is not None and not v >= self.ge:
            return f"must be at least {fmt_number(self.ge)}"
        if self.lt is not None and not v < self.lt:
            return f"must be less than {fmt_number(self.lt)}"
        if self.le is not None and not v <= self.le:
            return f"must be at most {fmt_number(self.le)}"
        return None

    def describe(self) -> str:
        """The range in words, for tooltips: "> 0 and ≤ 10", "a whole number ≥ 1"."""
        parts = []
        if self.gt is not None:
            parts.append(f"> {fmt_number(self.gt)}")
        if self.ge is not None:
            parts.append(f"≥ {fmt_number(self.ge)}")
        if self.lt is not None:
            parts.append(f"< {fmt_number(self.lt)}")
        if self.le is not None:
            parts.append(f"≤ {fmt_number(self.le)}")
        what = "a whole number" if self.kind is int else "a number (1e-4 and 0.0001 both work)"
        rng = " and ".join(parts)
        return what + (f", {rng}" if rng else "") + ("; empty for none" if self.optional else "")


def _unwrap(ann: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); ``X`` -> (X, False)."""
    origin = typing.get_origin(ann)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        return (args[0] if len(args) == 1 else ann), len(args) < len(typing.get_args(ann))
    return ann, False


def limits_for(model_cls: Any, path: str) -> Limits:
    """The constraints pydantic enforces on ``path`` (dotted, e.g. ``train.gan.g_optimizer.lr``) of
    ``model_cls`` (e.g. ``engine.project.Project``), read from its ``Field(gt=..., le=...)``."""
    cls = model_cls
    *parents, last = path.split(".")
    for part in parents:
        ann, _ = _unwrap(cls.model_fields[part].annotation)
        cls = ann
    info = cls.model_fields[last]
    ann, optional = _unwrap(info.annotation)
    kw: dict[str, Any] = {}
    for m in info.metadata:
        for key in ("gt", "ge", "lt", "le"):
            val = getattr(m, key, None)
            if val is not None:
                kw[key] = val
    return Limits(kind=int if ann is int else float, optional=optional, **kw)


def parse_number(text: str, limits: Limits, validator: Validator | None = None) -> tuple[Any, str | None]:
    """``(value, None)`` for acceptable text, ``(None, message)`` otherwise. Never clamps or rounds."""
    t = text.strip().replace("_", "")
    if not t:
        if limits.optional:
            return None, None
        return None, "enter a number"
    try:
        v = float(t)
    except ValueError:
        return None, f"not a number: {text.strip()!r}" + (" (use . for decimals)" if "," in t else "")
    if not math.isfinite(v):
        return None, "must be a finite number"
    if limits.kind is int:
        if not v.is_integer():
            return None, f"must be a whole number (got {text.strip()})"
        v = int(v)
    msg = limits.check(v)
    if msg is None and validator is not None:
        msg = validator(v)
    if msg:
        return None, msg
    return v, None


def line_edit_with_message(owner: QWidget, placeholder: str = "") -> tuple[QLineEdit, QLabel]:
    """The look every form field shares: a line edit with its (hidden) error message under it."""
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    label = QLabel("")
    label.setObjectName("fieldError")
    label.setStyleSheet(f"color: {ERROR_COLOR};")
    label.setWordWrap(True)
    label.hide()
    lay = QVBoxLayout(owner)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(2)
    lay.addWidget(edit)
    lay.addWidget(label)
    owner.setFocusProxy(edit)
    return edit, label


class NumberField(QWidget):
    """A line edit for one number with its message underneath. ``committed(value)`` fires on Enter or
    focus-out with a value that passed the limits; :meth:`setValue` (the document speaking) never
    emits. Escape puts back the last value the document held."""

    committed = Signal(object)  # int | float | None
    refused = Signal(str)  # the message shown for text that was not accepted

    def __init__(self, limits: Limits | None = None, *, validator: Validator | None = None,
                 placeholder: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.limits = limits or Limits()
        self.validator = validator
        self._value: Any = None  # what the document holds (last setValue or accepted commit)
        self.edit, self.error_label = line_edit_with_message(self, placeholder)
        self.edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.edit.returnPressed.connect(self.commit)
        self.edit.installEventFilter(self)
        self._update_tooltip()

    # -- configuration ---------------------------------------------------------------------
    def set_limits(self, limits: Limits, validator: Validator | None = None) -> None:
        self.limits = limits
        self.validator = validator
        self._update_tooltip()

    def _update_tooltip(self, extra: str = "") -> None:
        self.edit.setToolTip((extra + "\n\n" if extra else "") + "Accepts " + self.limits.describe()
                             + ". Enter or leaving the field applies it; Esc undoes your typing.")

    def setHelp(self, text: str) -> None:  # noqa: N802 - Qt naming, like setToolTip
        self._update_tooltip(text)

    # -- value -----------------------------------------------------------------------------
    def value(self) -> Any:
        return self._value

    def text(self) -> str:
        return self.edit.text()

    def setValue(self, v: Any) -> None:  # noqa: N802 - Qt naming
        """Show the document's value. Text the user typed that already reads as ``v`` is kept as typed
        (``1e-4`` stays ``1e-4``, not ``0.0001``); a shown message is cleared."""
        self._value = v
        cur, msg = parse_number(self.edit.text(), Limits(kind=self.limits.kind, optional=True))
        if msg is not None or cur != v or (cur is None) != (v is None):
            self.edit.setText(fmt_number(v))
        self.clear_error()

    def commit(self) -> bool:
        """Apply the typed text: emit ``committed`` if acceptable, else show why (the text stays)."""
        v, msg = parse_number(self.edit.text(), self.limits, self.validator)
        if msg is not None:
            self.show_error(msg)
            self.refused.emit(msg)
            return False
        self.clear_error()
        self.committed.emit(v)
        return True

    def commit_text(self, text: str) -> bool:
        """Type ``text`` and press Enter, in one call (scripts, tests, the undo-free paths)."""
        self.edit.setText(text)
        return self.commit()

    def revert(self) -> None:
        self.edit.setText(fmt_number(self._value))
        self.clear_error()

    # -- messages --------------------------------------------------------------------------
    def show_error(self, msg: str) -> None:
        self.error_label.setText(msg)
        self.error_label.show()
        self.edit.setStyleSheet(f"QLineEdit {{ border: 1px solid {ERROR_COLOR}; }}")
        self.edit.setAccessibleDescription(msg)

    def clear_error(self) -> None:
        if self.error_label.isHidden() and not self.edit.styleSheet():
            return
        self.error_label.clear()
        self.error_label.hide()
        self.edit.setStyleSheet("")
        self.edit.setAccessibleDescription("")

    def error(self) -> str:
        """The message shown now ("" when none)."""
        return "" if self.error_label.isHidden() else self.error_label.text()

    # -- events ----------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is self.edit:
            if ev.type() == QEvent.Type.FocusOut and self.edit.isEnabled():
                if self.edit.text() != fmt_number(self._value) or self.error():
                    self.commit()
            elif ev.type() == QEvent.Type.KeyPress and ev.key() == Qt.Key.Key_Escape:
                self.revert()
                return True
        return super().eventFilter(obj, ev)
