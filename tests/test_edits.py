"""Graph edits on the document: each returns its exact inverse; ports stay 0..k-1; one undo restores bytes."""

from __future__ import annotations

import json

import pytest
from helpers import chain
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.edits import (
    UNSET,
    AddNode,
    Batch,
    Connect,
    Disconnect,
    EditError,
    GroupIntoBlock,
    MoveNodes,
    PasteFragment,
    Relabel,
    RemoveNode,
    SetParam,
    fragment_of,
    set_path,
)
from engine.graph import analyze_project  # data=None below: these graphs are not meant for any dataset
from engine.project import Project, dumps_project, parse_project
from engine.templates import load_template


def _doc(graph: dict) -> Project:
    return parse_project({"format": "layerlab-project", "version": 2, "name": "t", "model": graph})


def _residual() -> Project:
    g = chain(("x", "Input", {"shape": [8, 6, 6]}), ("c1", "Conv2d", {"out_channels": 8, "padding": 1}),
              ("r1", "ReLU", {}), ("c2", "Conv2d", {"out_channels": 8, "padding": 1}))
    g["nodes"] += [{"id": "add", "type": "Add"}, {"id": "out", "type": "Output"}]
    g["edges"] += [["c2", "add"], ["x", "add"], ["add", "out"]]
    return _doc(g)


def test_every_edit_is_undone_byte_for_byte():
    p = _residual()
    start = dumps_project(p)
    edits = [AddNode("model", {"type": "ReLU"}), SetParam("model", "c1", "out_channels", 16),
             SetParam("model", "c1", "padding", UNSET), MoveNodes("model", {"c1": (10, 20)}),
             Relabel("model", "c2", "second conv"), RemoveNode("model", "r1"), Disconnect("model", "x", "add"),
             Connect("model", "c1", "add", 0)]
    undo = []
    for e in edits:
        undo.append(e.apply(p))
    end = dumps_project(p)
    assert end != start
    for inv in reversed(undo):
        inv.apply(p)
    assert dumps_project(p) == start


def test_removing_a_merge_input_renumbers_its_ports_and_undo_restores_them():
    p = _residual()
    inv = RemoveNode("model", "c2").apply(p)
    g = p.graph_at("model")
    assert [(e.src, e.port) for e in g.edges_into("add")] == [("x", 0)]
    inv.apply(p)
    assert g.inputs_of("add") == ["c2", "x"]


def test_connect_into_a_merge_port_inserts_in_order():
    p = _residual()
    Connect("model", "r1", "add", 1).apply(p)
    assert p.graph_at("model").inputs_of("add") == ["c2", "r1", "x"]


def test_connect_into_a_single_input_layer_replaces_its_input():
    p = _residual()
    Connect("model", "x", "c2").apply(p)
    assert p.graph_at("model").inputs_of("c2") == ["x"]


@pytest.mark.parametrize("src, dst, needle", [("add", "c1", "cycle"), ("c1", "x", "nothing can be connected"),
                                              ("c1", "c1", "itself"), ("c1", "ghost", "no node 'ghost'")])
def test_impossible_connections_are_refused_and_change_nothing(src, dst, needle):
    p = _residual()
    before = dumps_project(p)
    with pytest.raises(EditError, match=needle):
        Connect("model", src, dst).apply(p)
    assert dumps_project(p) == before


def test_a_failing_batch_leaves_the_document_as_it_was():
    p = _residual()
    before = dumps_project(p)
    with pytest.raises(EditError):
        Batch([SetParam("model", "c1", "out_channels", 4), Connect("model", "add", "c1")]).apply(p)
    assert dumps_project(p) == before


def test_paste_renames_taken_ids_and_keeps_internal_connections():
    p = _residual()
    frag = json.loads(json.dumps(fragment_of(p, "model", ["c1", "r1", "c2"])))
    q = _residual()
    patch = PasteFragment("model", frag).apply(q)
    new = patch.result
    assert len(new) == 3 and not set(new) & {"c1", "r1", "c2"}
    g = q.graph_at("model")
    assert g.inputs_of(new[1]) == [new[0]] and g.inputs_of(new[2]) == [new[1]]
    patch.apply(q)
    assert dumps_project(q) == dumps_project(_residual())


