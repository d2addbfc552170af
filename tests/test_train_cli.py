"""``layerlab train`` through ``engine.train.api``: exit codes, report, outputs; the process runner's
watchdog (the child exits when its parent dies)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from helpers import linear_graph

from engine.train.api import add_train_arguments, run_train_cli, train_project


def write_project(path, **train) -> str:
    doc = {"format": "layerlab-project", "version": 1, "name": "cli test", "data": {"limit": 300, "batch_size": 32},
           "model": linear_graph(), "train": {"device": "cpu", "epochs": 2, **train}}
    path.write_text(json.dumps(doc))
    return str(path)


def cli(*argv: str) -> int:
    p = argparse.ArgumentParser()
    add_train_arguments(p)
    return run_train_cli(p.parse_args(list(argv)))


def test_ok_run_writes_report_and_outputs(tmp_path, capsys):
    f = write_project(tmp_path / "p.json")
    out = tmp_path / "out"
    rc = cli(f, "--out", str(out), "--max-steps", "12", "--lr", "0.002", "--seed", "1", "--batch-size", "32",
             "--report", str(tmp_path / "r.json"))
    err = capsys.readouterr().err
    assert rc == 0, err
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["status"] == "completed" and rep["device"] == "cpu" and rep["global_step"] == 12
    assert [e["epoch"] for e in rep["epochs"]] == [0, 1]
    assert {"train_loss", "val_loss", "val_accuracy", "lr", "wall_s"} <= set(rep["epochs"][0])
    assert rep["epochs"][0]["lr"] == pytest.approx(0.002)
    assert rep["final"]["val_accuracy"] == rep["epochs"][-1]["val_accuracy"]
    assert rep["steps_per_second"] > 0 and rep["best_epoch"] in (0, 1)
    assert set(rep["checkpoints"]) == {"last", "best"}
    assert len(rep["confusion_matrix"]) == 10
    for name in ("model.pt", "project.json", "history.csv"):
        assert (out / name).is_file()
    assert "epoch 2/2" in err and "Traceback" not in err


def test_bad_file_exits_2_without_traceback(tmp_path, capsys):
    assert cli(str(tmp_path / "missing.json")) == 2
    (tmp_path / "bad.json").write_text("{not json")
    assert cli(str(tmp_path / "bad.json")) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_bad_options_and_graph_exit_2(tmp_path, capsys):
    f = write_project(tmp_path / "p.json")
    with pytest.raises(SystemExit) as ei:  # rejected by argparse, before anything is loaded
        cli(f, "--out", str(tmp_path / "o1"), "--epochs", "0")
    assert ei.value.code == 2
    assert cli(f, "--out", str(tmp_path / "o2"), "--resume", str(tmp_path / "nope.pt")) == 2
    doc = json.loads((tmp_path / "p.json").read_text())
    doc["model"]["nodes"][2]["params"]["out_features"] = 3  # 3 outputs for 10 classes
    (tmp_path / "q.json").write_text(json.dumps(doc))
    assert cli(str(tmp_path / "q.json"), "--out", str(tmp_path / "o3")) == 2
    err = capsys.readouterr().err
    assert "--epochs: must be >= 1" in err and "Traceback" not in err


def test_training_failure_exits_1(tmp_path, capsys):
    doc = {"format": "layerlab-project", "version": 1, "name": "nan", "data": {"limit": 300, "batch_size": 32},
           "model": linear_graph(1), "train": {"device": "cpu", "epochs": 3, "task": "regression", "loss": "mse",
                                        "optimizer": {"name": "sgd", "lr": 10.0, "momentum": 0.9}}}
    (tmp_path / "n.json").write_text(json.dumps(doc))
    assert cli(str(tmp_path / "n.json"), "--out", str(tmp_path / "o"), "--quiet",
               "--report", str(tmp_path / "r.json")) == 1
    err = capsys.readouterr().err
    assert "NaN" in err and "Traceback" not in err
    assert json.loads((tmp_path / "r.json").read_text())["error"]["kind"] == "nan"


def test_resume_from_cli_continues(tmp_path, capsys):
    f = write_project(tmp_path / "p.json", epochs=1)
    assert cli(f, "--out", str(tmp_path / "a"), "--quiet") == 0
    assert cli(f, "--out", str(tmp_path / "b"), "--epochs", "2", "--quiet", "--report", str(tmp_path / "r.json"),
               "--resume", str(tmp_path / "a" / "checkpoints" / "last.pt")) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert [e["epoch"] for e in rep["epochs"]] == [0, 1]  # history carried over from the checkpoint


def test_train_project_through_a_thread_runner(tmp_path):
    seen = []
    rep = train_project(json.loads(open(write_project(tmp_path / "p.json")).read()), tmp_path / "o",
                        overrides={"train.max_steps": 3}, on_event=seen.append, runner_mode="thread")
    assert rep["status"] == "completed" and rep["global_step"] == 3 and seen


def test_child_process_exits_when_its_parent_dies(tmp_path):
    script = textwrap.dedent(f"""
        import json, os, sys, time
        from engine.project import Project
        from engine.train.runner import ProcessRunner
        from engine.train.events import Started
        if __name__ == "__main__":
            p = Project.model_validate(json.loads(open({str(tmp_path / "p.json")!r}).read()))
            r = ProcessRunner(threads=1)
            r.start(p, {str(tmp_path / "run")!r}, overrides={{"train.epochs": 1000}})
            while not isinstance(r.wait_event(60), Started):
                pass
            print(r._proc.pid, flush=True)
            os._exit(0)  # die without closing the runner
    """)
    write_project(tmp_path / "p.json")
    (tmp_path / "parent.py").write_text(script)
    res = subprocess.run([sys.executable, str(tmp_path / "parent.py")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    pid = int(res.stdout.strip().splitlines()[-1])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        # a zombie counts as gone (the parent that would reap it is dead; init reaps it)
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split()[2] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, 9)
        pytest.fail("the training child outlived its parent")
