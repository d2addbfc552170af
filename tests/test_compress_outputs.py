"""Where export / quantize write: relative paths, cleanup after a failed check, the project as trained,
and never over the run's own files."""

from __future__ import annotations

import json

import pytest
from helpers import linear_graph, train_tiny

import engine.export as ex
from engine.cli import main
from engine.compress.errors import VerificationError

NORM = [{"type": "normalize", "params": {"mean": [0.1307], "std": [0.3081]}}]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    train_tiny(d, linear_graph(), augment=NORM, limit=200)
    return d


def args(run_dir, verb, *more, project=None):
    return [verb, str(project or run_dir / "project.json"), "--checkpoint", str(run_dir / "model.pt"), *more]


@pytest.mark.parametrize("fmt", ["pt2", "python"])
def test_fresh_process_exports_verify_with_a_relative_output_path(run_dir, tmp_path, monkeypatch, capsys, fmt):
    monkeypatch.chdir(tmp_path)
    assert main(args(run_dir, "export", "--format", fmt, "-o", "out/m", "--no-compare")) == 0, capsys.readouterr().err
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    want = {"pt2": ["m.pt2", "m.pt2.md"], "python": ["m.py", "m.py.md", "m_weights.pt"]}[fmt]
    assert written == want


@pytest.mark.parametrize("fmt,target", [("pt2", "run_in_fresh_process"), ("python", "run_in_fresh_process"),
                                        ("onnx", "run_onnx")])
def test_a_verification_that_raises_leaves_no_file_behind_and_exits_1(run_dir, tmp_path, monkeypatch, capsys,
                                                                      fmt, target):
    def broken(*a, **k):
        raise VerificationError("the checker crashed")

    monkeypatch.setattr(ex, target, broken)
    assert main(args(run_dir, "export", "--format", fmt, "-o", str(tmp_path / "m"), "--no-compare")) == 1
    assert "the checker crashed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_project_file_that_is_not_the_one_trained_is_refused_naming_the_difference(run_dir, tmp_path, capsys):
    p = json.loads((run_dir / "project.json").read_text())
    p["data"]["augment"] = []  # the run normalised its inputs; this file says it did not
    other = tmp_path / "other.json"
    other.write_text(json.dumps(p))
    assert main(args(run_dir, "export", "-o", str(tmp_path / "m.onnx"), "--no-compare", project=other)) == 2
    err = capsys.readouterr().err
    assert "not the project this run was trained with" in err and "data.augment" in err and "normalize" in err
    assert str(run_dir / "project.json") in err and not (tmp_path / "m.onnx").exists()

    p = json.loads((run_dir / "project.json").read_text())
    fc = next(n for n in p["model"]["nodes"] if n["id"] == "fc")
    fc["params"]["bias"] = False
    other.write_text(json.dumps(p))
    assert main(args(run_dir, "quantize", "--method", "fp16", "-o", str(tmp_path / "h.pt"), project=other)) == 2
    assert "node 'fc' bias = False, trained with True" in capsys.readouterr().err


def test_a_project_file_that_differs_only_in_name_positions_and_epochs_is_the_run_as_trained(run_dir, tmp_path):
    from engine.runs import open_run

    p = json.loads((run_dir / "project.json").read_text())
    p["name"], p["description"], p["train"]["epochs"] = "renamed", "a note", 40
    p["model"]["nodes"][1]["pos"] = [300.0, 10.0]
    fc = next(n for n in p["model"]["nodes"] if n["id"] == "fc")
    fc["params"]["bias"] = True  # the default, now written out
    other = tmp_path / "same.json"
    other.write_text(json.dumps(p))
    assert open_run(run_dir / "model.pt", other).project.name == "renamed"
    assert open_run(run_dir, other).project.name == "renamed"


