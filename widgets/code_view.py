"""A read-only, syntax-highlighted view of the current graph's PyTorch source, with Copy."""

from __future__ import annotations

import keyword

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase, QGuiApplication, QSyntaxHighlighter, QTextCharFormat
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget


def _fmt(color: str, bold: bool = False, italic: bool = False) -> QTextCharFormat:
    f = QTextCharFormat()
    f.setForeground(QColor(color))
    if bold:
        f.setFontWeight(QFont.Weight.Bold)
    f.setFontItalic(italic)
    return f


class PythonHighlighter(QSyntaxHighlighter):
    """Keywords, builtins, numbers, strings, comments and decorators (line by line; triple-quoted
    strings are tracked across lines with the block state)."""

    def __init__(self, document, dark: bool = False):
        super().__init__(document)
        kw = _fmt("#c678dd" if dark else "#7c3aed", bold=True)
        self.rules = [
            (QRegularExpression(r"\b(" + "|".join(keyword.kwlist) + r")\b"), kw),
            (QRegularExpression(r"\b(self|super|True|False|None)\b"), _fmt("#e5c07b" if dark else "#b45309")),
            (QRegularExpression(r"\b(nn|torch|F)\b"), _fmt("#61afef" if dark else "#1d4ed8")),
            (QRegularExpression(r"\b[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?\b"), _fmt("#d19a66" if dark else "#b91c1c")),
            (QRegularExpression(r"@[A-Za-z_][A-Za-z0-9_.]*"), _fmt("#56b6c2" if dark else "#0e7490")),
            (QRegularExpression(r"(?<=def )[A-Za-z_][A-Za-z0-9_]*"), _fmt("#61afef" if dark else "#1d4ed8", bold=True)),
            (QRegularExpression(r"(?<=class )[A-Za-z_][A-Za-z0-9_]*"), _fmt("#e5c07b" if dark else "#92400e", bold=True)),
        ]
        self.string = _fmt("#98c379" if dark else "#15803d")
        self.comment = _fmt("#7f848e" if dark else "#6b7280", italic=True)

    def highlightBlock(self, text: str) -> None:  # noqa: N802 - Qt API
        for rx, f in self.rules:
            it = rx.globalMatch(text)
            while it.hasNext():
                m = it.next()
                self.setFormat(m.capturedStart(), m.capturedLength(), f)
        self.setCurrentBlockState(0)
        n, i = len(text), 0
        if self.previousBlockState() == 1:  # inside a docstring that began on an earlier line
            j = text.find('"""')
            if j < 0:
                self.setFormat(0, n, self.string)
                self.setCurrentBlockState(1)
                return
            self.setFormat(0, j + 3, self.string)
            i = j + 3
        while i < n:
            ch = text[i]
            if text.startswith('"""', i):
                j = text.find('"""', i + 3)
                if j < 0:
                    self.setFormat(i, n - i, self.string)
                    self.setCurrentBlockState(1)
                    return
                self.setFormat(i, j + 3 - i, self.string)
                i = j + 3
            elif ch in "'\"":
                j = i + 1
                while j < n and text[j] != ch:
                    j += 2 if text[j] == "\\" else 1
                self.setFormat(i, j + 1 - i, self.string)
                i = j + 1
            elif ch == "#":
                self.setFormat(i, n - i, self.comment)
                return
            else:
                i += 1


class CodeView(QWidget):
    copied = Signal()

    def __init__(self, parent: QWidget | None = None, dark: bool | None = None):
        super().__init__(parent)
        self.setObjectName("codeView")
        self.setAccessibleName("PyTorch code of the model")
        self.text = QPlainTextEdit()
        self.text.setObjectName("codeText")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                          | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(max(8.5, font.pointSizeF() - 0.5))
        self.text.setFont(font)
        if dark is None:
            dark = self.palette().color(self.palette().ColorRole.Base).lightness() < 128
        self.highlighter = PythonHighlighter(self.text.document(), dark)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setObjectName("copyCode")
        self.copy_button.setToolTip("Copy the code to the clipboard (paste it into a notebook or a .py file)")
        self.copy_button.clicked.connect(self.copy)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.note, 1)
        bar.addWidget(self.copy_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.text, 1)

    def set_source(self, source: str, note: str = "") -> None:
        """Show ``source``; the scroll position stays where the reader left it."""
        if source != self.text.toPlainText():
            vs, hs = self.text.verticalScrollBar().value(), self.text.horizontalScrollBar().value()
            self.text.setPlainText(source)
            self.text.verticalScrollBar().setValue(vs)
            self.text.horizontalScrollBar().setValue(hs)
        self.note.setText(note)
        self.copy_button.setEnabled(bool(source))

    def source(self) -> str:
        return self.text.toPlainText()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.source())
        self.copied.emit()
