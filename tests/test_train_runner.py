"""Runners: commands from another thread, events out, errors, a spawned child process."""

from __future__ import annotations

import os
import time

import pytest
from helpers import linear_graph
from torch import nn

from engine.project import Project
from engine.train.events import CheckpointSaved, Error, Finished, Paused, Progress, Resumed, Started
from engine.train.loop import TrainLoop
from engine.train.runner import ProcessRunner, ThreadRunner, make_runner
from engine.train.supervised import SupervisedTrainer


def project(**train) -> Project:
    return Project.model_validate({
        "name": "r", "data": {"limit": 400, "batch_size": 16}, "model": linear_graph(),
        "train": {"device": "cpu", "epochs": 1, **train},
    })


class SlowTrainer(SupervisedTrainer):
    """Each step sleeps a little so a test can act while training runs."""

    def train_step(self, batch, sc):
        time.sleep(0.01)
        return super().train_step(batch, sc)


def slow(p: Project) -> SlowTrainer:
    return SlowTrainer(p, nn.Sequential(nn.Flatten(), nn.Linear(784, 10)))


def wait_for(runner, cls, timeout: float = 90.0, seen: list | None = None):  # generous: CI machines are busy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = runner.wait_event(0.2)
        if ev is None:
            continue
        if seen is not None:
            seen.append(ev)
        if isinstance(ev, cls):
            return ev
        if isinstance(ev, Finished) and cls is not Finished:
            raise AssertionError(f"finished before {cls.__name__}: {ev}")
    raise AssertionError(f"no {cls.__name__} within {timeout}s")


def test_thread_runner_pause_resume_snapshot_stop(tmp_path):
    p = project(epochs=50)
    r = make_runner("thread")
    assert isinstance(r, ThreadRunner) and not r.running
    r.start(p, str(tmp_path / "run"), trainer=slow(p))
    wait_for(r, Started)
    wait_for(r, Progress)
    r.pause()
    paused = wait_for(r, Paused)
    time.sleep(0.3)
    during = r.poll()
    assert not any(isinstance(e, Progress) for e in during)  # nothing trains while paused
    assert r.running
    r.request_snapshot()  # saved while paused, without resuming
    snap = wait_for(r, CheckpointSaved)
    assert snap.kind == "last" and snap.global_step == paused.global_step
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
    r.resume()
    resumed = wait_for(r, Resumed)
    assert resumed.global_step == paused.global_step
    wait_for(r, Progress)
    t0 = time.monotonic()
    r.stop()
    fin = wait_for(r, Finished)
    assert time.monotonic() - t0 < 5
    assert fin.status == "stopped" and fin.global_step < 50 * 23
    assert r.join(5) and not r.running
    assert "last" in fin.checkpoints


def test_runner_reports_nan_and_accepts_a_new_start(tmp_path):
    bad = Project.model_validate({
        "name": "nan", "data": {"limit": 400, "batch_size": 16}, "model": linear_graph(1),
        "train": {"device": "cpu", "epochs": 3, "task": "regression", "loss": "mse",
                  "optimizer": {"name": "sgd", "lr": 10.0, "momentum": 0.9}},
    })
    r = ThreadRunner()
    r.start(bad, str(tmp_path / "a"))
    seen: list = []
    fin = wait_for(r, Finished, seen=seen)
    assert fin.status == "failed"
    err = [e for e in seen if isinstance(e, Error)][-1]
    assert err.kind == "nan" and "learning rate" in err.message
    assert r.join(5)
    r.start(project(max_steps=3), str(tmp_path / "b"))
    fin = wait_for(r, Finished)
    assert fin.status == "completed" and fin.global_step == 3
    r.close()


def test_start_while_running_is_refused(tmp_path):
    p = project(epochs=50)
    r = ThreadRunner()
    r.start(p, str(tmp_path / "a"), trainer=slow(p))
    try:
        with pytest.raises(RuntimeError, match="already"):
            r.start(p, str(tmp_path / "b"))
    finally:
        r.close()
    assert not r.running


def test_bad_project_dict_becomes_an_error_event(tmp_path):
    r = ThreadRunner()
    r.start({"format": "layerlab-project", "version": 1, "train": {"epochs": 0}}, str(tmp_path))
    seen: list = []
    fin = wait_for(r, Finished, seen=seen)
    err = [e for e in seen if isinstance(e, Error)][0]
    assert fin.status == "failed" and err.kind == "bad_project" and "train.epochs" in err.message


def test_overrides_reach_the_loop(tmp_path):
    r = ThreadRunner()
    r.start(project(epochs=9), str(tmp_path), overrides={"train.epochs": 1, "train.max_steps": 4})
    seen: list = []
    fin = wait_for(r, Finished, seen=seen)
    start = [e for e in seen if isinstance(e, Started)][0]
    assert start.epochs == 1 and fin.global_step == 4


def test_events_are_picklable(tmp_path):
    import pickle

    events: list = []
    TrainLoop(project(max_steps=3), tmp_path, emit=events.append).run()
    for ev in events:
        assert type(pickle.loads(pickle.dumps(ev))) is type(ev)


def test_process_runner_smoke_and_close(tmp_path):
    r = ProcessRunner(threads=1)
    r.start(project(max_steps=6), str(tmp_path / "a"))
    seen: list = []
    fin = wait_for(r, Finished, timeout=90, seen=seen)
    assert fin.status == "completed" and fin.global_step == 6
    kinds = [type(e) for e in seen]
    assert kinds[0] is Started and Progress in kinds
    assert (tmp_path / "a" / "model.pt").is_file()
    assert r.join(10) and not r.running
    # a second, long run in a fresh child: close() ends it
    r.start(project(epochs=1000), str(tmp_path / "b"))
    wait_for(r, Started, timeout=90)
    wait_for(r, Progress)
    r.pause()  # commands cross the process boundary too
    wait_for(r, Paused)
    r.resume()
    wait_for(r, Resumed)
    pid = r._proc.pid
    r.close()
    assert not r.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the child is gone (and reaped)
