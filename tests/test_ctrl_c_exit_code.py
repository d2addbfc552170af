"""Ctrl+C during ``layerlab train``: the first stops cleanly (exit 130, a resumable last.pt); a second one
while the first is being handled aborts at once, still with exit 130 and no traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import linear_graph

from engine.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process")
ROOT = Path(__file__).resolve().parents[1]
DOC = {"format": "layerlab-project", "version": 2, "name": "ctrlc", "data": {"limit": 200, "batch_size": 10},
       "model": linear_graph(), "train": {"epochs": 100000, "device": "cpu"}}


def _start(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    p = tmp_path / "p.json"
    p.write_text(json.dumps(DOC))
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TERM": "dumb"}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "train", str(p), "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    for line in proc.stderr:  # wait until it trains (epoch lines come once per epoch)
        if line.startswith("epoch ") or time.monotonic() > deadline:
            break
    return proc, out


def test_one_ctrl_c_stops_cleanly_with_130(tmp_path):
    proc, out = _start(tmp_path)
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(60) == 130, rest
    assert "Traceback" not in rest
    assert load_checkpoint(out / "checkpoints" / "last.pt")["global_step"] > 0


def test_a_second_ctrl_c_still_exits_130_without_a_traceback(tmp_path):
    proc, out = _start(tmp_path)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(60) == 130, rest
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest
    last = out / "checkpoints" / "last.pt"
    if last.exists():  # whatever the second Ctrl+C interrupted, the file on disk is whole
        load_checkpoint(last)
