"""``analyze`` estimates memory from shapes and refuses (or warns) before anything is allocated, naming
the node and the figure; error lists are summarised past a bound; big graphs stay usable; out of
memory on the CPU gets the same explanation as on CUDA."""

from __future__ import annotations

import json

import pytest
from helpers import chain

from engine.cli import main
from engine.graph import analyze, analyze_project
from engine.project import Project


def _conv_project(out_channels: int, batch: int = 64) -> Project:
    g = chain(("input", "Input", {"shape": [1, 28, 28]}),
              ("c1", "Conv2d", {"out_channels": out_channels, "kernel_size": 3, "padding": 1}),
              ("flat", "Flatten", {}), ("fc", "Linear", {"out_features": 10}), ("output", "Output", {}))
    return Project.model_validate({"name": "wide", "model": g, "data": {"batch_size": batch}})


def _linear_project(width: int) -> Project:
    g = chain(("input", "Input", {"shape": [1, 28, 28]}), ("flat", "Flatten", {}),
              ("fc1", "Linear", {"out_features": width}), ("r", "ReLU", {}),
              ("fc", "Linear", {"out_features": 10}), ("output", "Output", {}))
    return Project.model_validate({"name": "huge", "model": g})


def _errors(project: Project):
    return [e for r in analyze_project(project).values() for e in r.errors if e.kind == "memory"]


def test_out_channels_65536_is_refused_on_its_node_with_the_figure(monkeypatch):
    monkeypatch.setenv("LAYERLAB_MEMORY_GB", "24")
    errs = _errors(_conv_project(65536))
    assert errs and errs[0].level == "error"
    e = next(e for e in errs if e.level == "error")
    assert e.node in ("c1", "flat") and "[65536, 28, 28]" in e.message and "batch of 64" in e.message
    assert "GB" in e.message and "data.batch_size" in e.message
    assert not _errors(_conv_project(32))  # an ordinary model is quiet


def test_linear_of_a_million_is_refused_when_it_cannot_fit(monkeypatch):
    monkeypatch.setenv("LAYERLAB_MEMORY_GB", "8")
    e = _errors(_linear_project(1_000_000))
    assert e and e[0].node in ("fc1", "fc") and e[0].level == "error"
    assert "784,000,000" in e[0].message or "parameters" in e[0].message
    monkeypatch.setenv("LAYERLAB_MEMORY_GB", "1024")
    assert not [x for x in _errors(_linear_project(1_000_000)) if x.level == "error"]


def test_check_and_train_refuse_before_allocating(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LAYERLAB_MEMORY_GB", "8")
    p = tmp_path / "huge.json"
    doc = _linear_project(1_000_000).to_dict()
    p.write_text(json.dumps(doc))
    assert main(["check", str(p)]) == 2
    err = capsys.readouterr().err
    assert "fc1" in err and "GB" in err
    assert main(["train", str(p), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "fc1" in err and "GB" in err and "Traceback" not in err


def _cycle(n: int) -> dict:
    specs = [("input", "Input", {"shape": [8]})] + [(f"r{i}", "ReLU", {}) for i in range(n)] + [("output", "Output", {})]
    g = chain(*specs)
    g["edges"].append([f"r{n - 1}", "r0"])
    return {"format": "layerlab-project", "version": 2, "name": "loop", "model": g}


def test_a_5000_node_cycle_prints_a_bounded_summary(tmp_path, capsys):
    p = tmp_path / "loop.json"
    p.write_text(json.dumps(_cycle(5000)))
    rep = tmp_path / "r.json"
    assert main(["check", str(p), "--report", str(rep)]) == 2
    err = capsys.readouterr().err
    assert len(err) < 50_000, len(err)
    assert "more (the first 1,000 are in the --report file)" in err and "… and 4," in err
    report = json.loads(rep.read_text())
    assert report["error_count"] >= 5000 and len(report["errors"]) == 1000
    assert rep.stat().st_size < 5_000_000
    assert all(len(e["message"]) < 400 for e in report["errors"])  # the loop is not spelled out 5,000 times


def test_10000_node_graph_analyzes_and_codes_every_node():
    specs = [("input", "Input", {"shape": [16]})] + [(f"r{i}", "ReLU", {}) for i in range(9_998)] + [
        ("output", "Output", {})]
    res = analyze(chain(*specs))
    assert res.ok and len(res.nodes) == 10_000 and res.nodes[-1].output_shape == (16,)


def test_cpu_out_of_memory_gets_the_cuda_explanation(tmp_path, monkeypatch):
    from helpers import linear_graph

    from engine.train.api import train_project
    from engine.train.events import Error
    from engine.train.loop import TrainLoop

    def oom(self):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 9000000000 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setattr(TrainLoop, "_train", oom)
    seen = []
    doc = {"format": "layerlab-project", "version": 2, "name": "m", "model": linear_graph(), "data": {"limit": 100},
           "train": {"device": "cpu"}}
    rep = train_project(doc, tmp_path / "run", on_event=seen.append)
    errors = [e for e in seen if isinstance(e, Error)]
    assert rep["status"] == "failed" and errors and errors[-1].kind == "oom"
    assert errors[-1].message.startswith("Out of memory on cpu") and "batch size" in errors[-1].message


@pytest.mark.slow
def test_100000_node_project_checks_without_hanging(tmp_path, capsys):
    specs = [("input", "Input", {"shape": [16]})] + [(f"r{i}", "ReLU", {}) for i in range(99_998)] + [
        ("output", "Output", {})]
    p = tmp_path / "big.json"
    p.write_text(json.dumps({"format": "layerlab-project", "version": 2, "name": "big", "model": chain(*specs)}))
    assert main(["check", str(p), "--report", str(tmp_path / "r.json")]) == 0
    assert "ok: the model compiles" in capsys.readouterr().out
