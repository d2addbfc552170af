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
