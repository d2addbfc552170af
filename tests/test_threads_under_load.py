"""Training picks its torch threads from the free cores and makes OpenMP wait passively, so a busy
neighbour costs a share of the speed instead of a collapse (measured by bench/under_load.py)."""

from __future__ import annotations

import os

import pytest

from engine.threads import QUIET_OMP_ENV, apply_thread_env, busy_cores, choose_threads


def test_threads_follow_the_free_cores(monkeypatch):
    monkeypatch.delenv("LAYERLAB_TORCH_THREADS", raising=False)
    assert choose_threads(cores=8, busy=0.0) == 8
    assert choose_threads(cores=8, busy=0.0, leave_one=True) == 7
    assert choose_threads(cores=8, busy=3.2) == 5
    assert choose_threads(cores=2, busy=1.0) == 1  # beside one busy process on two cores: one thread
    assert choose_threads(cores=2, busy=5.0) == 1  # never fewer than one
    assert choose_threads(cores=1, busy=0.0, leave_one=True) == 1
    monkeypatch.setenv("LAYERLAB_TORCH_THREADS", "3")
    assert choose_threads(cores=8, busy=7.0) == 3  # the user's word wins


def test_busy_cores_is_a_number_of_cores():
    b = busy_cores(0.05)
    assert 0.0 <= b <= (os.cpu_count() or 1) + 0.01


def test_passive_waiting_is_set_but_never_overrides_the_user():
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    done = apply_thread_env(env)
    assert env["OMP_WAIT_POLICY"] == "ACTIVE" and "OMP_WAIT_POLICY" not in done
    assert env["KMP_BLOCKTIME"] == "0" and env["GOMP_SPINCOUNT"] == QUIET_OMP_ENV["GOMP_SPINCOUNT"]


def test_the_cli_sets_passive_waiting_before_any_verb(monkeypatch, capsys):
    from engine.cli import main

    for k in QUIET_OMP_ENV:
        monkeypatch.delenv(k, raising=False)
    assert main(["glossary", "loss"]) == 0
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE" and os.environ["KMP_BLOCKTIME"] == "0"


def test_cli_training_uses_the_chosen_thread_count(monkeypatch, tmp_path):
    import torch

    import engine.threads
    from engine.train.api import train_project

    monkeypatch.setattr(engine.threads, "choose_threads", lambda **kw: 2)
    before = torch.get_num_threads()
    try:
        project = {"format": "layerlab-project", "version": 1, "name": "t",
                   "data": {"dataset": "digits", "limit": 200, "batch_size": 50},
                   "model": {"nodes": [{"id": "input", "type": "Input", "params": {"shape": [1, 28, 28]}},
                                       {"id": "flat", "type": "Flatten", "params": {}},
                                       {"id": "fc", "type": "Linear", "params": {"out_features": 10}},
                                       {"id": "output", "type": "Output", "params": {}}],
                             "edges": [["input", "flat"], ["flat", "fc"], ["fc", "output"]]},
                   "train": {"epochs": 1, "max_steps": 1}}
        rep = train_project(project, tmp_path / "run")
        assert rep["status"] == "completed"
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not os.path.exists("/proc/self/environ"), reason="reads the child's environment from /proc")
def test_spawned_training_children_start_with_passive_waiting(monkeypatch):
    from engine.train.runner import make_runner

    for k in QUIET_OMP_ENV:
        monkeypatch.delenv(k, raising=False)
    r = make_runner("process")
    try:
        r.prewarm()  # a pre-warmed child, as the studio starts one
        with open(f"/proc/{r._proc.pid}/environ", "rb") as fh:
            env = dict(kv.split(b"=", 1) for kv in fh.read().split(b"\0") if b"=" in kv)
        assert env[b"OMP_WAIT_POLICY"] == b"PASSIVE" and env[b"KMP_BLOCKTIME"] == b"0"
    finally:
        r.close()