def test_export_and_quantize_never_overwrite_the_checkpoint_or_the_runs_files(run_dir, tmp_path, capsys):
    files = {n: (run_dir / n).read_bytes() for n in ("model.pt", "project.json")}
    cases = [
        (["export", "--format", "state-dict", "-o", str(run_dir / "model.pt"), "--force"], "--checkpoint file itself"),
        (["export", "--format", "onnx", "-o", str(run_dir / "model.pt")], "is a .onnx file, not .pt"),
        (["export", "--format", "onnx", "-o", str(run_dir / "project.json")], "name it project.onnx"),
        (["export", "--format", "state-dict", "-o", str(run_dir / "checkpoints" / "best.pt"), "--force"],
         "inside the run's checkpoints/"),
        (["quantize", "--method", "fp16", "-o", str(run_dir / "model.pt"), "--force"], "--checkpoint file itself"),
        (["quantize", "--method", "static-int8", "-o", str(tmp_path / "q.pt")], "is a .onnx file, not .pt"),
    ]
    for argv, msg in cases:
        assert main(args(run_dir, argv[0], *argv[1:], "--no-compare")) == 2, argv
        assert msg in capsys.readouterr().err, argv
    assert {n: (run_dir / n).read_bytes() for n in files} == files


def test_an_existing_output_file_is_replaced_only_with_force(run_dir, tmp_path, capsys):
    out = tmp_path / "w.pt"
    out.write_bytes(b"keep me")
    assert main(args(run_dir, "export", "--format", "state-dict", "-o", str(out), "--no-compare")) == 2
    assert "already exists; pass --force" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert main(args(run_dir, "export", "--format", "state-dict", "-o", str(out), "--no-compare", "--force")) == 0
    assert out.read_bytes() != b"keep me"


@pytest.mark.parametrize("out,msg", [("/", "is a folder: give a file name"), ("DIR", "is a folder: give a file name"),
                                     ("DIR/", "is a folder: give a file name")])
def test_an_output_that_names_no_file_is_bad_input(run_dir, tmp_path, capsys, out, msg):
    (tmp_path / "d").mkdir()
    out = out.replace("DIR", str(tmp_path / "d"))
    assert main(args(run_dir, "export", "-o", out, "--no-compare")) == 2
    assert msg in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "d"] and list((tmp_path / "d").iterdir()) == []


def test_exported_files_follow_the_umask_like_every_other_write(run_dir, tmp_path):
    import os
    import stat

    from engine.runs import open_run

    old = os.umask(0o022)
    try:
        (res,) = ex.export_run(open_run(run_dir / "model.pt"), "safetensors", tmp_path / "w")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(res.path).st_mode) == 0o644


@pytest.fixture(scope="module")
def other_run(run_dir, tmp_path_factory):
    """A run folder of another project: the same input, 12 outputs instead of 10 (weights made up)."""
    import shutil

    import torch

    d = tmp_path_factory.mktemp("other") / "run"
    shutil.copytree(run_dir, d)
    p = json.loads((d / "project.json").read_text())
    next(n for n in p["model"]["nodes"] if n["id"] == "fc")["params"]["out_features"] = 12
    (d / "project.json").write_text(json.dumps(p))
    torch.save({"fc.weight": torch.randn(12, 784), "fc.bias": torch.zeros(12)}, d / "model.pt")
    shutil.rmtree(d / "checkpoints")
    return d


def test_compare_refuses_a_variant_of_another_project_and_a_file_that_is_no_model(run_dir, other_run, tmp_path,
                                                                                   capsys):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00 not a model")
    assert main(args(run_dir, "compare", str(junk))) == 2
    assert "junk.onnx: not an ONNX model onnxruntime can load" in capsys.readouterr().err
    assert main(args(run_dir, "compare", str(other_run))) == 2
    assert "not a variant of this model: its output is [12]" in capsys.readouterr().err
    assert main(args(other_run, "export", "-o", str(tmp_path / "o12.onnx"), "--no-compare")) == 0
    assert main(args(run_dir, "compare", str(tmp_path / "o12.onnx"))) == 2
    assert "not a variant of this model" in capsys.readouterr().err


