"""``layerlab train`` never writes its inputs, never replaces another run's results, refuses bad
numbers at the boundary, never hands out a NaN model, and says in one line when the disk is full."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from helpers import chain, linear_graph

from engine.cli import main
from engine.train.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
DOC = {"format": "layerlab-project", "version": 1, "name": "safe", "data": {"limit": 200, "batch_size": 50},
       "model": linear_graph(), "train": {"epochs": 1, "device": "cpu"}}


def _project(tmp_path: Path, doc: dict = DOC, name: str = "p.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def test_out_folder_holding_the_project_file_is_refused_and_the_file_untouched(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    p = _project(run, name="project.json")
    before = p.read_bytes()
    assert main(["train", str(p), "--out", str(run), "--epochs", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "would overwrite the project file" in err and str(p) in err
    assert p.read_bytes() == before and not (run / "model.pt").exists()


def test_second_run_into_a_used_folder_is_refused_and_best_kept(tmp_path, capsys):
    p = _project(tmp_path)
    out = tmp_path / "run"
    assert main(["train", str(p), "--out", str(out), "--quiet"]) == 0
    best = out / "checkpoints" / "best.pt"
    before = best.read_bytes()
    assert main(["train", str(p), "--out", str(out), "--max-steps", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and str(out) in err
    assert best.read_bytes() == before
    # continuing that run in its own folder is what --resume is for
    assert main(["train", str(p), "--out", str(out), "--resume", str(out / "checkpoints" / "last.pt"),
                 "--epochs", "2", "--quiet"]) == 0
    # a checkpoint of another run may not be resumed into this one
    other = tmp_path / "other"
    assert main(["train", str(p), "--out", str(other), "--quiet"]) == 0
    assert main(["train", str(p), "--out", str(out), "--resume", str(other / "checkpoints" / "last.pt"),
                 "--quiet"]) == 2
    assert "another run" in capsys.readouterr().err


def test_the_api_refuses_a_used_folder_too(tmp_path):
    from engine.train.api import train_project

    p = _project(tmp_path)
    assert train_project(str(p), tmp_path / "r")["status"] == "completed"
    rep = train_project(str(p), tmp_path / "r")
    assert rep["status"] == "failed" and "already holds a run" in rep["error"]["message"]


@pytest.mark.parametrize("args", [["--seed", str(2**70)], ["--seed", "-1"], ["--epochs", "9" * 40],
                                  ["--lr", "nan"], ["--batch-size", "0"]])
def test_out_of_range_numbers_are_refused_at_the_boundary(tmp_path, capsys, args):
    p = _project(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["train", str(p), "--out", str(tmp_path / "r"), *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert args[0] in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


BN_DOC = {"format": "layerlab-project", "version": 1, "name": "bn", "data": {"limit": 300, "batch_size": 32},
          "model": chain(("input", "Input", {"shape": [1, 28, 28]}),
                         ("c1", "Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": 1}),
                         ("bn1", "BatchNorm2d", {}), ("r1", "ReLU", {}), ("p1", "MaxPool2d", {"kernel_size": 2}),
                         ("c2", "Conv2d", {"out_channels": 16, "kernel_size": 3, "padding": 1}),
                         ("bn2", "BatchNorm2d", {}), ("r2", "ReLU", {}), ("flat", "Flatten", {}),
                         ("fc", "Linear", {"out_features": 10}), ("output", "Output", {})),
          "train": {"epochs": 2, "device": "cpu", "seed": 0, "optimizer": {"name": "sgd", "lr": 10.0}}}


def test_exploding_batchnorm_buffers_fail_the_run_and_no_nan_model_is_written(tmp_path, capsys):
    p = _project(tmp_path, BN_DOC)
    out = tmp_path / "run"
    code = main(["train", str(p), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "running_var" in err or "running_mean" in err or "NaN" in err
    assert not (out / "model.pt").exists()
    for ck in (out / "checkpoints").glob("*.pt"):
        state = load_checkpoint(ck)["trainer"]["models"]["model"]
        assert all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point()), ck


def test_first_nonfinite_names_the_tensor():
    from engine.train.loop import first_nonfinite

    assert first_nonfinite([("a", torch.ones(2)), ("b", torch.tensor([1.0, float("inf")]))]) == "b"
    assert first_nonfinite([("n", torch.tensor([1, 2]))]) is None


# -- a full disk -----------------------------------------------------------------------------------

_FILL_AND_RESUME = textwrap.dedent("""
    import json, os, sys
    from engine.cli import main
    d = sys.argv[1]
    p = os.path.join(d, "p.json")
    open(p, "w").write(json.dumps(json.loads(sys.argv[2])))
    assert main(["train", p, "--out", d + "/run", "--quiet"]) == 0
    last = d + "/run/checkpoints/last.pt"
    fd = os.open(d + "/filler", os.O_WRONLY | os.O_CREAT)  # unbuffered: fill to the last block
    try:
        while True:
            os.write(fd, bytes(4096))
    except OSError:
        pass
    os.close(fd)
    os.truncate(d + "/filler", max(0, os.path.getsize(d + "/filler") - 8192))
    code = main(["train", p, "--out", d + "/run", "--resume", last, "--epochs", "3", "--quiet"])
    from engine.train.checkpoint import load_checkpoint
    load_checkpoint(last)  # still whole
    left = [n for n in os.listdir(d + "/run/checkpoints") if n.endswith(".tmp")]
    print("RESULT", json.dumps({"code": code, "left": left}))
