"""The canvas turns real mouse gestures on its viewport into requests (move, connect, rubber band,
dangling link, drops) and follows the document's changes; it never edits the document itself."""

import pytest
from helpers import chain
from mouse import click, drag
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from engine.graph import analyze
from engine.project import GraphSpec
from widgets.canvas import LAYER_MIME, CanvasView, GraphScene
from widgets.canvas.items import NODE_H, NODE_W


def _graph():
    g = chain(("input", "Input", {"shape": [1, 28, 28]}), ("conv", "Conv2d", {"out_channels": 8}),
              ("relu", "ReLU", {}))
    g["edges"] = g["edges"][:1]  # relu is not wired yet
    for i, n in enumerate(g["nodes"]):
        n["pos"] = [0.0, 120.0 * i]
    g["nodes"].append({"id": "add", "type": "Add", "params": {}, "pos": [300.0, 240.0]})
    return GraphSpec.model_validate(g)


@pytest.fixture
def canvas(qtbot):
    g = _graph()
    scene = GraphScene()
    scene.load(g, analyze(g))
    view = CanvasView(scene)
    qtbot.addWidget(view)
    view.resize(800, 700)
    view.show()
    view.setSceneRect(-400, -300, 1400, 1200)
    view.centerOn(QPointF(200, 200))
    QApplication.processEvents()
    return scene, view


def centre(scene, nid):
    return scene.nodes[nid].sceneBoundingRect().center()


def test_dragging_a_node_moves_it_and_asks_for_one_move_on_release(canvas, qtbot):
    scene, view = canvas
    moves = []
    scene.moveRequested.connect(moves.append)
    start = scene.nodes["relu"].pos()
    drag(view, centre(scene, "relu") + QPointF(-30, 0), centre(scene, "relu") + QPointF(70, 40))
    assert len(moves) == 1
    x, y = moves[0]["relu"]
    assert (x - start.x(), y - start.y()) == pytest.approx((100, 40), abs=2)
    assert scene.nodes["relu"].isSelected()


def test_port_to_port_drag_asks_to_connect_and_edges_follow_a_moved_node(canvas):
    scene, view = canvas
    asked = []
    scene.connectRequested.connect(lambda a, b, p: asked.append((a, b, p)))
    conv, relu = scene.nodes["conv"], scene.nodes["relu"]
    drag(view, conv.out_port.scenePos(), relu.in_port(0).scenePos())
    assert asked == [("conv", "relu", 0)]
    # the document would now say so; the scene follows and draws the edge
    scene.add_edge("conv", "relu", 0)
    edge = scene.edges[("conv", "relu", 0)]
    before = edge.path().elementAt(edge.path().elementCount() - 1)
    relu.setPos(relu.pos() + QPointF(50, 0))
    after = edge.path().elementAt(edge.path().elementCount() - 1)
    assert after.x - before.x == pytest.approx(50)


def test_dropping_a_link_on_a_node_body_uses_its_next_free_port(canvas):
    scene, view = canvas
    asked = []
    scene.connectRequested.connect(lambda a, b, p: asked.append((a, b, p)))
    drag(view, scene.nodes["conv"].out_port.scenePos(), centre(scene, "add"))
    assert asked == [("conv", "add", -1)]


def test_add_shows_one_port_per_input_plus_a_free_one(canvas):
    scene, _view = canvas
    add = scene.nodes["add"]
    assert len(add.in_ports) == 2
    scene.add_edge("conv", "add", 0)
    scene.add_edge("input", "add", 1)
    assert len(add.in_ports) == 3
    scene.remove_edge("input", "add", 1)
    assert len(add.in_ports) == 2


def test_a_link_released_on_empty_canvas_reports_where(canvas):
    scene, view = canvas
    got = []
    scene.danglingReleased.connect(lambda src, pos, screen: got.append((src, pos)))
    drag(view, scene.nodes["relu"].out_port.scenePos(), QPointF(-250, 500))
    assert got and got[0][0] == "relu"
    assert got[0][1].x() == pytest.approx(-250, abs=2)


def test_rubber_band_selects_the_nodes_it_touches(canvas):
    scene, view = canvas
    drag(view, QPointF(-60, -60), QPointF(NODE_W + 10, 120 + NODE_H / 2))
    assert sorted(scene.selected_node_ids()) == ["conv", "input"]
    click(view, QPointF(-200, 600))  # a click on empty canvas clears it
    assert scene.selected_node_ids() == []


def test_badges_show_the_analysis_problems_and_shapes(canvas):
    scene, _view = canvas
    assert scene.nodes["conv"].shape_str == "8×26×26"
    badge = scene.nodes["add"].badge
    assert badge.isVisible() and "Add needs at least 2 inputs" in badge.toolTip()
    assert not scene.nodes["conv"].badge.isVisible()


def test_a_layer_dropped_from_the_palette_is_requested_at_the_drop_point(canvas):
    scene, view = canvas
    got = []
    scene.layerDropped.connect(lambda t, p: got.append((t, p)))
    md = QMimeData()
    md.setData(LAYER_MIME, b"Linear")
    target = view.mapFromScene(QPointF(500, 100))
    enter = QDragEnterEvent(target, Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(target), Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), drop)
    assert got and got[0][0] == "Linear"
    assert got[0][1].x() == pytest.approx(500 - NODE_W / 2, abs=2)


def test_keyboard_zoom_and_fit(canvas):
    scene, view = canvas
    z = view.zoom()
    view.setFocus()
    from PySide6.QtTest import QTest

    QTest.keyClick(view, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert view.zoom() > z
    QTest.keyClick(view, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(view, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert view.zoom() < z
    QTest.keyClick(view, Qt.Key.Key_F)
    vis = view.visible_scene_rect()
    assert vis.contains(scene.node_rect())