def test_compare_measures_safetensors_exports_counts_onnx_params_like_torch_and_says_why_not_pt2(run_dir, tmp_path,
                                                                                                 capsys):
    for fmt in ("onnx", "safetensors"):
        assert main(args(run_dir, "export", "--format", fmt, "-o", str(tmp_path / "m"), "--no-compare")) == 0
    rep = tmp_path / "r.json"
    assert main(args(run_dir, "compare", str(tmp_path / "m.onnx"), str(tmp_path / "m.safetensors"),
                     "--report", str(rep))) == 0
    rows = json.loads(rep.read_text())["variants"]
    assert [r["runtime"] for r in rows] == ["torch", "onnxruntime", "torch"]
    assert rows[1]["params"] == rows[0]["params"] == rows[2]["params"]  # no mean/std/shape constants counted
    assert rows[1]["agreement"] == rows[2]["agreement"] == 1.0
    (tmp_path / "m.pt2").write_bytes(b"PK")
    assert main(args(run_dir, "compare", str(tmp_path / "m.pt2"))) == 2
    assert "torch.export.load may unpickle" in capsys.readouterr().err


def test_compare_has_no_no_compare_flag(run_dir, capsys):
    with pytest.raises(SystemExit) as e:
        main(args(run_dir, "compare", "--no-compare"))
    assert e.value.code == 2 and "--no-compare" in capsys.readouterr().err


@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory):
    from helpers import chain

    d = tmp_path_factory.mktemp("lstm")
    train_tiny(d, chain(("input", "Input", {"shape": [1, 28, 28]}), ("rows", "Reshape", {"shape": [28, 28]}),
                        ("lstm", "LSTM", {"hidden_size": 16}), ("fc", "Linear", {"out_features": 10}),
                        ("output", "Output", {})), limit=200, max_steps=2)
    return d


def test_a_quantization_or_pruning_that_changes_little_says_so_and_warnings_stay_quiet(lstm_run, tmp_path, capsys):
    assert main(args(lstm_run, "quantize", "--method", "static-int8", "-o", str(tmp_path / "q"), "--no-compare")) == 0
    out, err = capsys.readouterr()
    assert "note: only" in out and "LSTM stayed in float" in out and "dynamic-int8" in out
    assert "Warning" not in err  # torch's FutureWarning / UserWarning noise
    assert main(args(lstm_run, "prune", "--method", "structured", "-o", str(tmp_path / "p"), "--no-compare")) == 0
    assert "note: nothing was pruned" in capsys.readouterr().out


def test_quantize_writes_a_model_card_beside_its_file(run_dir, tmp_path, capsys):
    assert main(args(run_dir, "quantize", "--method", "dynamic-int8", "-o", str(tmp_path / "q"), "--no-compare")) == 0
    card = (tmp_path / "q.onnx.md").read_text()
    assert "## Quantization" in card and "dynamic" in card and "agreement" in card and "raw pixel values 0–255" in card
    assert "card" in capsys.readouterr().out


def test_model_cards_say_what_goes_in_and_comes_out_for_a_generator_and_a_vae(tmp_path):
    from engine.export.card import output_description, use_snippet
    from engine.graph import analyze, compile_graph
    from engine.runs import Run
    from engine.templates import load_template

    def parts(run, role):
        g = run.project.graph(role)
        module, _ = compile_graph(g, graph_path=run.graph_path(role))
        return module, analyze(g, run.graph_path(role))

    gan = Run(tmp_path, load_template("dcgan"))
    m, res = parts(gan, "generator")
    code = "\n".join(use_snippet(gan, "generator", m, "onnx", tmp_path / "g.onnx", False))
    assert "logits" not in code and "pixels" not in code and "np.random.randn(1, " in code and "+ 1) / 2" in code
    assert "−1..1" in output_description(gan, "generator", res)
    vae = Run(tmp_path, load_template("vae"))
    m, res = parts(vae, "decoder")
    code = "\n".join(use_snippet(vae, "decoder", m, "pt2", tmp_path / "d.pt2", False))
    assert "np.exp(-y)" in code and "randn" in code and "sigmoid" in output_description(vae, "decoder", res)
    m, res = parts(vae, "encoder")
    assert "mu, logvar" in "\n".join(use_snippet(vae, "encoder", m, "python", tmp_path / "e.py", True))
    assert "`mu`" in output_description(vae, "encoder", res) and "`logvar`" in output_description(vae, "encoder", res)
