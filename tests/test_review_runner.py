"""Review of issue 4: a training child that dies hard still ends with an Error and a Finished event."""

from __future__ import annotations

import os
import signal
import time

from engine.project import Project
from engine.train.events import Error, Finished, Started
from engine.train.runner import ProcessRunner


def test_a_killed_training_process_becomes_an_error_then_finished(tmp_path):
    nodes = [{"id": "input", "type": "Input", "params": {"shape": [1, 28, 28]}},
             {"id": "flat", "type": "Flatten", "params": {}},
             {"id": "fc", "type": "Linear", "params": {"out_features": 10}},
             {"id": "output", "type": "Output", "params": {}}]
    p = Project.model_validate({
        "name": "k", "data": {"limit": 300, "batch_size": 16},
        "model": {"nodes": nodes, "edges": [[a["id"], b["id"]] for a, b in zip(nodes, nodes[1:])]},
        "train": {"device": "cpu", "epochs": 100000},
    })
    r = ProcessRunner(threads=1)
    try:
        r.start(p, str(tmp_path / "run"))
        deadline = time.monotonic() + 60
        while not isinstance(r.wait_event(1.0), Started):
            assert time.monotonic() < deadline, "no Started event"
        os.kill(r._proc.pid, signal.SIGKILL)
        seen = []
        deadline = time.monotonic() + 30
        while not any(isinstance(e, Finished) for e in seen):
            assert time.monotonic() < deadline, seen
            ev = r.wait_event(0.5)
            if ev is not None:
                seen.append(ev)
        errors = [e for e in seen if isinstance(e, Error)]
        assert errors and "ended unexpectedly" in errors[-1].message and "SIGKILL" in errors[-1].message
        assert seen[-1].status == "failed" and not r.running
        assert seen.index(errors[-1]) < len(seen) - 1  # the Error comes before the Finished
    finally:
        r.close()


def test_control_takes_commands_from_a_signal_handler_without_locks():
    from engine.train.loop import Control

    c = Control()
    c.put("pause")
    c.put_from_signal("stop")
    assert c.pending
    assert sorted(c.drain()) == ["pause", "stop"] and not c.pending
    c.put_from_signal("stop")
    assert c.wait(0.01) == "stop"  # a paused loop sees it too
    assert c.wait(0.01) is None
