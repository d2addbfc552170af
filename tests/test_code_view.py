"""The code view shows source read-only, keeps the reader's scroll position, highlights and copies."""

from PySide6.QtGui import QGuiApplication

from widgets.code_view import CodeView

SRC = '''import torch
from torch import nn


class Net(nn.Module):
    """A docstring
    over two lines."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)  # a comment

    def forward(self, x):
        return self.fc(x.flatten(1))
''' + "\n".join(f"# line {i}" for i in range(200))


def test_read_only_highlighted_and_copy(qtbot):
    v = CodeView()
    qtbot.addWidget(v)
    assert v.objectName() == "codeView"
    v.set_source(SRC)
    assert v.text.isReadOnly()
    doc = v.text.document()
    kw_block = doc.findBlockByNumber(4)  # class Net(nn.Module):
    fmts = kw_block.layout().formats()
    assert any(f.start == 0 and f.format.fontWeight() > 500 for f in fmts)  # "class" is bold
    assert doc.findBlockByNumber(5).userState() == 1  # a docstring is still open after this line
    second = doc.findBlockByNumber(6)  # ... and closes on this one, which is all string
    assert second.userState() == 0
    assert [(f.start, f.length) for f in second.layout().formats()] == [(0, len(second.text()))]
    v.copy()
    assert QGuiApplication.clipboard().text() == SRC


def test_updates_keep_the_scroll_position(qtbot):
    v = CodeView()
    qtbot.addWidget(v)
    v.resize(400, 200)
    v.show()
    v.set_source(SRC)
    bar = v.text.verticalScrollBar()
    bar.setValue(50)
    v.set_source(SRC.replace("784", "3136"))
    assert bar.value() == 50 and "3136" in v.source()
