"""Jobs: any picklable unit of work the runner can run in its thread or child process.

Training is one kind (``TrainJob``); prune, fine-tune, quantize, distill, export, verify and compare
are others (``engine.compress.jobs``). Every job talks like a training run: events out
(``JobProgress``, ``Log``, the inner training loop's ``Progress``/``EpochEnd`` when it trains, one
``JobResult``), commands in (``stop`` cancels at the next check), and exactly one ``Finished`` at
the end, after an ``Error`` when it failed. ``run_job`` supplies that envelope, so a job's body only
does its work through a ``JobContext``.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .events import Error, Event, Finished, JobProgress, JobResult, Log


class Cancelled(Exception):
    """The user asked the job to stop."""


class JobContext:
    """What a job body gets: progress, logs, cancellation, and an ``emit`` for training events."""

    def __init__(self, kind: str, emit: Callable[[Event], None], control: Any):
        self.kind = kind
        self._emit = emit
        self.control = control
        self.stopped = False

    def progress(self, stage: str, fraction: float, message: str = "") -> None:
        self.check_cancel()
        self._emit(JobProgress(job=self.kind, stage=stage, fraction=max(0.0, min(1.0, float(fraction))),
                               message=message))

    def log(self, message: str, level: str = "info") -> None:
        self._emit(Log(message=message, level=level))

    def check_cancel(self) -> None:
        if self.control is not None and self.control.pending:
            for cmd in self.control.drain():
                if cmd == "stop":
                    self.stopped = True
        if self.stopped:
            raise Cancelled()

    def training_emit(self) -> Callable[[Event], None]:
        """An ``emit`` for a training loop run inside this job: its ``Finished`` is the loop's, not the
        job's, so it becomes a log line (the job ends with its own)."""

        def emit(ev: Event) -> None:
            if isinstance(ev, Finished):
                if ev.status == "stopped":
                    self.stopped = True
                self._emit(Log(message=f"training {ev.status} after {ev.epochs_run} epoch(s)", level="debug"))
                return
            self._emit(ev)

        return emit


@dataclass
class Job:
    """Base class: subclasses set ``kind`` and implement ``execute(ctx) -> dict``."""

    kind: str = field(default="job", init=False)

    def execute(self, ctx: JobContext) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, emit: Callable[[Event], None], control: Any = None) -> Finished:
        return run_job(self, emit, control)


class ValidatedProject(dict):
    """A project dict that was already validated as a ``Project`` (only type-checked again where it runs)."""


def bad_input_types() -> tuple[type[BaseException], ...]:
    from .loop import bad_input_types as loop_bad_input_types

    extra: list[type[BaseException]] = []
    try:
        from ..runs import RunError

        extra.append(RunError)
    except ImportError:  # pragma: no cover
        pass
    try:
        from ..compress.errors import CompressError

        extra.append(CompressError)
    except ImportError:  # pragma: no cover
        pass
    return (*loop_bad_input_types(), *extra)


def run_job(job: Any, emit: Callable[[Event], None], control: Any = None) -> Finished:
    """Run ``job.execute`` with the common envelope; returns (and emits) the one ``Finished``."""
    t0 = time.time()
    kind = getattr(job, "kind", type(job).__name__)
    ctx = JobContext(kind, emit, control)
    status = "failed"
    final: dict[str, float] = {}
    try:
        result = job.execute(ctx) or {}
        status = "stopped" if ctx.stopped else "completed"
        final = {k: float(v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        emit(JobResult(job=kind, result=result))
    except Cancelled:
        status = "stopped"
        emit(Log(message=f"{kind} cancelled", level="warning"))
    except Exception as exc:
        if isinstance(exc, bad_input_types()):
            emit(Error(message=str(exc), details=traceback.format_exc(), kind="bad_project"))
        else:
            emit(Error(message=f"{kind} failed: {type(exc).__name__}: {exc}", details=traceback.format_exc()))
    fin = Finished(status=status, epochs_run=0, global_step=0, wall_s=time.time() - t0, final=final)
    emit(fin)
    return fin


@dataclass
class TrainJob:
    """One training run (what ``Runner.start(project, run_dir, ...)`` builds)."""

    project: Any
    run_dir: str
    resume: str | None = None
    overrides: dict | None = None
    trainer: Any = None
    kind: str = field(default="train", init=False)

    def run(self, emit: Callable[[Event], None], control: Any = None, threads: int | None = None) -> Finished:
        from ..project import Project
        from .loop import TrainLoop

        project = self.project
        if isinstance(project, ValidatedProject):
            project = Project.model_validate(dict(project))
        return TrainLoop(project, self.run_dir, emit=emit, control=control, resume=self.resume,
                         overrides=self.overrides, trainer=self.trainer, threads=threads).run()
