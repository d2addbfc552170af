"""One-click fixes: each error with a mechanical repair offers edits that make the graph compile."""

from __future__ import annotations

from helpers import chain

from engine.graph import analyze_project  # data=None below: these graphs are not meant for any dataset
from engine.project import Project, parse_project


def _p(graph: dict) -> Project:
    return parse_project({"format": "layerlab-project", "version": 2, "name": "t", "model": graph})


def _apply_first_fix(p: Project, node: str):
    err = next(e for e in analyze_project(p, data=None)["model"].errors if e.node == node and e.fixes)
    err.fixes[0].as_edit().apply(p)
    return err


def test_linear_fed_a_feature_map_gets_a_flatten():
    p = _p(chain(("x", "Input", {"shape": [1, 28, 28]}), ("c1", "Conv2d", {"out_channels": 4}),
                 ("fc", "Linear", {"out_features": 10}), ("out", "Output", {})))
    err = _apply_first_fix(p, "fc")
    assert "Insert a Flatten before fc" == err.fixes[0].title
    res = analyze_project(p, data=None)["model"]
    assert res.ok and res.node("out").output_shape == (10,)


def test_add_with_different_widths_offers_matching_the_width_or_a_projection():
    g = chain(("x", "Input", {"shape": [8, 6, 6]}), ("c1", "Conv2d", {"out_channels": 16, "padding": 1}),
              ("r1", "ReLU", {}))
    g["nodes"] += [{"id": "add", "type": "Add"}, {"id": "out", "type": "Output"}]
    g["edges"] += [["x", "add"], ["r1", "add"], ["add", "out"]]
    p = _p(g)
    err = next(e for e in analyze_project(p, data=None)["model"].errors if e.node == "add")
    titles = [f.title for f in err.fixes]
    assert titles[0] == "Make c1.out_channels 8 so add's inputs match"
    assert any("1×1 Conv2d on the skip" in t for t in titles)
    q = _p(g)
    err.fixes[0].as_edit().apply(p)
    assert analyze_project(p, data=None)["model"].ok
    next(f for f in err.fixes if "1×1" in f.title).as_edit().apply(q)
    assert analyze_project(q, data=None)["model"].ok


def test_flat_vector_into_a_conv_gets_a_reshape_and_bad_params_a_reset():
    p = _p(chain(("x", "Input", {"shape": [784]}), ("c1", "Conv2d", {"out_channels": 4, "kernel_size": 0}),
                 ("out", "Output", {})))
    _apply_first_fix(p, "c1")  # kernel_size 0 -> default
    _apply_first_fix(p, "c1")  # [784] -> Reshape [1, 28, 28]
    assert analyze_project(p, data=None)["model"].ok


def test_a_connection_to_a_missing_node_can_be_dropped():
    g = chain(("x", "Input", {"shape": [3]}), ("out", "Output", {}))
    g["edges"].append(["ghost", "out"])
    p = _p(g)
    err = next(e for e in analyze_project(p, data=None)["model"].errors if e.fixes)
    assert err.fixes[0].title == "Remove the connection ghost -> out"
    err.fixes[0].as_edit().apply(p)
    assert analyze_project(p, data=None)["model"].ok
