"""Version 2 documents: edges name the input port they feed; version 1 files migrate on load."""

from __future__ import annotations

import json

import torch

from engine.graph import analyze, compile_graph
from engine.project import VERSION, dumps_project, load_project


def _v1_concat() -> dict:
    return {"format": "layerlab-project", "version": 1, "name": "v1",
            "model": {"nodes": [{"id": "a", "type": "Input", "params": {"shape": [2]}},
                                {"id": "b", "type": "Input", "params": {"shape": [3]}},
                                {"id": "cat", "type": "Concat", "params": {}},
                                {"id": "out", "type": "Output"}],
                      "edges": [["b", "cat"], ["a", "cat"], ["cat", "out"]]}}


def test_version_1_file_opens_with_its_edge_order_as_ports_and_saves_as_version_2(tmp_path):
    f = tmp_path / "old.json"
    f.write_text(json.dumps(_v1_concat()))
    p = load_project(f)
    g = p.graph_at("model")
    assert [(e.src, e.port) for e in g.edges_into("cat")] == [("b", 0), ("a", 1)]
    saved = json.loads(dumps_project(p))
    assert saved["version"] == VERSION == 2
    assert saved["model"]["edges"][0] == {"src": "b", "dst": "cat", "port": 0}


def test_port_order_is_the_input_order_whatever_the_list_order():
    g = _v1_concat()["model"]
    g["edges"] = [{"src": "a", "dst": "cat", "port": 1}, {"src": "b", "dst": "cat", "port": 0}, ["cat", "out"]]
    model, _ = compile_graph(g)
    out = model(torch.zeros(1, 2), torch.ones(1, 3))  # inputs in document order: a, b
    assert out.tolist() == [[1, 1, 1, 0, 0]]  # b (port 0) first


def test_duplicate_and_missing_ports_are_errors_on_the_node():
    g = _v1_concat()["model"]
    g["edges"] = [{"src": "a", "dst": "cat", "port": 0}, {"src": "b", "dst": "cat", "port": 0}, ["cat", "out"]]
    assert "port 0 is fed by more than one" in analyze(g).errors_for("cat")[0].message
    g["edges"][1]["port"] = 2
    assert "input port 1 is empty" in analyze(g).errors_for("cat")[0].message
