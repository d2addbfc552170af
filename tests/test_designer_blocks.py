"""A residual block built by mouse alone, grouped into one Block node, reused twice, opened with a
breadcrumb back out, saved to the palette; the model compiles to nested modules and trains a step."""

import pytest
from designer_kit import designer_factory, drop_layer, settle, wire
from mouse import click, drag
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from engine.project import parse_project


@pytest.fixture
def designer(qtbot, tmp_path):
    return designer_factory(qtbot, tmp_path)


def stem_project():
    nodes = [("input", "Input", {"shape": [1, 12, 12]}, (0, 0)),
             ("stem", "Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": 1}, (0, 110)),
             ("flat", "Flatten", {}, (0, 770)), ("fc", "Linear", {"out_features": 10}, (0, 880)),
             ("output", "Output", {}, (0, 990))]
    return parse_project({
        "format": "layerlab-project", "version": 2, "name": "res",
        "data": {"dataset": "digits", "image_size": [12, 12]},  # the Input's [1, 12, 12] is what the data gives
        "model": {"nodes": [{"id": i, "type": t, "params": p, "pos": list(pos)} for i, t, p, pos in nodes],
                  "edges": [["input", "stem"], ["flat", "fc"], ["fc", "output"]]},
        "train": {"epochs": 1}})


def type_param(dv, name, text):
    f = dv.inspector.field(name)
    f.edit.setFocus()
    f.edit.selectAll()
    QTest.keyClicks(f.edit, text)
    QTest.keyClick(f.edit, Qt.Key.Key_Return)


def test_residual_block_by_mouse_grouped_reused_opened_and_trained(designer, qtbot, tmp_path):
    dv = designer(stem_project())
    view = dv.current_view()
    scene = dv.current_scene()
    ca = drop_layer(dv, "Conv2d", (300, 220))
    r = drop_layer(dv, "ReLU", (300, 330))
    cb = drop_layer(dv, "Conv2d", (300, 440))
    add = drop_layer(dv, "Add", (150, 550))
    for nid in (ca, cb):  # 8 channels, padding 1: the same shape as the skip
        click(view, scene.nodes[nid].sceneBoundingRect().center())
        type_param(dv, "out_channels", "8")
        type_param(dv, "padding", "1")
    wire(dv, "stem", ca)
    wire(dv, ca, r)
    wire(dv, r, cb)
    wire(dv, cb, add, 0)
    wire(dv, "stem", add, 1)  # the skip
    wire(dv, add, "flat")
    settle(qtbot, dv)
    assert dv.results["model"].ok, [str(e) for e in dv.results["model"].errors]
    assert dv.doc.project.model.inputs_of(add) == [cb, "stem"]

    # rubber band around the four new layers, then Ctrl+G
    dv.answers.append("res")
    drag(view, QPointF(120, 200), QPointF(480, 630))
    assert sorted(scene.selected_node_ids()) == sorted([ca, r, cb, add])
    steps = dv.doc.undo_stack.count()
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    g = dv.doc.project.model
    assert dv.doc.undo_stack.count() == steps + 1
    blocks = [n for n in g.nodes if n.type == "Block"]
    assert len(blocks) == 1 and blocks[0].params == {"block": "res"}
    b1 = blocks[0].id
    assert g.inputs_of(b1) == ["stem"] and g.inputs_of("flat") == [b1]

    # reuse it twice: copy the block node, paste two more, chain them in by mouse
    scene.select_nodes([b1])
    assert dv.copy_selection()
    b2 = dv.paste_fragment(dv._fragment(), QPointF(420, 300))[0]
    b3 = dv.paste_fragment(dv._fragment(), QPointF(420, 500))[0]
    edge = scene.edges[(b1, "flat", 0)]
    click(view, edge.path().pointAtPercent(0.5))
    QTest.keyClick(view, Qt.Key.Key_Delete)
    wire(dv, b1, b2)
    wire(dv, b2, b3)
    wire(dv, b3, "flat")
    settle(qtbot, dv)
    res = dv.results["model"]
    assert res.ok, [str(e) for e in res.errors]
    assert sorted(dv.doc.project.blocks) == ["res"]  # one definition, three uses

    # double-click opens the inside; the breadcrumb leads back out
    page = dv.current_page()
    click(view, scene.nodes[b2].sceneBoundingRect().center(), double=True)
    assert page.path() == "blocks.res" and page.crumbs.isVisible()
    assert {n.type for n in dv.doc.project.blocks["res"].nodes} >= {"Conv2d", "ReLU", "Add", "Input", "Output"}
    assert len(dv.current_scene().nodes) == len(dv.doc.project.blocks["res"].nodes)
    page.crumbs.linkActivated.emit("0")
    assert page.path() == "model"

    # save to the palette; dropping it elsewhere reuses the block
    dv.current_scene().select_nodes([b3])
    dv.answers.append("residual 8")
    saved = dv.save_block_to_palette()
    assert saved is not None and saved.exists()
    assert dv.palette.find_item("residual 8 (mine)") is not None

    # it compiles to nested modules with readable names and trains a step
    torch = pytest.importorskip("torch")
    from engine.graph import compile_project_graph

    model, _ = compile_project_graph(dv.doc.project, "model")
    names = [n for n, _ in model.named_parameters()]
    assert f"{b1}.{ca}.weight" in names and f"{b3}.{cb}.weight" in names
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(4, 1, 12, 12), torch.tensor([0, 1, 2, 3])
    loss0 = torch.nn.functional.cross_entropy(model(x), y)
    loss0.backward()
    opt.step()
    assert torch.nn.functional.cross_entropy(model(x), y) < loss0
