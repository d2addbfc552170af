"""Random sequences of designer gestures (insert, connect, quick-menu add, delete, duplicate, paste,
group, auto-layout, typed parameters): undoing all of them gives back the starting document byte
for byte, and redoing all gives the end again."""

import json

import pytest
from designer_kit import designer_factory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QPointF

from engine.templates import load_template

TYPES = ["ReLU", "Conv2d", "BatchNorm2d", "Dropout2d", "Flatten", "Linear", "Add", "MaxPool2d"]


@pytest.fixture
def designer(qtbot, tmp_path):
    return designer_factory(qtbot, tmp_path)


def snapshot(dv) -> str:
    return json.dumps(dv.doc.project.to_dict(), sort_keys=True)


op = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 40), st.sampled_from(TYPES)),
    st.tuples(st.just("connect"), st.integers(0, 40), st.integers(0, 40)),
    st.tuples(st.just("quick"), st.integers(0, 40), st.sampled_from(TYPES)),
    st.tuples(st.just("delete"), st.integers(0, 40), st.integers(1, 3)),
    st.tuples(st.just("duplicate"), st.integers(0, 40), st.integers(1, 3)),
    st.tuples(st.just("group"), st.integers(0, 40), st.integers(1, 3)),
    st.tuples(st.just("layout"), st.sampled_from(["TB", "LR"]), st.just(0)),
    st.tuples(st.just("param"), st.integers(0, 40), st.integers(1, 64)),
    st.tuples(st.just("move"), st.integers(0, 40), st.integers(-200, 200)),
)


def run(dv, step) -> None:
    kind, a, b = step
    g = dv.doc.project.model
    ids = [n.id for n in g.nodes]
    scene = dv.current_scene()
    pick = ids[a % len(ids)] if ids and isinstance(a, int) else None
    if kind == "insert" and pick:
        scene.select_nodes([pick])
        dv.insert_layer(b)
    elif kind == "connect" and ids:
        dv.connect_nodes("model", pick, ids[b % len(ids)], -1)
    elif kind == "quick" and pick:
        dv.add_connected("model", pick, b, QPointF(400, 40.0 * a))
    elif kind in ("delete", "duplicate", "group") and ids:
        i = a % len(ids)
        scene.select_nodes(ids[i:i + b])
        if kind == "delete":
            dv.delete_selection()
        elif kind == "duplicate":
            dv.duplicate_selection()
        else:
            dv.answers.append(f"blk{len(dv.doc.project.blocks or {}) + 1}")
            dv.group_selection()
            dv.answers.clear()
    elif kind == "layout":
        dv.auto_layout(a, wait=True)
    elif kind == "param" and pick and g.node(pick).type in ("Conv2d", "Linear"):
        name = "out_channels" if g.node(pick).type == "Conv2d" else "out_features"
        dv.current_scene().select_nodes([pick])
        dv._param_edited(pick, name, b)
    elif kind == "move" and pick:
        dv.doc.move_nodes("model", {pick: (float(b), float(a * 10))})


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(op, min_size=1, max_size=12))
def test_undo_all_restores_the_start_and_redo_all_the_end(designer, steps):
    dv = designer(load_template("cnn"))
    start = snapshot(dv)
    for step in steps:
        run(dv, step)
    end = snapshot(dv)
    stack = dv.doc.undo_stack
    while stack.canUndo():
        stack.undo()
    assert snapshot(dv) == start
    assert len(dv.current_scene().nodes) == len(dv.doc.project.model.nodes)
    while stack.canRedo():
        stack.redo()
    assert snapshot(dv) == end
    scene = dv.current_scene()
    g = dv.doc.project.model
    assert set(scene.nodes) == {n.id for n in g.nodes}  # the canvas followed every step
    assert set(scene.edges) == {(e.src, e.dst, e.port) for e in g.edges}
