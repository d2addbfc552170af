"""The compress/export verbs: what they write, their reports (`variants`), and their exit codes."""

from __future__ import annotations

import json

import pytest
from helpers import small_cnn, train_tiny

from engine.cli import main

KEYS = {"name", "path", "params", "nonzero_params", "size_bytes", "latency_ms_b1", "latency_ms_b64", "val_accuracy",
        "agreement"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    train_tiny(d, small_cnn(), limit=300)
    return d


def args(run_dir, verb, *more):
    return [verb, str(run_dir / "project.json"), "--checkpoint", str(run_dir / "model.pt"), *more]


def test_export_writes_the_file_prints_the_verification_and_reports_variants(run_dir, tmp_path, capsys):
    rep = tmp_path / "r.json"
    assert main(args(run_dir, "export", "--format", "onnx", "-o", str(tmp_path / "m.onnx"), "--report", str(rep))) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "max abs diff" in out and "original" in out
    r = json.loads(rep.read_text())
    assert [v["name"] for v in r["variants"]] == ["original", "m"]
    assert all(KEYS <= set(v) for v in r["variants"]) and r["variants"][1]["agreement"] == 1.0
    assert (tmp_path / "m.onnx").is_file() and (tmp_path / "m.onnx.md").is_file()


def test_a_failed_verification_exits_1(run_dir, tmp_path, monkeypatch, capsys):
    import engine.export as ex

    real = ex.run_onnx
    monkeypatch.setattr(ex, "run_onnx", lambda p, a: real(p, a) * 2)
    assert main(args(run_dir, "export", "--format", "onnx", "-o", str(tmp_path / "m.onnx"), "--no-compare")) == 1
    assert "verification failed" in capsys.readouterr().err


def test_prune_then_compare_lists_the_original_first(run_dir, tmp_path, capsys):
    assert main(args(run_dir, "prune", "--method", "structured", "--amount", "0.5", "-o", str(tmp_path / "p"),
                     "--no-compare")) == 0
    assert "conv1" in capsys.readouterr().out
    rep = tmp_path / "c.json"
    assert main(args(run_dir, "compare", str(tmp_path / "p"), "--report", str(rep))) == 0
    rows = json.loads(rep.read_text())["variants"]
    assert [r["name"] for r in rows] == ["original", "p"] and rows[1]["params"] < rows[0]["params"]


def test_quantize_fp16_reports_the_storage_format_note(run_dir, tmp_path, capsys):
    rep = tmp_path / "q.json"
    assert main(args(run_dir, "quantize", "--method", "fp16", "-o", str(tmp_path / "h.pt"), "--report", str(rep))) == 0
    rows = json.loads(rep.read_text())["variants"]
    assert rows[1]["dtype"] == "fp16" and "storage format" in rows[1]["note"]


@pytest.mark.parametrize("bad,msg", [
    (["--checkpoint", "nope.pt"], "not found"),
    (["--method", "int3"], "invalid choice"),
])
def test_bad_input_exits_2_with_a_message_naming_it(run_dir, tmp_path, capsys, bad, msg):
    argv = ["quantize", str(run_dir / "project.json"), "--checkpoint", str(run_dir / "model.pt"),
            "-o", str(tmp_path / "x.onnx")]
    if bad[0] == "--checkpoint":
        argv[3] = str(tmp_path / bad[1])
    else:
        argv += bad
    with pytest.raises(SystemExit) if bad[0] == "--method" else _nothing() as e:
        code = main(argv)
    code = e.value.code if bad[0] == "--method" else code
    assert code == 2 and msg in capsys.readouterr().err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_building_the_parser_with_every_verb_imports_no_torch():
    """`layerlab --help` and `layerlab check` build every verb's parser: that must not pull in torch (≈1 s)."""
    import subprocess
    import sys

    code = ("import sys, engine.cli as c; p = c.build_parser(); "
            "p.parse_args(['quantize', 'p.json', '--checkpoint', 'm.pt', '-o', 'q.onnx']); "
            "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_verbs_choices_are_the_methods_and_formats_the_engine_knows():
    from engine.compress import names, prune, quantize
    from engine.export import FORMATS

    assert prune.METHODS == names.PRUNE_METHODS and quantize.METHODS == names.QUANT_METHODS
    assert FORMATS == names.EXPORT_FORMATS


@pytest.mark.parametrize("verb,default", [("prune", "(default: global)"), ("quantize", "(default: static-int8)"),
                                          ("distill", "(default: 4.0)"), ("export", "(default: onnx)")])
def test_each_verbs_help_shows_its_defaults_and_exit_codes(capsys, monkeypatch, verb, default):
    monkeypatch.setenv("COLUMNS", "250")  # no line breaks inside a default
    with pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and default in out and "Exit codes: 0" in out and "2 bad input" in out
    assert "(default: None)" not in out and "(default: False)" not in out