def test_group_into_block_compiles_to_nested_readable_names_and_same_parameter_count():
    import torch

    from engine.graph import compile_project_graph

    p = _residual()
    before = analyze_project(p, data=None)["model"].total_params
    GroupIntoBlock("model", ["c1", "r1", "c2", "add"], "resblock").apply(p)
    res = analyze_project(p, data=None)
    assert res["model"].ok, res["model"].errors
    assert res["model"].total_params == before
    block_id = next(n.id for n in p.graph_at("model").nodes if n.type == "Block")
    model, _ = compile_project_graph(p, "model")
    names = [k for k, _ in model.named_parameters()]
    assert f"{block_id}.c1.weight" in names
    assert model(torch.randn(2, 8, 6, 6)).shape == (2, 8, 6, 6)


def test_a_block_used_twice_fits_each_place_and_has_its_own_weights():
    import torch

    from engine.graph import compile_project_graph

    p = _residual()
    GroupIntoBlock("model", ["c1", "r1", "c2", "add"], "res").apply(p)
    b1 = next(n.id for n in p.graph_at("model").nodes if n.type == "Block")
    # a second use between the first block and the Output
    AddNode("model", {"id": "b2", "type": "Block", "params": {"block": "res"}}).apply(p)
    Connect("model", b1, "b2").apply(p)
    Connect("model", "b2", "out").apply(p)
    res = analyze_project(p, data=None)
    assert res["model"].ok, res["model"].errors
    model, _ = compile_project_graph(p)
    sd = model.state_dict()
    assert f"{b1}.c1.weight" in sd and "b2.c1.weight" in sd
    assert sd[f"{b1}.c1.weight"].data_ptr() != sd["b2.c1.weight"].data_ptr()
    assert model(torch.randn(1, 8, 6, 6)).shape == (1, 8, 6, 6)


def test_group_refuses_a_selection_with_two_exits():
    p = _residual()
    with pytest.raises(EditError, match="one output"):
        GroupIntoBlock("model", ["c1", "c2"], "b").apply(p)  # c1 feeds r1 and c2 feeds add: two exits
    GroupIntoBlock("model", ["c1"], "b").apply(p)  # one exit (r1) is fine
    assert analyze_project(p, data=None)["model"].ok


def test_override_paths_name_nodes_by_id():
    d = load_template("cnn").to_dict()
    set_path(d, "model.nodes[conv1].params.out_channels", 8)
    set_path(d, "train.epochs", 2)
    p = parse_project(d)
    assert p.graph_at("model").node("conv1").params["out_channels"] == 8 and p.train.epochs == 2
    with pytest.raises(ValueError, match="no item with id"):
        set_path(d, "model.nodes[nope].params.x", 1)


# -- random edit sequences: undo everything restores the start, redo everything restores the end ----

_TYPES = ["ReLU", "Conv2d", "Linear", "Flatten", "Add", "Concat", "Dropout", "BatchNorm2d"]


@st.composite
def _edit_script(draw):
    return draw(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 50), st.integers(0, 50),
                                   st.sampled_from(_TYPES), st.integers(1, 64)), min_size=1, max_size=25))


def _pick(ids, k):
    return ids[k % len(ids)] if ids else None


def _make_edit(p: Project, op, a, b, t, v):
    ids = [n.id for n in p.graph_at("model").nodes]
    if op == 0:
        return AddNode("model", {"type": t, "pos": [a * 10.0, b * 10.0]})
    if op == 1:
        return RemoveNode("model", _pick(ids, a))
    if op == 2:
        return Connect("model", _pick(ids, a), _pick(ids, b), None if v % 2 else v % 3)
    if op == 3:
        g = p.graph_at("model")
        if not g.edges:
            return None
        e = g.edges[a % len(g.edges)]
        return Disconnect("model", e.src, e.dst, e.port)
    if op == 4:
        return SetParam("model", _pick(ids, a), "out_features" if v % 2 else "out_channels", v)
    if op == 5:
        return MoveNodes("model", {_pick(ids, a): (a, b)})
    if op == 6:
        return Relabel("model", _pick(ids, a), f"label {v}" if v % 3 else None)
    return SetParam("model", _pick(ids, a), "out_channels", UNSET)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_edit_script())
def test_random_edit_sequences_undo_to_the_start_and_redo_to_the_end(script):
    p = load_template("cnn")
    start = dumps_project(p)
    undo = []
    for op, a, b, t, v in script:
        e = _make_edit(p, op, a, b, t, v)
        if e is None:
            continue
        try:
            undo.append(e.apply(p))
        except EditError:
            pass
        analyze_project(p, data=None)  # never raises, whatever the edits made
    end = dumps_project(p)
    redo = [inv.apply(p) for inv in reversed(undo)]
    assert dumps_project(p) == start
    for r in reversed(redo):
        r.apply(p)
    assert dumps_project(p) == end
