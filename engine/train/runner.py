"""Runners: a job (a training run, or any picklable ``engine.train.jobs`` job: export, quantize, prune,
...) in a background thread or a spawned child process, behind one interface.

``start(project, run_dir, ...)`` runs a training (a ``TrainJob``); ``start_job(job)`` runs any job
object with ``run(emit, control)``; both emit the same events and end with one ``Finished``.

Commands (pause / resume / stop / snapshot) go in through a thread-safe queue; events come out
through another, drained with ``poll`` (non-blocking) or ``wait_event`` (blocking). Never imports Qt.

- ``ThreadRunner``: the loop in a daemon thread of this process (cheap to start; shares the GIL).
- ``ProcessRunner``: the loop in a ``multiprocessing`` "spawn" child. Commands and events cross
  ``mp.Queue``s (events are picklable: numpy arrays and plain dicts). The child watches its parent
  (``os.getppid()``) and exits if the parent dies; ``close()`` stops it and terminates it if needed.

Every run ends with one ``Finished`` event (after an ``Error`` if it failed); then ``start`` may be
called again.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import threading
import time
import traceback
from typing import Any

from .events import Error, Event, Finished
from .jobs import TrainJob, ValidatedProject

COMMANDS = ("pause", "resume", "stop", "snapshot")


class Runner:
    """Base interface (see the module docstring). ``make_runner("thread" | "process")`` builds one."""

    def start(self, project: Any, run_dir: str, *, resume: str | None = None,
              overrides: dict | None = None, trainer: Any = None) -> None:
        """Train ``project`` into ``run_dir`` (a ``TrainJob``)."""
        from ..project import Project

        if isinstance(project, Project):
            # validated already: marked so a child process only type-checks it again
            project = ValidatedProject(project.to_dict())
        self.start_job(TrainJob(project, str(run_dir), resume, overrides, trainer))

    def start_job(self, job: Any) -> None:
        """Run ``job`` (an object with ``run(emit, control)``; picklable for the process runner)."""
        raise NotImplementedError

    def _send(self, cmd: str) -> None:
        raise NotImplementedError

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def stop(self) -> None:
        self._send("stop")

    def request_snapshot(self) -> None:
        """Save a checkpoint (``checkpoints/last.pt``) at the next step."""
        self._send("snapshot")

    def poll(self, max_events: int = 1000) -> list[Event]:
        out: list[Event] = []
        while len(out) < max_events:
            ev = self._get(block=False, timeout=None)
            if ev is None:
                break
            out.append(ev)
        return out

    def wait_event(self, timeout: float) -> Event | None:
        return self._get(block=True, timeout=timeout)

    def _get(self, block: bool, timeout: float | None) -> Event | None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        raise NotImplementedError

    def join(self, timeout: float | None = None) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ThreadRunner(Runner):
    """The loop in a background thread of this process."""

    def __init__(self) -> None:
        self._events: queue.Queue[Event] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._control: Any = None

    def start_job(self, job):
        from .device import default_threads
        from .loop import Control

        if self.running:
            raise RuntimeError("a training run is already in progress: stop it (and join) before starting another")
        self._control = Control()
        control, events = self._control, self._events

        def target() -> None:
            try:
                _run(job, events.put, control, default_threads())
            except BaseException as exc:  # run() turns errors into events; this is the last resort
                events.put(Error(message=f"the {_kind(job)} thread crashed: {exc}", details=traceback.format_exc()))
                events.put(Finished(status="failed", epochs_run=0, global_step=0, wall_s=0.0))

        self._thread = threading.Thread(target=target, name="layerlab-train", daemon=True)
        self._thread.start()

    def _send(self, cmd: str) -> None:
        if self._control is not None and self.running:
            self._control.put(cmd)

    def _get(self, block, timeout):
        try:
            return self._events.get(block=block, timeout=timeout)
        except queue.Empty:
            return None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout=None):
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self) -> None:
        if self.running:
            self._control.put("stop")
            self.join(30.0)


# ---------------------------------------------------------------------------------------------
# process runner


def _kind(job: Any) -> str:
    return "training" if isinstance(job, TrainJob) else str(getattr(job, "kind", "job"))


def _run(job: Any, emit: Any, control: Any, threads: int | None) -> None:
    if isinstance(job, TrainJob):
        job.run(emit, control, threads=threads)
    else:
        job.run(emit, control)


def _child_main(job: Any, cmd_q: Any, evt_q: Any, parent_pid: int, threads: int,
                ready: Any = None) -> None:
    """Entry point of the spawned child: watchdog, command listener, then the job.

    ``job`` is a job object (``TrainJob`` or any ``run(emit, control)`` job); ``None`` means a
    pre-warmed child: import the heavy modules now, then wait for the job on the command queue.
    """
    import torch

    torch.set_num_threads(max(1, threads))

    def watchdog() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(3)  # the parent died: nobody is listening

    threading.Thread(target=watchdog, name="layerlab-watchdog", daemon=True).start()
    from .loop import Control

    if job is None:  # pre-warmed: pay the imports before the user presses Train
        for name in ("torchvision.transforms.v2", "torchmetrics", "engine.train.supervised", "engine.graph"):
            with contextlib.suppress(Exception):
                __import__(name)
        if ready is not None:
            ready.set()
        try:
            msg = cmd_q.get()
        except (EOFError, OSError):
            os._exit(3)
        if not (isinstance(msg, tuple) and len(msg) == 2 and msg[0] == "job"):
            return  # closed before any job arrived
        job = msg[1]
    control = Control()

    def listen() -> None:
        while True:
            try:
                cmd = cmd_q.get()
            except (EOFError, OSError):
                os._exit(3)
            if cmd is None:
                return
            control.put(cmd)

    threading.Thread(target=listen, name="layerlab-commands", daemon=True).start()
    try:
        _run(job, evt_q.put, control, threads)
    except BaseException as exc:
        evt_q.put(Error(message=f"the {_kind(job)} process crashed: {exc}", details=traceback.format_exc()))
        evt_q.put(Finished(status="failed", epochs_run=0, global_step=0, wall_s=0.0))
    finally:
        evt_q.close()
        evt_q.join_thread()  # flush every event before exiting


class ProcessRunner(Runner):
    """The loop in a spawned child process (does not hold this process's GIL)."""

    def __init__(self, threads: int | None = None) -> None:
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._cmd_q: Any = None
        self._evt_q: Any = None
        self._finished = False
        self._after_error: Finished | None = None
        self._threads = threads
        self._warm = False  # a pre-warmed child is waiting for its job
        self._ready: Any = None  # set by a pre-warmed child once its imports are done
        self._kind = "training"  # what the running job is, for messages

    def start_job(self, job):
        if self.running and not self._warm:
            raise RuntimeError("a training run is already in progress: stop it (and join) before starting another")
        self._kind = _kind(job)
        if self._warm and self._proc is not None and self._proc.is_alive():
            self._warm = False
            self._finished = False
            self._after_error = None
            self._cmd_q.put(("job", job))
            return
        self._warm = False
        self._cleanup()
        self._spawn(job)

    def prewarm(self) -> None:
        """Spawn the child now and let it import torch & co., so ``start`` begins training at once.

        The studio calls this after its window is shown; a later ``start`` hands the job to this child.
        """
        if self._proc is not None and self._proc.is_alive():
            return
        self._cleanup()
        self._spawn(None)
        self._warm = True

    def wait_warm(self, timeout: float | None = None) -> bool:
        """After ``prewarm``: wait until the child has imported everything (True) or ``timeout`` passes."""
        return self._ready is not None and self._ready.wait(timeout)

    def _spawn(self, job: tuple | None) -> None:
        from .device import default_threads

        self._cmd_q = self._ctx.Queue()
        self._evt_q = self._ctx.Queue()
        self._finished = False
        self._after_error = None
        self._ready = self._ctx.Event() if job is None else None
        from ..threads import apply_thread_env

        threads = self._threads or default_threads()
        apply_thread_env()  # the child inherits it and reads it when its torch loads
        self._proc = self._ctx.Process(
            target=_child_main, name="layerlab-train",
            args=(job, self._cmd_q, self._evt_q, os.getpid(), threads, self._ready),
            daemon=True,
        )
        self._proc.start()

    def _send(self, cmd: str) -> None:
        if cmd not in COMMANDS:
            raise ValueError(f"unknown command {cmd!r}")
        if self._cmd_q is not None and self.running:
            with contextlib.suppress(OSError, ValueError):
                self._cmd_q.put(cmd)

    def _get(self, block, timeout):
        if self._after_error is not None:  # the Finished that follows a hard-crash Error
            ev, self._after_error = self._after_error, None
            return ev
        if self._evt_q is None:
            return None
        try:
            ev = self._evt_q.get(block=block, timeout=timeout) if block else self._evt_q.get_nowait()
        except (queue.Empty, OSError, EOFError, ValueError):
            ev = None
        if ev is None and self._proc is not None and not self._proc.is_alive() and not self._finished:
            # the child died without a Finished event (killed, crashed hard): say so once
            with contextlib.suppress(queue.Empty, OSError, EOFError, ValueError):
                return self._track(self._evt_q.get(timeout=0.2))
            self._finished = True
            code = self._proc.exitcode
            self._after_error = Finished(status="failed", epochs_run=0, global_step=0, wall_s=0.0,
                                         final={"exitcode": float(code if code is not None else -1)})
            return Error(message=f"the {self._kind} process ended unexpectedly ({_exit_reason(code)}); "
                                 "the last saved checkpoint, if any, is kept", kind="exception")
        return self._track(ev)

    def _track(self, ev: Event | None) -> Event | None:
        if isinstance(ev, Finished):
            self._finished = True
        return ev

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.is_alive() and not self._finished and not self._warm

    def join(self, timeout=None):
        """Wait for the child to exit (draining events stays the caller's job)."""
        if self._proc is None:
            return True
        self._proc.join(timeout)
        return not self._proc.is_alive()

    def _cleanup(self) -> None:
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.join(5.0)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(2.0)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(2.0)
            with contextlib.suppress(Exception):
                self._proc.close()
        for q in (self._cmd_q, self._evt_q):
            if q is not None:
                with contextlib.suppress(Exception):
                    q.cancel_join_thread()
                    q.close()
        self._proc = self._cmd_q = self._evt_q = None

    def close(self) -> None:
        """Stop the run (cooperatively, then by force) and release the child and its queues."""
        if self._warm and self._proc is not None and self._proc.is_alive():
            with contextlib.suppress(Exception):
                self._cmd_q.put(None)  # no job will come
            self._proc.join(5.0)
            self._warm = False
        if self._proc is not None and self._proc.is_alive():
            with contextlib.suppress(Exception):
                self._cmd_q.put("stop")
            # the child flushes its events before exiting; drain so its feeder thread is not blocked
            deadline = time.monotonic() + 10.0
            while self._proc.is_alive() and time.monotonic() < deadline:
                with contextlib.suppress(queue.Empty, OSError, EOFError, ValueError):
                    self._evt_q.get(timeout=0.1)
        if self._proc is not None and self._proc.is_alive():
            self._proc.terminate()
        self._cleanup()


_ValidatedProject = ValidatedProject  # the name older code used


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "exit code unknown"
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (often: out of memory)" if name == "SIGKILL" else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"


def make_runner(mode: str = "thread") -> Runner:
    """``"thread"`` or ``"process"``."""
    if mode == "thread":
        return ThreadRunner()
    if mode == "process":
        return ProcessRunner()
    raise ValueError(f"runner mode must be 'thread' or 'process', not {mode!r}")
