"""Review of issues 3/4 (CLI side): progress off a terminal, one-line exit-2 errors for every kind of bad
input, the report's fields, and exact resume through ``layerlab train``."""

from __future__ import annotations

import io
import json
import os

import pytest
import torch

from engine.cli import main
from engine.train import device as device_mod
from engine.train.api import CliProgress
from engine.train.events import EpochEnd, Error, Finished, Log, Progress, Started


def graph(out: int = 10, hidden: int | None = None) -> dict:
    nodes = [
        {"id": "input", "type": "Input", "params": {"shape": [1, 28, 28]}},
        {"id": "flat", "type": "Flatten", "params": {}},
    ]
    if hidden:
        nodes += [{"id": "fc1", "type": "Linear", "params": {"out_features": hidden}},
                  {"id": "act", "type": "ReLU", "params": {}}]
    nodes += [{"id": "fc", "type": "Linear", "params": {"out_features": out}},
              {"id": "output", "type": "Output", "params": {}}]
    return {"nodes": nodes, "edges": [[a["id"], b["id"]] for a, b in zip(nodes, nodes[1:])]}


def write(path, *, name: str = "review", model: dict | None = None, **train) -> str:
    doc = {"format": "layerlab-project", "version": 1, "name": name, "data": {"limit": 300, "batch_size": 32},
           "model": model or graph(), "train": {"device": "cpu", "epochs": 2, **train}}
    path.write_text(json.dumps(doc))
    return str(path)


def lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


# ---------------------------------------------------------------------------------------------
# progress output


def _events(epochs: int = 2, spe: int = 50):
    yield Started(run_dir="r", device="cpu", trainer="supervised", epochs=epochs, steps_per_epoch=spe)
    for e in range(epochs):
        for s in range(1, spe + 1, 5):
            yield Progress(epoch=e, step=s, global_step=e * spe + s, total_steps=epochs * spe, lr=1e-3,
                           samples_per_sec=1234.0, eta_s=42.0, metrics={"loss": 1.0 / s})
        yield EpochEnd(epoch=e, global_step=(e + 1) * spe, lr=1e-3, wall_s=0.5,
                       metrics={"train_loss": 0.5, "val_loss": 0.4, "val_accuracy": 0.9})
    yield Finished(status="completed", epochs_run=epochs, global_step=epochs * spe, wall_s=1.0, best_epoch=1,
                   final={})


def test_progress_off_a_terminal_is_one_line_per_epoch():
    stream = io.StringIO()  # not a TTY: a CI log or a pipe
    cp = CliProgress(stream=stream)
    assert not cp.use_bar
    for ev in _events():
        cp(ev)
    out = stream.getvalue()
    assert "\r" not in out and "|" not in out  # no tqdm redraws
    ls = lines(out)
    assert len(ls) == 4, ls  # started, 2 epochs, finished
    assert ls[1].startswith("epoch 1/2") and "val_accuracy=0.9000" in ls[1] and "lr=1.00e-03" in ls[1]
    assert "1,234 samples/s" in ls[1] and "ETA 42s" in ls[1]
    assert ls[2].startswith("epoch 2/2") and "ETA" not in ls[2]
    assert ls[3].startswith("completed after 2 epoch(s)")


def test_progress_on_a_terminal_keeps_the_bar():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    cp = CliProgress(stream=stream)
    assert cp.use_bar
    for ev in _events():
        cp(ev)
    out = stream.getvalue()
    assert "\r" in out and "step/s" in out and "samples_s=1,234" in out and "eta=42s" in out
    assert "epoch 2/2  train_loss=0.5000" in out


def test_setup_failure_prints_only_the_error_line():
    stream = io.StringIO()
    cp = CliProgress(stream=stream)
    cp(Error(message="device 'cuda' was requested but CUDA is not available here", kind="bad_project"))
    cp(Finished(status="failed", epochs_run=0, global_step=0, wall_s=0.1, best_epoch=None, final={}))
    assert lines(stream.getvalue()) == ["error: device 'cuda' was requested but CUDA is not available here"]


def test_quiet_prints_errors_only():
    stream = io.StringIO()
    cp = CliProgress(quiet=True, stream=stream)
    for ev in _events():
        cp(ev)
    cp(Log(message="hello", level="warning"))
    assert stream.getvalue() == ""


