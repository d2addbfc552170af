"""SIGKILL while a checkpoint is being written: the previous checkpoint stays whole and verifiable, and
the next run (a resume) cleans up the temp file the killed writer left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import chain

from engine.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
ROOT = Path(__file__).resolve().parents[1]
# wide enough that each checkpoint write takes a moment (the kill lands inside it), small data so
# epochs (and so checkpoints) come every step
DOC = {"format": "layerlab-project", "version": 2, "name": "kill", "data": {"limit": 20, "batch_size": 20},
       "model": chain(("input", "Input", {"shape": [1, 28, 28]}), ("flat", "Flatten", {}),
                      ("fc1", "Linear", {"out_features": 512}), ("r", "ReLU", {}),
                      ("fc", "Linear", {"out_features": 10}), ("output", "Output", {})),
       "train": {"epochs": 100000, "device": "cpu"}}


def _kill_mid_write(project: Path, out: Path, resume: Path | None) -> bool:
    """Run training and SIGKILL it the moment a checkpoint temp file appears; True if it was caught."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "engine.cli", "train", str(project), "--out", str(out), "--quiet"]
    if resume is not None:
        cmd += ["--resume", str(resume)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck = out / "checkpoints"
    caught = False
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if ck.is_dir() and any(n.endswith(".tmp") for n in os.listdir(ck)) and (ck / "last.pt").exists():
                proc.send_signal(signal.SIGKILL)
                caught = True
                break
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    return caught


def _loop(tmp_path: Path, rounds: int) -> None:
    project = tmp_path / "p.json"
    project.write_text(json.dumps(DOC))
    out = tmp_path / "run"
    last = out / "checkpoints" / "last.pt"
    caught = 0
    for i in range(rounds):
        caught += _kill_mid_write(project, out, last if last.exists() else None)
        assert last.exists(), f"round {i}: no checkpoint survived"
        ck = load_checkpoint(last)  # whole, and its checksum matches
        assert ck["global_step"] >= 1
    assert caught >= 1, "the kill never landed inside a checkpoint write"
    # the next run cleans up what the killed writers left
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    step = int(load_checkpoint(last)["global_step"])
    r = subprocess.run([sys.executable, "-m", "engine.cli", "train", str(project), "--out", str(out), "--resume",
                        str(last), "--max-steps", str(step + 1), "--quiet"], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert not [n for n in os.listdir(out / "checkpoints") if n.endswith(".tmp")]
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]


def test_kill_during_checkpoint_keeps_the_last_one_and_cleans_up(tmp_path):
    _loop(tmp_path, rounds=1)


@pytest.mark.slow
def test_kill_during_checkpoint_many_times(tmp_path):
    _loop(tmp_path, rounds=20)
