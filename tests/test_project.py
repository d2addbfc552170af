"""The project document: validation with paths, versions, atomic byte-stable saves."""

import json
import os

import pytest

from engine.project import (
    VERSION,
    Project,
    ProjectError,
    dumps_project,
    load_project,
    loads_project,
    parse_project,
    save_project,
)
from engine.templates import list_templates, load_template

DOC = {
    "format": "layerlab-project", "version": 1, "name": "my cnn",
    "data": {"dataset": "digits", "val_fraction": 0.1, "batch_size": 64, "seed": 0},
    "model": {"nodes": [{"id": "in", "type": "Input", "params": {"shape": [1, 28, 28]}},
                        {"id": "c1", "type": "Conv2d", "params": {"out_channels": 16, "kernel_size": 3, "padding": 1}},
                        {"id": "r1", "type": "ReLU", "params": {}},
                        {"id": "out", "type": "Output", "params": {}}],
              "edges": [["in", "c1"], ["c1", "r1"], ["r1", "out"]]},
    "train": {"task": "classification", "loss": "cross_entropy",
              "optimizer": {"name": "adam", "lr": 0.001}, "epochs": 5, "seed": 0, "device": "auto"},
}


def doc(**changes):
    d = json.loads(json.dumps(DOC))
    for path, value in changes.items():
        cur = d
        keys = path.split("__")
        for k in keys[:-1]:
            cur = cur[int(k)] if isinstance(cur, list) else cur[k]
        cur[keys[-1]] = value
    return d


def test_issue_example_loads():
    p = parse_project(DOC)
    assert p.name == "my cnn"
    assert [n.id for n in p.model.nodes] == ["in", "c1", "r1", "out"]
    assert p.model.inputs_of("c1") == ["in"]


def test_round_trip_is_byte_stable(tmp_path):
    p = parse_project(DOC)
    f = tmp_path / "p.json"
    save_project(p, f)
    first = f.read_bytes()
    p2 = load_project(f)
    assert p2 == p
    save_project(p2, f)
    assert f.read_bytes() == first


@pytest.mark.parametrize("t", [t.name for t in list_templates()])
def test_templates_round_trip(t, tmp_path):
    p = load_template(t)
    f = tmp_path / "t.json"
    save_project(p, f)
    assert load_project(f) == p
    assert dumps_project(load_project(f)) == f.read_text()


def _graph_problems(d):
    from engine.graph import analyze_project, problems_of

    return problems_of(analyze_project(parse_project(d)))


def test_param_error_names_node_path():
    d = doc()
    d["model"]["nodes"][1]["params"]["kernel_size"] = 0
    (e,) = _graph_problems(d)  # a graph problem: the file loads, analysis names the node and field
    assert f"{e.path}: {e.message}" == "model.nodes[c1].params.kernel_size: must be >= 1"
    assert e.node == "c1" and e.param == "kernel_size"


def test_every_problem_is_reported_at_once():
    d = doc()
    d["model"]["nodes"][1]["params"]["kernel_size"] = 0
    d["model"]["nodes"][2]["type"] = "Relu"
    d["train"]["optimizer"]["lr"] = -1
    d["data"]["val_fraction"] = 2
    with pytest.raises(ProjectError) as ei:
        parse_project(d)
    paths = {p.path for p in ei.value.problems}
    # type errors elsewhere do not hide the graph's own problems: one pass shows everything
    assert paths == {"train.optimizer.lr", "data.val_fraction", "model.nodes[c1].params.kernel_size",
                     "model.nodes[r1]"}
    d["train"]["optimizer"]["lr"] = 0.01
    d["data"]["val_fraction"] = 0.2
    assert {p.path for p in _graph_problems(d)} == {"model.nodes[c1].params.kernel_size", "model.nodes[r1]"}


def test_unknown_param_and_bad_edge_and_duplicate_id():
    d = doc()
    d["model"]["nodes"][1]["params"]["kernal_size"] = 3
    d["model"]["edges"].append(["r1", "nowhere"])
    d["model"]["nodes"].append({"id": "c1", "type": "ReLU", "params": {}})
    text = "\n".join(f"{e.path}: {e.message}" for e in _graph_problems(d))
    assert "model.nodes[c1].params.kernal_size: unknown parameter" in text
    assert "unknown node 'nowhere'" in text
    assert "duplicate node id 'c1'" in text


def test_bad_node_id_is_reported_on_its_path():
    d = doc()
    d["model"]["nodes"][2]["id"] = "r 1"
    with pytest.raises(ProjectError) as ei:
        parse_project(d)
    assert ei.value.problems[0].path == "model.nodes[r 1].id"


@pytest.mark.parametrize(
    "raw, needle",
    [
        ("{not json", "not valid JSON"),
        ("[]", "must hold a JSON object"),
        (json.dumps({"format": "something-else", "version": 1}), "not a LayerLab project"),
        (json.dumps({**DOC, "version": VERSION + 1}), "newer LayerLab"),
        (json.dumps({**DOC, "version": "one"}), "version"),
    ],
)
def test_unreadable_documents_get_one_clear_message(raw, needle):
    with pytest.raises(ProjectError) as ei:
        loads_project(raw, "x.json")
    assert needle in str(ei.value)
    assert len(ei.value.problems) == 1


def test_gan_needs_both_graphs():
    d = doc()
    d["train"]["task"] = "gan"
    with pytest.raises(ProjectError) as ei:
        parse_project(d)
    assert "models" in str(ei.value)
    g = d.pop("model")
    d["models"] = {"generator": g}
    with pytest.raises(ProjectError) as ei:
        parse_project(d)
    assert "models.discriminator: missing" in str(ei.value)


def test_atomic_save_keeps_old_file_when_write_fails(tmp_path, monkeypatch):
    f = tmp_path / "p.json"
    p = parse_project(DOC)
    save_project(p, f)
    before = f.read_bytes()
    p.name = "changed"

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        save_project(p, f)
    assert f.read_bytes() == before
    assert [x.name for x in tmp_path.iterdir()] == ["p.json"]  # no temp file left behind


def test_atomic_save_survives_a_crash_mid_write(tmp_path, monkeypatch):
    import engine.project as proj

    f = tmp_path / "p.json"
    save_project(parse_project(DOC), f)
    before = f.read_bytes()

    def half_then_crash(*a, **k):
        raise KeyboardInterrupt  # e.g. the user kills the app mid-save

    monkeypatch.setattr(proj, "dumps_project", half_then_crash)
    with pytest.raises(KeyboardInterrupt):
        save_project(parse_project(DOC), f)
    assert f.read_bytes() == before


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ProjectError, match="file not found"):
        load_project(tmp_path / "nope.json")
    with pytest.raises(ProjectError, match="folder"):
        load_project(tmp_path)


def test_defaults_make_a_valid_document():
    p = Project(model=parse_project(DOC).model)
    assert parse_project(p.to_dict()) == p


@pytest.mark.parametrize("path", ["train__epochs", "data__batch_size", "train__optimizer__lr", "data__val_fraction"])
def test_true_is_not_a_number(path):
    with pytest.raises(ProjectError) as ei:
        parse_project(doc(**{path: True}))
    assert ei.value.problems[0].path == path.replace("__", ".")
    assert "not true/false" in ei.value.problems[0].message


def test_booleans_still_work_where_they_belong():
    p = parse_project(doc(train__amp=True, train__compile=False))
    assert p.train.amp is True
