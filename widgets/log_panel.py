"""A read-only log view, one line per message, coloured by level, bounded in length."""

from __future__ import annotations

import html
import time

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QPlainTextEdit, QWidget

LEVEL_COLORS = {"debug": "#8a8a8a", "info": None, "warning": "#D98E04", "error": "#E0393E"}


class LogPanel(QPlainTextEdit):
    def __init__(self, parent: QWidget | None = None, max_lines: int = 5000, show_debug: bool = False):
        super().__init__(parent)
        self.show_debug = show_debug  # debug lines (e.g. "TensorBoard export skipped") are counted, not shown
        self.setReadOnly(True)
        self.setMaximumBlockCount(max_lines)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        f = QFont("monospace")
        f.setStyleHint(QFont.StyleHint.Monospace)
        f.setPointSizeF(max(8.0, self.font().pointSizeF() - 0.5))
        self.setFont(f)
        self.counts: dict[str, int] = {}
        # follow the newest line while the reader is at the bottom, also when the panel is resized (the
        # range grows without the value moving, which left the log stuck mid-way after a run); a reader who
        # scrolled up keeps their place
        self._follow = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._scrolled)
        bar.rangeChanged.connect(self._range_changed)

    def _scrolled(self, value: int) -> None:
        self._follow = value >= self.verticalScrollBar().maximum() - 2

    def _range_changed(self, _lo: int, hi: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(hi)

    def add(self, message: str, level: str = "info", t: float | None = None) -> None:
        level = level if level in LEVEL_COLORS else "info"
        self.counts[level] = self.counts.get(level, 0) + 1
        if level == "debug" and not self.show_debug:
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(t if t is not None else time.time()))
        text = html.escape(message).replace("\n", "<br>")
        color = LEVEL_COLORS[level]
        tag = "" if level == "info" else f"{level.upper()}: "
        body = f"{tag}{text}"
        if color:
            body = f'<span style="color:{color}">{body}</span>'
        self.appendHtml(f'<span style="color:#888">{stamp}</span> {body}')
