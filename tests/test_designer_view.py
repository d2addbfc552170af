"""The Designer built by mouse: palette drops, port-to-port wiring, live shapes, a badge and its
one-click fix, inspector edits typed in, undo/redo, delete/duplicate, copy/paste between two
documents, auto-layout as one step, the quick menu on a dangling link, GAN tabs."""

import json

import pytest
from designer_kit import designer_factory, drop_layer, empty_project, settle, wire
from mouse import click, drag
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from engine.templates import load_template


@pytest.fixture
def designer(qtbot, tmp_path):
    return designer_factory(qtbot, tmp_path)


def test_a_cnn_built_by_mouse_shows_shapes_a_badge_and_takes_its_fix(designer, qtbot):
    dv = designer()
    order = ["Input", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "Output"]
    ids = [drop_layer(dv, t, (200, 20 + 110 * i)) for i, t in enumerate(order)]
    assert [n.type for n in dv.doc.project.model.nodes] == order
    for a, b in zip(ids, ids[1:]):
        wire(dv, a, b)
    assert len(dv.doc.project.model.edge_pairs()) == 6
    settle(qtbot, dv)
    scene = dv.current_scene()
    qtbot.waitUntil(lambda: scene.nodes[ids[3]].shape_str == "16×13×13", timeout=3000)
    assert scene.nodes[ids[-1]].shape_str == "128"
    # 128 outputs for 10 digit classes: the analysis says so; typed into the inspector, 10 fixes it
    assert any("10" in e.message for e in dv.results["model"].errors)
    click(dv.current_view(), scene.nodes[ids[5]].sceneBoundingRect().center())
    field = dv.inspector.field("out_features")
    field.edit.setFocus()
    field.edit.selectAll()
    QTest.keyClicks(field.edit, "10")
    QTest.keyClick(field.edit, Qt.Key.Key_Return)
    settle(qtbot, dv)
    qtbot.waitUntil(lambda: dv.results["model"].ok, timeout=3000)

    # Linear straight onto the conv output: remove the Flatten's edge into Linear, wire conv -> Linear
    flat, lin = ids[4], ids[5]
    edge = scene.edges[(flat, lin, 0)]
    click(dv.current_view(), edge.path().pointAtPercent(0.5))
    QTest.keyClick(dv.current_view(), Qt.Key.Key_Delete)
    wire(dv, ids[1], lin)
    settle(qtbot, dv)
    qtbot.waitUntil(lambda: scene.nodes[lin].has_error(), timeout=3000)
    badge = scene.nodes[lin].badge
    assert "Linear" in badge.toolTip()
    fixes = badge.fixes()
    assert fixes, badge.toolTip()
    steps = dv.doc.undo_stack.count()
    click(dv.current_view(), badge.scenePos())
    menu = scene.fix_menu
    act = next(a for a in menu.actions() if a.text().startswith("Fix:") and "Flatten" in a.text())
    act.trigger()
    settle(qtbot, dv)
    assert dv.doc.undo_stack.count() == steps + 1  # the fix is one undo step
    qtbot.waitUntil(lambda: not scene.nodes[lin].has_error(), timeout=3000)
    before = json.dumps(dv.doc.project.to_dict(), sort_keys=True)
    dv.doc.undo_stack.undo()
    settle(qtbot, dv)
    qtbot.waitUntil(lambda: scene.nodes[lin].has_error(), timeout=3000)
    dv.doc.undo_stack.redo()
    settle(qtbot, dv)
    assert json.dumps(dv.doc.project.to_dict(), sort_keys=True) == before


def test_inspector_edits_typed_in_are_undoable_and_merge(designer, qtbot):
    dv = designer(load_template("cnn"))
    settle(qtbot, dv)
    scene = dv.current_scene()
    click(dv.current_view(), scene.nodes["conv1"].sceneBoundingRect().center())
    assert dv.inspector.node_id == "conv1"
    field = dv.inspector.field("out_channels")
    steps = dv.doc.undo_stack.count()
    field.edit.selectAll()
    QTest.keyClicks(field.edit, "16")
    QTest.keyClick(field.edit, Qt.Key.Key_Return)
    field.edit.selectAll()
    QTest.keyClicks(field.edit, "24")
    QTest.keyClick(field.edit, Qt.Key.Key_Return)
    assert dv.doc.project.model.node("conv1").params["out_channels"] == 24
    assert dv.doc.undo_stack.count() == steps + 1  # consecutive edits of one field merge
    settle(qtbot, dv)
    qtbot.waitUntil(lambda: scene.nodes["conv1"].shape_str == "24×28×28", timeout=3000)
    field.edit.selectAll()
    QTest.keyClicks(field.edit, "-3")
    QTest.keyClick(field.edit, Qt.Key.Key_Return)
    assert "at least" in dv.inspector.field_error("out_channels")
    assert dv.doc.project.model.node("conv1").params["out_channels"] == 24  # refused, not clamped
    dv.doc.undo_stack.undo()
    assert dv.doc.project.model.node("conv1").params["out_channels"] == 32
    assert dv.inspector.field("out_channels").value() == 32


