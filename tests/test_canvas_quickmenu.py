"""The dangling-connection menu offers only layers that accept the shape, searchable, Enter picks."""

from PySide6.QtCore import QPoint
from PySide6.QtTest import QTest

from widgets.canvas.quickmenu import QuickMenu, layers_that_fit


def test_only_layers_that_accept_the_shape_are_offered():
    image = {s.type for s in layers_that_fit((32, 14, 14))}
    assert {"Conv2d", "MaxPool2d", "Flatten", "ReLU", "Add"} <= image
    assert "Linear" in image  # Linear works on the last dim of any rank
    assert "Conv1d" not in {s.type for s in layers_that_fit((32,))}
    assert "Embedding" not in image  # needs whole-number indices
    assert "Embedding" in {s.type for s in layers_that_fit((12,), "long")}
    assert "Input" not in image


def test_search_then_enter_picks_the_first_match(qtbot):
    m = QuickMenu(layers_that_fit((32, 14, 14)), (32, 14, 14))
    qtbot.addWidget(m)
    m.popup_at(QPoint(10, 10))
    assert "32×14×14" in m.title.text()
    QTest.keyClicks(m.search, "flat")
    assert m.types()[0] == "Flatten" and "Conv2d" not in m.types()  # name matches first, then explanations
    with qtbot.waitSignal(m.triggered) as blocker:
        QTest.keyClick(m.search, "\r")
    assert blocker.args == ["Flatten"]
