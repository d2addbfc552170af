"""compare knows a variant by the project it was made from, not only by its shapes."""

from __future__ import annotations

import pytest
from helpers import chain, linear_graph, train_tiny

from engine.cli import main


def mlp_graph() -> dict:
    return chain(("input", "Input", {"shape": [1, 28, 28]}), ("flat", "Flatten", {}),
                 ("fc1", "Linear", {"out_features": 16}), ("relu", "ReLU", {}),
                 ("fc2", "Linear", {"out_features": 10}), ("output", "Output", {}))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    a = tmp_path_factory.mktemp("run_a")
    b = tmp_path_factory.mktemp("run_b")
    train_tiny(a, mlp_graph(), limit=200)
    train_tiny(b, linear_graph(), limit=200)  # another project, the same input and output shapes
    return a, b


def _compare(run, *variants):
    return main(["compare", str(run / "project.json"), "--checkpoint", str(run / "model.pt"), *map(str, variants)])


def _export(run, out, *more):
    return main(["export", str(run / "project.json"), "--checkpoint", str(run / "model.pt"), "-o", str(out),
                 "--no-compare", *more])


def test_an_onnx_export_of_another_project_with_the_same_shapes_is_refused(runs, tmp_path, capsys):
    a, b = runs
    assert _export(a, tmp_path / "a.onnx") == 0
    capsys.readouterr()
    assert _compare(b, tmp_path / "a.onnx") == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "a.onnx") in err and "made from project 'tiny'" in err and a.name in err
    assert "not from this run's project" in err and b.name in err


def test_the_runs_own_export_quantized_and_pruned_variants_are_accepted(runs, tmp_path, capsys):
    a, _ = runs
    base = [str(a / "project.json"), "--checkpoint", str(a / "model.pt")]
    assert _export(a, tmp_path / "a.onnx") == 0
    assert _export(a, tmp_path / "a.safetensors", "--format", "safetensors") == 0
    assert main(["quantize", *base, "--method", "dynamic-int8", "-o", str(tmp_path / "q.onnx"), "--no-compare"]) == 0
    assert main(["prune", *base, "--method", "structured", "--amount", "0.5", "-o", str(tmp_path / "pruned"),
                 "--no-compare"]) == 0
    assert (tmp_path / "pruned" / "lineage.json").is_file()
    # the pruned run's own export records the original's digest
    assert _export(tmp_path / "pruned", tmp_path / "p.onnx") == 0
    capsys.readouterr()
    assert _compare(a, tmp_path / "a.onnx", tmp_path / "a.safetensors", tmp_path / "q.onnx",
                    tmp_path / "pruned", tmp_path / "p.onnx") == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "no LayerLab metadata" not in out
    for name in ("a ", "q ", "pruned", "p "):
        assert f"\n{name}" in out


def test_a_foreign_onnx_file_without_metadata_is_compared_with_a_note(runs, tmp_path, capsys):
    import onnx

    a, _ = runs
    assert _export(a, tmp_path / "a.onnx") == 0
    m = onnx.load(str(tmp_path / "a.onnx"))
    del m.metadata_props[:]  # as a file made elsewhere would be
    onnx.save(m, str(tmp_path / "elsewhere.onnx"))
    capsys.readouterr()
    assert _compare(a, tmp_path / "elsewhere.onnx") == 0, capsys.readouterr().err
    assert "elsewhere: no LayerLab metadata: cannot check it comes from this run" in capsys.readouterr().out


def test_the_digest_agrees_with_the_as_trained_rule(runs):
    from engine.project import load_project
    from engine.runs import project_differences, project_digest

    a, b = runs
    pa, pb = load_project(a / "project.json"), load_project(b / "project.json")
    renamed = pa.model_copy(update={"name": "renamed"})
    assert project_digest(renamed) == project_digest(pa) and not project_differences(renamed, pa)
    assert project_digest(pa) != project_digest(pb) and project_differences(pa, pb)
