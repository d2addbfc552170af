"""`check`, the studio and `train` compare the model with its data, in one place (engine.graph) and in
the same words: the node, what it produces, what the data needs, and the fix."""

from __future__ import annotations

import json

import pytest

from engine.graph import analyze_project, problems_of
from engine.graph.datacheck import DataFacts, data_facts
from engine.project import parse_project
from engine.templates import load_template


def _doc(template: str) -> dict:
    return json.loads(json.dumps(load_template(template).to_dict()))


def _node(d: dict, node_id: str, graph: str = "model") -> dict:
    g = d["model"] if graph == "model" else d["models"][graph]
    return next(n for n in g["nodes"] if n["id"] == node_id)


def _errors(d: dict, data="auto") -> list:
    return problems_of(analyze_project(parse_project(d), data=data))


def test_every_template_fits_its_data():
    from engine.templates import list_templates

    for t in list_templates():
        assert not problems_of(analyze_project(load_template(t.name))), t.name


def test_digits_facts_are_known_without_loading_anything():
    f = data_facts(load_template("cnn").data, "classification")
    assert f.sample_shape == (1, 28, 28) and f.num_classes == 10


def test_input_shape_against_the_data():
    d = _doc("mlp")
    _node(d, "input")["params"]["shape"] = [3, 32, 32]
    (e,) = _errors(d)
    assert e.node == "input" and e.param == "shape"
    assert "[3, 32, 32]" in e.message and "[1, 28, 28]" in e.message and "set input's shape to [1, 28, 28]" in e.message
    assert e.fixes and e.fixes[0].title == "Set input's shape to [1, 28, 28]"


def test_classes_against_the_last_layer():
    d = _doc("mlp")
    last = [n for n in d["model"]["nodes"] if n["type"] == "Linear"][-1]
    last["params"]["out_features"] = 5
    (e,) = _errors(d)
    assert e.node == last["id"] and e.param == "out_features"
    assert "produces 5 values per sample" in e.message and "10 scores per sample" in e.message
    assert f"set {last['id']}'s out_features to 10" in e.message
    # the fix really repairs it
    from engine.edits import Batch

    project = parse_project(d)
    Batch(list(e.fixes[0].edits)).apply(project)
    assert not problems_of(analyze_project(project))


def test_a_feature_map_output_names_the_missing_flatten_and_head():
    d = _doc("cnn")
    g = d["model"]
    keep = {"input", "conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2", "pool2", "output"}
    g["nodes"] = [n for n in g["nodes"] if n["id"] in keep]
    g["edges"] = [e for e in g["edges"] if e["src"] in keep and e["dst"] in keep] + [
        {"src": "pool2", "dst": "output", "port": 0}]
    (e,) = _errors(d)
    assert e.node == "pool2" and "[64, 7, 7]" in e.message
    assert "insert a Flatten and a Linear with 10 outputs before output" in e.message


def test_regression_needs_one_value():
    d = _doc("mlp")
    d["train"]["task"] = "regression"
    d["train"]["loss"] = "mse"
    (e,) = _errors(d)
    assert "needs 1 value per sample (the regression target)" in e.message and "to 1" in e.message


def test_gan_roles_against_the_data():
    d = _doc("dcgan")
    gen_in = next(n for n in d["models"]["discriminator"]["nodes"] if n["type"] == "Input")
    gen_in["params"]["shape"] = [3, 28, 28]
    errs = _errors(d)
    assert any(e.graph == "models.discriminator" and e.node == gen_in["id"] and "[1, 28, 28]" in e.message
               for e in errs), errs


def test_other_data_changes_the_verdict():
    d = _doc("cnn")  # [1, 28, 28] input: fine for digits, wrong for CIFAR-10's [3, 32, 32]
    errs = _errors(d, data=DataFacts((3, 32, 32), 10, "CIFAR-10"))
    assert any(e.node == "input" and "CIFAR-10 gives [3, 32, 32]" in e.message for e in errs)
    assert not _errors(d, data=None)


def test_check_and_train_give_the_same_message(tmp_path, capsys):
    from engine.cli import main

    d = _doc("mlp")
    last = [n for n in d["model"]["nodes"] if n["type"] == "Linear"][-1]
    last["params"]["out_features"] = 7
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(d))
    assert main(["check", str(p)]) == 2
    check_err = capsys.readouterr().err
    want = f"set {last['id']}'s out_features to 10"
    assert want in check_err and "ok: the model compiles" not in check_err
    assert main(["train", str(p), "--max-steps", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    train_err = capsys.readouterr().err
    assert want in train_err and "produces 7 values per sample" in train_err


@pytest.mark.gui
def test_the_studio_shows_it_on_the_node_and_refuses_to_train(qtbot, tmp_home):
    from studio_fakes import QuietPrompts

    from app.bridge import RunnerBridge
    from app.window import MainWindow

    win = MainWindow(prompts=QuietPrompts(), bridge=RunnerBridge(factory=lambda m: pytest.fail("no run")),
                     probe_devices=False)
    qtbot.addWidget(win)
    d = _doc("mlp")
    _node(d, "input")["params"]["shape"] = [3, 32, 32]
    win.doc.replace(parse_project(d), None)
    top = win.project_panel.tree.topLevelItem(0)
    item = next(top.child(i) for i in range(top.childCount()) if top.child(i).text(0) == "input")
    assert "set input's shape to [1, 28, 28]" in item.toolTip(0)
    assert not win.train_view.start()
    title, message, _ = win.prompts.errors[-1]
    assert "set input's shape to [1, 28, 28]" in message
    win.shutdown()
