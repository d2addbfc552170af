"""The inspector builds its form from the registry entry, emits each accepted edit, refuses bad text
with a message under the field (never clamping), and shows analysis problems where they belong."""

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from engine.graph import NodeError
from engine.project import NodeSpec
from widgets.fields import NumberField
from widgets.inspector import UNSET, Inspector


def _inspector(qtbot, node):
    ins = Inspector()
    qtbot.addWidget(ins)
    ins.show()
    ins.show_node(node)
    edits = []
    ins.paramEdited.connect(lambda nid, name, v: edits.append((nid, name, v)))
    return ins, edits


def type_into(widget, text):
    widget.edit.setFocus()
    widget.edit.selectAll()
    QTest.keyClicks(widget.edit, text)
    QTest.keyClick(widget.edit, Qt.Key.Key_Return)


def test_the_form_has_the_right_widget_per_param_kind(qtbot):
    ins, _ = _inspector(qtbot, NodeSpec(id="c1", type="Conv2d", params={"out_channels": 32}))
    assert ins.objectName() == "inspector"
    assert isinstance(ins.field("out_channels"), NumberField)
    assert ins.field("out_channels").text() == "32"
    assert ins.field("bias").isChecked()
    assert ins.field("kernel_size").edit.text() == "3"  # the registry default, shown
    ins2, _ = _inspector(qtbot, NodeSpec(id="g", type="GELU", params={}))
    assert ins2.field("approximate").currentText() == "none"


def test_typed_numbers_are_emitted_and_bad_ones_refused_under_the_field(qtbot):
    ins, edits = _inspector(qtbot, NodeSpec(id="c1", type="Conv2d", params={"out_channels": 32}))
    type_into(ins.field("out_channels"), "16")
    assert edits == [("c1", "out_channels", 16)]
    type_into(ins.field("out_channels"), "0")
    assert "at least 1" in ins.field_error("out_channels")
    type_into(ins.field("out_channels"), "2.5")
    assert "whole number" in ins.field_error("out_channels")
    assert ins.field("out_channels").text() == "2.5"  # what the user typed stays
    assert edits == [("c1", "out_channels", 16)]


def test_sizes_choices_flags_and_reset(qtbot):
    ins, edits = _inspector(qtbot, NodeSpec(id="c1", type="Conv2d", params={"padding": 1}))
    type_into(ins.field("kernel_size"), "3, 5")
    assert edits[-1] == ("c1", "kernel_size", [3, 5])
    type_into(ins.field("kernel_size"), "3, 5, 7")
    assert "two for height and width" in ins.field_error("kernel_size")
    bias = ins.field("bias")
    QTest.mouseClick(bias, Qt.MouseButton.LeftButton, pos=QPoint(8, bias.height() // 2))  # on the box
    assert edits[-1] == ("c1", "bias", False)
    reset = ins.findChild(object, "reset_padding")
    assert reset.isEnabled() and not ins.findChild(object, "reset_stride").isEnabled()
    QTest.mouseClick(reset, Qt.MouseButton.LeftButton)
    assert edits[-1] == ("c1", "padding", UNSET)
    inp, e2 = _inspector(qtbot, NodeSpec(id="x", type="Input", params={"shape": [1, 28, 28]}))
    type_into(inp.field("shape"), "3×32×32")
    assert e2[-1] == ("x", "shape", [3, 32, 32])
    inp.field("dtype").setCurrentIndex(inp.field("dtype").findText("long"))
    inp.field("dtype").activated.emit(inp.field("dtype").currentIndex())
    assert e2[-1] == ("x", "dtype", "long")


def test_analysis_problems_show_under_their_field_and_label_edits(qtbot):
    node = NodeSpec(id="c1", type="Conv2d", params={"kernel_size": 9})
    ins, _ = _inspector(qtbot, node)
    labels = []
    ins.labelEdited.connect(lambda nid, t: labels.append((nid, t)))
    ins.show_node(node, None, [NodeError("c1", "kernel_size: 9 is larger than the 5×5 input"),
                               NodeError("c1", "Conv2d needs exactly 1 input, but nothing is connected")])
    assert "larger than" in ins.field_error("kernel_size")
    assert "nothing is connected" in ins.problems.text() and ins.problems.isVisible()
    ins.label_edit.setFocus()
    QTest.keyClicks(ins.label_edit, "first conv")
    QTest.keyClick(ins.label_edit, Qt.Key.Key_Return)
    assert labels == [("c1", "first conv")]


def test_updating_the_same_node_keeps_what_is_being_typed(qtbot):
    node = NodeSpec(id="c1", type="Conv2d", params={"out_channels": 32})
    ins, _ = _inspector(qtbot, node)
    f = ins.field("out_channels")
    before = f
    ins.show_node(NodeSpec(id="c1", type="Conv2d", params={"out_channels": 64}))
    assert ins.field("out_channels") is before and f.text() == "64"  # not rebuilt, value followed
    ins.show_node(NodeSpec(id="r", type="ReLU", params={}))
    assert ins.field("out_channels") is None
