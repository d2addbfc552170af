"""A pre-warmed process runner takes its job from the command queue and trains like a cold one."""

import os
import time

from engine.templates import load_template
from engine.train.events import Finished, Started
from engine.train.runner import ProcessRunner


def _drain_until_finished(r, timeout=120.0):
    events = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = r.wait_event(0.5)
        if ev is not None:
            events.append(ev)
            if isinstance(ev, Finished):
                break
    return events


def test_prewarmed_child_runs_the_job(tmp_path):
    project = load_template("mlp")
    r = ProcessRunner(threads=1)
    try:
        r.prewarm()
        assert not r.running  # warm and idle is not "running"
        assert r.wait_warm(120.0)
        r.start(project, str(tmp_path / "run"), overrides={"train.max_steps": 5, "data.limit": 300, "train.device": "cpu"})
        events = _drain_until_finished(r)
        assert any(isinstance(e, Started) for e in events)
        assert isinstance(events[-1], Finished) and events[-1].status == "completed"
        assert events[-1].global_step == 5
    finally:
        r.close()
    assert not r.running


def test_close_releases_an_idle_prewarmed_child():
    r = ProcessRunner(threads=1)
    r.prewarm()
    pid = r._proc.pid
    r.close()
    assert r._proc is None
    if os.path.isdir("/proc"):
        assert not os.path.exists(f"/proc/{pid}")  # exited and reaped