def test_dragging_a_node_is_one_move_and_undo_puts_it_back(designer, qtbot):
    dv = designer(load_template("cnn"))
    scene, view = dv.current_scene(), dv.current_view()
    view.centerOn(scene.nodes["relu1"])
    qtbot.wait(50)  # nothing may scroll the view during the drag
    start = dv.doc.project.model.node("relu1").pos
    c = scene.nodes["relu1"].sceneBoundingRect().center()
    drag(view, c, c + QPointF(120, 10))
    pos = dv.doc.project.model.node("relu1").pos
    assert (pos[0] - start[0], pos[1] - start[1]) == pytest.approx((120, 10), abs=2)
    dv.doc.undo_stack.undo()
    assert tuple(dv.doc.project.model.node("relu1").pos) == tuple(start)
    assert scene.nodes["relu1"].pos().x() == pytest.approx(start[0])


def test_delete_duplicate_and_copy_paste_between_documents(designer, qtbot):
    a = designer(load_template("cnn"))
    b = designer(empty_project())
    scene = a.current_scene()
    scene.select_nodes(["conv1", "bn1", "relu1"])
    assert a.copy_selection()
    ids = b.paste()
    assert sorted(ids) == ["bn1", "conv1", "relu1"]
    gb = b.doc.project.model
    assert sorted(gb.edge_pairs()) == [("bn1", "relu1"), ("conv1", "bn1")]
    assert b.doc.undo_stack.count() == 1
    again = b.paste()  # ids are renamed to stay unique
    assert len(set(again) & set(ids)) == 0 and len(b.doc.project.model.nodes) == 6
    dup = a.duplicate_selection()
    assert len(dup) == 3 and len(a.doc.project.model.nodes) == 18
    a.current_scene().select_nodes(dup)
    a.delete_selection()
    assert len(a.doc.project.model.nodes) == 15
    a.doc.undo_stack.undo()
    assert len(a.doc.project.model.nodes) == 18


def test_dangling_link_opens_the_quick_menu_and_adds_a_wired_layer(designer, qtbot):
    dv = designer(load_template("cnn"))
    settle(qtbot, dv)
    scene, view = dv.current_scene(), dv.current_view()
    view.centerOn(scene.nodes["pool1"])
    start = scene.nodes["pool1"].out_anchor()
    drag(view, start, start + QPointF(260, 40))
    menu = dv.quick_menu
    assert "32×14×14" in menu.title.text()
    assert "Conv2d" in menu.types() and "Embedding" not in menu.types()
    QTest.keyClicks(menu.search, "Dropout2d")
    QTest.keyClick(menu.search, Qt.Key.Key_Return)
    g = dv.doc.project.model
    new = g.nodes[-1]
    assert new.type == "Dropout2d" and g.inputs_of(new.id) == ["pool1"]


def test_auto_layout_is_one_undo_step(designer, qtbot):
    dv = designer(load_template("cnn"))
    before = [tuple(n.pos) for n in dv.doc.project.model.nodes]
    steps = dv.doc.undo_stack.count()
    dv.auto_layout("LR")
    after = [tuple(n.pos) for n in dv.doc.project.model.nodes]
    assert after != before and all(a[0] < b[0] for a, b in zip(after, after[1:]))
    assert dv.doc.undo_stack.count() == steps + 1
    dv.doc.undo_stack.undo()
    assert [tuple(n.pos) for n in dv.doc.project.model.nodes] == before


def test_palette_double_click_inserts_after_the_selected_node(designer, qtbot):
    dv = designer(load_template("cnn"))
    dv.current_scene().select_nodes(["relu1"])
    nid = dv.insert_layer("Dropout2d")
    g = dv.doc.project.model
    assert g.inputs_of(nid) == ["relu1"] and g.inputs_of("pool1") == [nid]
    assert dv.doc.undo_stack.count() == 1


