"""The runner runs any picklable job (not only training) with the same events, cancel and errors."""

from __future__ import annotations

import time

import pytest
from helpers import CountingJob

from engine.train.events import Error, Finished, JobProgress, JobResult
from engine.train.runner import make_runner


def drain(runner, timeout: float = 60.0) -> list:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = runner.wait_event(0.2)
        if ev is None:
            continue
        seen.append(ev)
        if isinstance(ev, Finished):
            return seen
    raise AssertionError(f"no Finished within {timeout}s: {seen[-3:]}")


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_job_reports_progress_then_its_result_then_finished(mode):
    with make_runner(mode) as r:
        r.start_job(CountingJob(n=4))
        seen = drain(r)
    prog = [e for e in seen if isinstance(e, JobProgress)]
    assert [p.fraction for p in prog] == [0.25, 0.5, 0.75, 1.0]
    res = [e for e in seen if isinstance(e, JobResult)]
    assert len(res) == 1 and res[0].result["files"] == ["a", "b"] and res[0].job == "counting"
    assert seen[-1].status == "completed" and seen[-1].final == {"count": 4.0}


def test_stop_cancels_a_job_at_its_next_progress_check():
    with make_runner("thread") as r:
        r.start_job(CountingJob(n=500, sleep=0.01))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ev = r.wait_event(0.2)
            if isinstance(ev, JobProgress):
                break
        r.stop()
        seen = drain(r)
    assert seen[-1].status == "stopped"
    assert not any(isinstance(e, JobResult) for e in seen)
    assert len([e for e in seen if isinstance(e, JobProgress)]) < 500


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_failing_job_becomes_an_error_and_the_runner_takes_the_next(mode):
    with make_runner(mode) as r:
        r.start_job(CountingJob(n=3, fail_at=1))
        seen = drain(r)
        errors = [e for e in seen if isinstance(e, Error)]
        assert seen[-1].status == "failed" and "broke at 1" in errors[0].message
        r.join(10)
        r.start_job(CountingJob(n=2))
        assert drain(r)[-1].status == "completed"
