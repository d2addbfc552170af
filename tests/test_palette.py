"""The palette lists every registry layer by category, searches, explains each layer in its tooltip,
drags with the layer mime type, and offers built-in and saved blocks."""

import json

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from engine.layers import all_layers
from widgets.canvas import BLOCK_MIME, LAYER_MIME
from widgets.palette import Palette


def _layer_names(p):
    return [it.text(0) for it in p.visible_entries() if it.data(0, Qt.ItemDataRole.UserRole + 1) == "layer"]


def test_every_registry_layer_is_listed_with_its_explanation(qtbot, tmp_path):
    p = Palette(tmp_path / "blocks")
    qtbot.addWidget(p)
    assert p.objectName() == "palette"
    assert sorted(_layer_names(p)) == sorted(s.type for s in all_layers() if s.type != "Block")
    tip = p.find_item("Conv2d").toolTip(0)
    assert "out_channels" in tip and "kernel_size" in tip and "convolution" in tip.lower()


def test_search_filters_by_name_and_explanation(qtbot, tmp_path):
    p = Palette(tmp_path / "blocks")
    qtbot.addWidget(p)
    QTest.keyClicks(p.search, "pool")
    names = _layer_names(p)
    assert "MaxPool2d" in names and "Linear" not in names
    p.search.clear()
    QTest.keyClicks(p.search, "residual")  # found in Add's explanation and the residual block
    assert "Add" in _layer_names(p)


def test_drag_payload_and_double_click_activation(qtbot, tmp_path):
    p = Palette(tmp_path / "blocks")
    qtbot.addWidget(p)
    item = p.find_item("Linear")
    md = p.tree.mimeData([item])
    assert bytes(md.data(LAYER_MIME)).decode() == "Linear"
    with qtbot.waitSignal(p.layerActivated) as blocker:
        p.tree.itemActivated.emit(item, 0)
    assert blocker.args == ["Linear"]


def test_built_in_blocks_and_saved_blocks_appear(qtbot, tmp_path):
    p = Palette(tmp_path / "blocks")
    qtbot.addWidget(p)
    names = {b.name for b in p.blocks}
    assert {"Conv-BN-ReLU", "Residual block", "Transformer encoder block", "DCGAN up-block"} <= names
    res = p.find_item("Residual block")
    frag = json.loads(bytes(p.tree.mimeData([res]).data(BLOCK_MIME)).decode())
    assert any(n["type"] == "Add" for n in frag["nodes"])
    path = p.save_user_block("my stem", {"nodes": [{"id": "c", "type": "Conv2d", "params": {}}], "edges": []})
    assert path.parent == tmp_path / "blocks" and path.name == "my_stem.json"
    assert p.find_item("my stem (mine)") is not None


def test_a_broken_saved_block_is_reported_not_fatal(qtbot, tmp_path):
    d = tmp_path / "blocks"
    d.mkdir()
    (d / "bad.json").write_text("{not json")
    p = Palette(d)
    qtbot.addWidget(p)
    assert p.problems and "bad.json" in p.problems[0]