def test_gan_projects_have_one_canvas_tab_per_graph(designer, qtbot):
    dv = designer(load_template("dcgan"))
    titles = [dv.tabs.tabText(i) for i in range(dv.tabs.count())]
    assert titles == ["Generator", "Discriminator"]
    dv.tabs.setCurrentIndex(1)
    assert dv.current_path() == "models.discriminator"
    assert len(dv.current_scene().nodes) == len(dv.doc.project.models["discriminator"].nodes)


def test_widgets_carry_object_names(designer):
    dv = designer()
    for name in ("palette", "canvas", "inspector", "codeView"):
        assert dv.findChild(object, name) is not None, name


def test_the_layer_table_lists_every_layer_when_shown(designer, qtbot):
    dv = designer(load_template("cnn"))
    dv.side_tabs.setCurrentWidget(dv.layer_table)
    assert dv.layer_model.rowCount() == 15
    row = [dv.layer_model.index(1, c).data() for c in range(5)]
    assert row == ["conv1", "Conv2d", "32×28×28", "320", "225,792"]


def test_the_code_view_follows_edits(designer, qtbot):
    dv = designer(load_template("cnn"))
    qtbot.waitUntil(lambda: "nn.Conv2d(in_channels=1, out_channels=32" in dv.code_view.source(), timeout=20_000)
    dv.doc.set_param("model", "conv1", "out_channels", 24)
    qtbot.waitUntil(lambda: "out_channels=24" in dv.code_view.source(), timeout=20_000)
    dv.doc.set_param("model", "fc1", "out_features", 7)
    qtbot.waitUntil(lambda: "out_features=7" in dv.code_view.source(), timeout=20_000)


def test_the_code_view_never_shows_the_previous_documents_code(designer, qtbot):
    from engine.project import parse_project

    dv = designer(load_template("cnn"))
    qtbot.waitUntil(lambda: "class CNNDigits" in dv.code_view.source(), timeout=20_000)
    broken = load_template("mlp").to_dict()
    broken["name"] = "Broken"
    broken["model"]["edges"] = broken["model"]["edges"][1:]  # the input is wired to nothing: does not compile
    dv.doc.replace(parse_project(broken), None)
    settle(qtbot, dv)
    dv.refresh_code()
    assert "CNNDigits" not in dv.code_view.source()
    assert "last version that compiled" not in dv.code_view.note.text()


def test_the_overview_sits_inside_the_visible_canvas_when_scroll_bars_appear(designer, qtbot):
    from engine.project import parse_project

    big = load_template("mlp").to_dict()
    nodes, edges = big["model"]["nodes"], big["model"]["edges"]
    last = nodes[-2]["id"]
    out = nodes[-1]["id"]
    edges[:] = [e for e in edges if not (e[0] if isinstance(e, list) else e["src"]) == last]
    prev = last
    for i in range(60):
        nodes.insert(-1, {"id": f"extra{i}", "type": "Identity", "params": {}})
        edges.append([prev, f"extra{i}"])
        prev = f"extra{i}"
    edges.append([prev, out])
    dv = designer()
    dv.resize(1600, 900)  # opened wide, the document replaced, then the window made narrow (as a user does)
    qtbot.wait(20)
    dv.doc.replace(parse_project(big), None)
    dv.resize(1000, 700)
    page = dv.pages[0]
    view = page.view
    view.resetTransform()  # readable zoom: the graph is taller than the canvas, so a scroll bar shows
    qtbot.waitUntil(lambda: view.verticalScrollBar().isVisible(), timeout=3000)
    qtbot.waitUntil(lambda: page.overview.isVisible(), timeout=3000)
    vp = view.viewport().geometry()
    ov = page.overview.geometry()
    assert vp.contains(ov), (vp, ov)


def test_a_model_that_only_disagrees_with_its_data_still_shows_its_code(designer, qtbot):
    from engine.project import parse_project

    d = load_template("cnn").to_dict()
    next(n for n in d["model"]["nodes"] if n["id"] == "input")["params"]["shape"] = [3, 28, 28]  # digits are grey
    dv = designer(parse_project(d))
    settle(qtbot, dv)
    assert not dv.results["model"].ok  # the badge says so ...
    qtbot.waitUntil(lambda: "nn.Conv2d(in_channels=3" in dv.code_view.source(), timeout=20_000)  # ... the code is there