def test_layerlab_train_into_a_pipe_has_no_carriage_returns(tmp_path, capsys):
    f = write(tmp_path / "p.json")
    assert main(["train", f, "--out", str(tmp_path / "o"), "--max-steps", "12"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert [ln.split()[1] for ln in lines(err) if ln.startswith("epoch ")] == ["1/2", "2/2"]


# ---------------------------------------------------------------------------------------------
# bad input: exit 2, one clear line, no traceback


def _bad(argv, capsys, needle: str, *, one_line: bool = True) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and needle in err, err
    if one_line:
        assert len(lines(err)) == 1, err
    return err


def test_train_bad_files_exit_2(tmp_path, capsys):
    out = str(tmp_path / "o")
    _bad(["train", str(tmp_path / "missing.json"), "--out", out], capsys, "file not found")
    _bad(["train", str(tmp_path), "--out", out], capsys, "is a folder")
    (tmp_path / "bad.json").write_text("{not json")
    _bad(["train", str(tmp_path / "bad.json"), "--out", out], capsys, "not valid JSON")
    (tmp_path / "list.json").write_text("[1, 2]")
    _bad(["train", str(tmp_path / "list.json"), "--out", out], capsys, "JSON object")
    assert not (tmp_path / "o").exists()  # nothing written


def test_train_graph_that_does_not_compile_exits_2(tmp_path, capsys):
    g = graph(hidden=8)
    g["edges"].append(["act", "fc1"])  # a cycle
    f = write(tmp_path / "cycle.json", model=g)
    err = _bad(["train", f, "--out", str(tmp_path / "o")], capsys, "cycle", one_line=False)
    assert lines(err)[0].startswith("error:") and "failed after" not in err
    f = write(tmp_path / "seven.json", model=graph(out=7))
    _bad(["train", f, "--out", str(tmp_path / "o2")], capsys, "needs 10 scores per sample")


def test_train_bad_device_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(device_mod, "_cuda_available", lambda: False)
    monkeypatch.setattr(device_mod, "_mps_available", lambda: False)
    f = write(tmp_path / "p.json")
    _bad(["train", f, "--out", str(tmp_path / "o"), "--device", "cuda"], capsys, "CUDA is not available")
    _bad(["train", f, "--out", str(tmp_path / "o"), "--device", "mps"], capsys, "MPS is not available")
    _bad(["train", f, "--out", str(tmp_path / "o"), "--device", "tpu"], capsys, "train.device")


@pytest.mark.parametrize("flag,value,needle", [
    ("--epochs", "-1", "--epochs: must be >= 1"),
    ("--epochs", "0", "--epochs: must be >= 1"),
    ("--epochs", "two", "--epochs: expected a whole number"),
    ("--batch-size", "0", "--batch-size: must be >= 1"),
    ("--max-steps", "-5", "--max-steps: must be >= 1"),
    ("--lr", "-0.1", "--lr: must be a number > 0"),
    ("--lr", "nan", "--lr: must be a number > 0"),
])
def test_train_bad_numbers_exit_2(flag, value, needle, tmp_path, capsys):
    f = write(tmp_path / "p.json")
    with pytest.raises(SystemExit) as ei:
        main(["train", f, "--out", str(tmp_path / "o"), flag, value])
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and len(lines(err)) == 1 and "usage:" not in err


def test_train_bad_output_paths_exit_2_before_training(tmp_path, capsys):
    f = write(tmp_path / "p.json")
    _bad(["train", f, "--out", f], capsys, "--out:")
    _bad(["train", f, "--out", str(tmp_path / "o"), "--report", str(tmp_path)], capsys, "--report:")
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One finished 1-epoch run to resume from."""
    d = tmp_path_factory.mktemp("trained")
    f = write(d / "p.json", epochs=1, optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9})
    assert main(["train", f, "--out", str(d / "run"), "--quiet"]) == 0
    return d


def test_resume_from_bad_files_exits_2(trained, tmp_path, capsys):
    f = write(tmp_path / "p.json", optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9})
    out = str(tmp_path / "o")
    _bad(["train", f, "--out", out, "--resume", str(tmp_path / "none.pt")], capsys, "not found")
    _bad(["train", f, "--out", out, "--resume", str(trained / "run")], capsys, "is a folder")
    (tmp_path / "junk.pt").write_bytes(os.urandom(512))
    _bad(["train", f, "--out", out, "--resume", str(tmp_path / "junk.pt")], capsys, "not a readable")
    (tmp_path / "empty.pt").write_bytes(b"")
    _bad(["train", f, "--out", out, "--resume", str(tmp_path / "empty.pt")], capsys, "empty")
    _bad(["train", f, "--out", out, "--resume", str(trained / "run" / "model.pt")], capsys, "cannot resume")


class _Evil:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # would create the marker file if unpickled


def test_resume_from_a_malicious_pickle_runs_no_code(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    torch.save({"format": "layerlab-checkpoint", "version": 1, "x": _Evil(str(marker))}, tmp_path / "evil.pt")
    f = write(tmp_path / "p.json")
    _bad(["train", f, "--out", str(tmp_path / "o"), "--resume", str(tmp_path / "evil.pt")], capsys,
         "refuses to load")
    assert not marker.exists()


def test_resume_from_another_architecture_or_optimizer_exits_2(trained, tmp_path, capsys):
    ck = str(trained / "run" / "checkpoints" / "last.pt")
    f = write(tmp_path / "wide.json", model=graph(hidden=8), optimizer={"name": "sgd", "lr": 0.05})
    err = _bad(["train", f, "--out", str(tmp_path / "o1"), "--resume", ck], capsys, "does not fit")
    assert "project 'review'" in err and "fc1.weight" in err
    f = write(tmp_path / "adam.json", optimizer={"name": "adam", "lr": 0.001})
    _bad(["train", f, "--out", str(tmp_path / "o2"), "--resume", ck], capsys, "optimizer 'sgd'")
    f = write(tmp_path / "reg.json", model=graph(out=1), task="regression", loss="mse",
              optimizer={"name": "sgd", "lr": 0.05})
    _bad(["train", f, "--out", str(tmp_path / "o3"), "--resume", ck], capsys, "classification run")


def test_resume_of_a_finished_run_says_there_is_nothing_left(trained, tmp_path, capsys):
    f = write(tmp_path / "p.json", epochs=1, optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9})
    ck = str(trained / "run" / "checkpoints" / "last.pt")
    assert main(["train", f, "--out", str(tmp_path / "o"), "--resume", ck]) == 0
    assert "nothing left to train" in capsys.readouterr().err


def test_exact_resume_through_the_cli(trained, tmp_path, capsys):
    """2 epochs straight == 1 epoch (the fixture's run) + ``--resume`` for 1 more, bit for bit."""
    opt = {"name": "sgd", "lr": 0.05, "momentum": 0.9}
    f = write(tmp_path / "p.json", epochs=2, optimizer=opt)
    assert main(["train", f, "--out", str(tmp_path / "straight"), "--quiet"]) == 0
    assert main(["train", f, "--out", str(tmp_path / "resumed"), "--quiet", "--report", str(tmp_path / "r.json"),
                 "--resume", str(trained / "run" / "checkpoints" / "last.pt")]) == 0
    a = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    rep = json.loads((tmp_path / "r.json").read_text())
    assert [e["epoch"] for e in rep["epochs"]] == [0, 1]


# ---------------------------------------------------------------------------------------------
# the report and exit codes


def test_report_has_what_issues_3_and_4_list(tmp_path, capsys):
    f = write(tmp_path / "p.json", early_stopping={"enabled": True, "patience": 5})
    r = tmp_path / "r.json"
    assert main(["train", f, "--out", str(tmp_path / "o"), "--report", str(r), "--quiet"]) == 0
    rep = json.loads(r.read_text())
    assert rep["status"] == "completed" and len(rep["epochs"]) == 2
    for row in rep["epochs"]:
        assert {"epoch", "train_loss", "val_loss", "val_accuracy", "lr", "wall_s"} <= set(row)
        assert row["lr"] > 0 and row["wall_s"] > 0
    assert {"val_accuracy", "val_loss"} <= set(rep["final"])
    assert rep["steps_per_second"] > 0 and rep["wall_s"] > 0
    assert rep["best_epoch"] in (0, 1)
    assert set(rep["checkpoints"]) == {"best", "last"}
    for path in rep["checkpoints"].values():
        assert os.path.isfile(path)
    assert os.path.isfile(rep["model"])
    assert rep["error"] is None


def test_check_new_and_layers_bad_input_exit_2(tmp_path, capsys):
    f = write(tmp_path / "p.json")
    _bad(["check", f, "--report", str(tmp_path)], capsys, "--report:")
    _bad(["check", f, "--report", f + "/r.json"], capsys, "is not a folder")
    _bad(["new", "-t", "mlp", "-o", str(tmp_path)], capsys, "is a folder")
    _bad(["layers", "--category", "nope"], capsys, "unknown category")
    with pytest.raises(SystemExit) as ei:
        main(["frobnicate"])
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert len(lines(err)) == 1 and "invalid choice" in err


def test_resume_from_a_malformed_checkpoint_exits_2(trained, tmp_path, capsys):
    data = torch.load(trained / "run" / "checkpoints" / "last.pt", weights_only=True)
    f = write(tmp_path / "p.json", optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9})
    for i, (key, value) in enumerate([("rng", None), ("epoch", "x"), ("trainer", {"models": {"model": 3}})]):
        broken = dict(data)
        if value is None:
            del broken[key]
        else:
            broken[key] = value
        torch.save(broken, tmp_path / f"b{i}.pt")
        _bad(["train", f, "--out", str(tmp_path / f"o{i}"), "--resume", str(tmp_path / f"b{i}.pt")], capsys,
             "malformed")


def test_amp_flag_and_changed_lr_on_resume(trained, tmp_path, capsys):
    f = write(tmp_path / "p.json", optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9})
    r = tmp_path / "r.json"
    assert main(["train", f, "--out", str(tmp_path / "o"), "--amp", "--max-steps", "3", "--report", str(r)]) == 0
    assert json.loads(r.read_text())["global_step"] == 3
    capsys.readouterr()
    assert main(["train", f, "--out", str(tmp_path / "o2"), "--lr", "0.01", "--max-steps", "10",
                 "--resume", str(trained / "run" / "checkpoints" / "last.pt")]) == 0
    assert "train.optimizer differs from the checkpoint's" in capsys.readouterr().err


def test_ctrl_c_stops_with_130_and_a_resumable_checkpoint(tmp_path, capsys):
    import signal
    import threading

    f = write(tmp_path / "p.json", epochs=10000)
    timer = threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        rc = main(["train", f, "--out", str(tmp_path / "o"), "--report", str(tmp_path / "r.json")])
    finally:
        timer.cancel()
    assert rc == 130
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["status"] == "stopped" and os.path.isfile(rep["checkpoints"]["last"])
    capsys.readouterr()
    assert main(["train", f, "--out", str(tmp_path / "o2"), "--max-steps", str(rep["global_step"] + 2), "--quiet",
                 "--report", str(tmp_path / "r2.json"), "--resume", rep["checkpoints"]["last"]]) == 0
    assert json.loads((tmp_path / "r2.json").read_text())["global_step"] == rep["global_step"] + 2


def test_data_that_does_not_fit_the_input_node_exits_2(tmp_path, capsys):
    (tmp_path / "tiny.csv").write_text("".join(f"{i},{i + 1},{i + 2},{i + 3},{i % 2}\n" for i in range(20)))
    doc = {"format": "layerlab-project", "version": 1, "name": "tiny",
           "data": {"dataset": "csv", "path": str(tmp_path / "tiny.csv"), "batch_size": 4},
           "model": graph(out=2), "train": {"device": "cpu", "epochs": 1}}
    (tmp_path / "p.json").write_text(json.dumps(doc))
    _bad(["train", str(tmp_path / "p.json"), "--out", str(tmp_path / "o")], capsys,
         "the model takes samples shaped [1, 28, 28], but csv gives [1, 2, 2] per sample: set input's shape to [1, 2, 2]")
    doc["model"]["nodes"][0]["params"]["shape"] = [1, 2, 2]
    (tmp_path / "p.json").write_text(json.dumps(doc))
    assert main(["train", str(tmp_path / "p.json"), "--out", str(tmp_path / "o2"), "--quiet"]) == 0


def test_report_never_overwrites_an_input(tmp_path, capsys):
    f = write(tmp_path / "p.json")
    before = (tmp_path / "p.json").read_text()
    _bad(["check", f, "--report", f], capsys, "would overwrite it")
    _bad(["train", f, "--out", str(tmp_path / "o"), "--report", f], capsys, "would overwrite it")
    assert (tmp_path / "p.json").read_text() == before


def test_resume_with_a_longer_cosine_run_warns(tmp_path, capsys):
    sched = {"name": "cosine"}
    f = write(tmp_path / "p.json", epochs=1, schedule=sched)
    assert main(["train", f, "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["train", f, "--out", str(tmp_path / "b"), "--epochs", "2", "--max-steps", "12",
                 "--resume", str(tmp_path / "a" / "checkpoints" / "last.pt")]) == 0
    assert "cosine schedule keeps the length" in capsys.readouterr().err
