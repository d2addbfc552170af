"""The `layerlab` verbs (fast ones, in-process through engine.cli.main)."""

import json

import pytest

from engine.cli import main
from engine.project import load_project
from engine.templates import list_templates


def test_templates_lists_the_supervised_four(capsys):
    assert main(["templates"]) == 0
    out = capsys.readouterr().out
    for name in ("mlp", "cnn", "lstm", "transformer"):
        assert name in out


def test_layers_json_lists_every_registry_entry(capsys):
    from engine.layers import REGISTRY

    assert main(["layers", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {x["type"] for x in listed} == set(REGISTRY)
    conv = next(x for x in listed if x["type"] == "Conv2d")
    assert any(p["name"] == "kernel_size" for p in conv["params"])
    assert conv["doc"]


@pytest.mark.parametrize("template", [t.name for t in list_templates()])
def test_new_then_check_every_template(template, tmp_path, capsys):
    f = tmp_path / f"{template}.json"
    assert main(["new", "--template", template, "-o", str(f)]) == 0
    assert load_project(f).to_dict()["format"] == "layerlab-project"
    report = tmp_path / "r.json"
    assert main(["check", str(f), "--report", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["ok"] is True and r["errors"] == []
    assert r["total_params"] > 0 and r["total_macs"] > 0
    assert all({"id", "type", "output_shape", "params", "macs"} <= set(n) for n in r["nodes"])


def test_check_cnn_table_and_counts(tmp_path, capsys):
    f = tmp_path / "cnn.json"
    main(["new", "-t", "cnn", "-o", str(f)])
    capsys.readouterr()
    assert main(["check", str(f)]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "[32, 28, 28]" in out and "[10]" in out


def test_check_reports_shape_errors_per_node(tmp_path, capsys):
    f = tmp_path / "bad.json"
    main(["new", "-t", "cnn", "-o", str(f)])
    d = json.loads(f.read_text())
    # an Add of [32,28,28] and [64,14,14] is a shape mismatch on the add node
    d["model"]["nodes"].append({"id": "add", "type": "Add", "params": {}})
    d["model"]["edges"] += [["relu1", "add"], ["relu2", "add"]]
    f.write_text(json.dumps(d))
    report = tmp_path / "r.json"
    capsys.readouterr()
    assert main(["check", str(f), "--report", str(report)]) == 2
    r = json.loads(report.read_text())
    assert not r["ok"]
    assert any(e["node"] == "add" for e in r["errors"])
    assert "add" in capsys.readouterr().err


def test_check_bad_param_exits_2_without_traceback(tmp_path, capsys):
    f = tmp_path / "bad.json"
    main(["new", "-t", "cnn", "-o", str(f)])
    d = json.loads(f.read_text())
    d["model"]["nodes"][1]["params"]["kernel_size"] = 0
    f.write_text(json.dumps(d))
    capsys.readouterr()
    assert main(["check", str(f)]) == 2
    err = capsys.readouterr().err
    assert "model.nodes[conv1].params.kernel_size: must be >= 1" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("content", ["{", '{"format": "other"}', '{"format": "layerlab-project", "version": 99}'])
def test_unreadable_files_exit_2(content, tmp_path, capsys):
    f = tmp_path / "x.json"
    f.write_text(content)
    assert main(["check", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


def test_new_refuses_to_overwrite_and_unknown_template(tmp_path, capsys):
    f = tmp_path / "a.json"
    f.write_text("keep me")
    assert main(["new", "-t", "cnn", "-o", str(f)]) == 2
    assert f.read_text() == "keep me"
    assert main(["new", "-t", "nope", "-o", str(tmp_path / "b.json")]) == 2
    assert "unknown template 'nope'" in capsys.readouterr().err


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["check"])
    assert ei.value.code == 2