""")


def _can_mount_tmpfs(tmp_path: Path) -> bool:
    if not shutil.which("unshare") or sys.platform != "linux":
        return False
    mnt = tmp_path / "probe"
    mnt.mkdir()
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                        f"mount -t tmpfs -o size=64k tmpfs {mnt}"], capture_output=True, timeout=30)
    return r.returncode == 0


def test_a_full_disk_gives_one_line_naming_the_path_and_keeps_the_last_checkpoint(tmp_path):
    if not _can_mount_tmpfs(tmp_path):
        pytest.skip("this machine does not allow a private size-limited tmpfs (unshare --user --mount)")
    mnt = tmp_path / "small"
    mnt.mkdir()
    script = tmp_path / "fill.py"
    script.write_text(_FILL_AND_RESUME)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = (f"mount -t tmpfs -o size=4m tmpfs {mnt} && {sys.executable} {script} {mnt} "
           f"'{json.dumps(DOC)}'")
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", cmd], env=env,
                       capture_output=True, text=True, timeout=240)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, r.stdout + r.stderr
    res = json.loads(line[7:])
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert res["code"] == 1, r.stderr
    assert len(errors) == 1 and "Traceback" not in r.stderr and "enforce fail" not in r.stderr
    assert "the disk is full" in errors[0] and "intact" in errors[0] and str(mnt) in errors[0]
    assert res["left"] == []


def test_a_file_size_limit_gives_the_same_one_line(tmp_path):
    """The same failure through RLIMIT_FSIZE, which every POSIX machine allows."""
    resource = pytest.importorskip("resource")
    p = _project(tmp_path)
    out = tmp_path / "run"
    assert main(["train", str(p), "--out", str(out), "--quiet"]) == 0
    last = out / "checkpoints" / "last.pt"
    before = last.read_bytes()
    limit = len(before) // 2

    def cap():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "engine.cli", "train", str(p), "--out", str(out), "--resume",
                        str(last), "--epochs", "2", "--quiet"], env=env, capture_output=True, text=True,
                       timeout=240, preexec_fn=cap)
    assert r.returncode == 1, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("error:"), r.stderr
    assert str(out / "checkpoints") in errors[0] and "intact" in errors[0]
    assert last.read_bytes() == before
    assert not list((out / "checkpoints").glob(".*.tmp"))
