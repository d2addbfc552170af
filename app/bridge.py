"""The runner bridge: engine events -> typed Qt signals, drained on the Qt thread at a bounded rate.

A QTimer (default 40 ms, 25 Hz) calls ``runner.poll()`` (non-blocking). Each tick coalesces what
arrived: every Progress goes out in one ``progress(list)`` emission (plots take all points, the
progress bar only the last); Samples go out as one ``samples(list)`` per tick (every grid joins the
timeline, the view draws only the newest per kind); other events go out one by one. The runner
never waits for the UI: it only ever appends to its queue.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from engine.train.events import (
    CheckpointSaved,
    Diagnostic,
    EpochEnd,
    Error,
    Finished,
    Log,
    Paused,
    Progress,
    Resumed,
    Samples,
    Started,
)

from .settings import runner_mode

log = logging.getLogger("layerlab.studio.bridge")
RunnerFactory = Callable[[str], Any]


def _close_quietly(runner: Any) -> None:
    try:
        runner.join(10.0)
        runner.close()
    except Exception:  # noqa: BLE001 - closing must not raise
        log.exception("closing the runner failed")


def default_factory(mode: str) -> Any:
    from engine.train.runner import make_runner  # lazy: imports torch (thread mode) only now

    return make_runner(mode)


class RunnerBridge(QObject):
    started = Signal(object)  # Started
    progress = Signal(list)  # [Progress, ...] of one tick, oldest first
    epochEnd = Signal(object)  # EpochEnd
    samples = Signal(list)  # [Samples, ...] of one tick, oldest first
    log = Signal(object)  # Log
    checkpoint = Signal(object)  # CheckpointSaved
    diagnostic = Signal(object)  # Diagnostic
    error = Signal(object)  # Error
    paused = Signal(object)  # Paused
    resumed = Signal(object)  # Resumed
    finished = Signal(object)  # Finished
    runningChanged = Signal(bool)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        mode: str | None = None,
        factory: RunnerFactory | None = None,
        interval_ms: int = 40,
        max_events: int = 5000,
    ):
        super().__init__(parent)
        self.mode = mode or runner_mode()
        self.factory = factory or default_factory
        self.max_events = max_events
        self.runner: Any = None
        self._spare: Any = None  # a runner made ahead of time (warm process / imports)
        self.timer = QTimer(self)
        self.timer.setInterval(max(10, int(interval_ms)))
        self.timer.timeout.connect(self.tick)
        self.active = False
        self.paused_now = False
        self.ticks = 0
        self.events_seen = 0
        self.last_tick_s = 0.0  # wall time the last tick took (for the benchmark)
        self.busy_ticks: deque[float] = deque(maxlen=4096)  # seconds spent in ticks that carried events
        self._idle_ticks = 0
        self._closer: threading.Thread | None = None
        # runs in this process's threads (thread mode, and the closing helper): Python's GC must run only
        # on the Qt thread while this bridge lives, or collecting a Qt wrapper there can deadlock a paint
        from widgets.qt_compat import hold_gui_gc

        hold_gui_gc()
        self._gc_held = True

    # -- commands --------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.active

    def prepare(self) -> None:
        """Make the next runner ahead of the Train click; a runner with ``prewarm()`` (e.g. a child
        process that imports torch before it is given a project) gets it called."""
        if self._spare is None and not self.active:
            self._spare = self.factory(self.mode)
            warm = getattr(self._spare, "prewarm", None)
            if callable(warm):
                warm()

    def start(self, project: Any, run_dir: str, *, resume: str | None = None, overrides: dict | None = None) -> None:
        self._launch(lambda r: r.start(project, run_dir, resume=resume, overrides=overrides),
                     "a training run is already going; stop it first")

    def _launch(self, begin: Callable[[Any], None], busy: str) -> None:
        """Take the warm spare runner (or make one), ``begin(runner)``, and start draining its events."""
        if self.active:
            raise RuntimeError(busy)
        runner, self._spare = self._spare, None
        if runner is None:
            runner = self.factory(self.mode)
        self.runner = runner
        self.paused_now = False
        self._idle_ticks = 0
        begin(runner)
        self.active = True
        self.runningChanged.emit(True)
        self.timer.start()

    def pause(self) -> None:
        if self.active and self.runner is not None:
            self.runner.pause()

    def resume(self) -> None:
        if self.active and self.runner is not None:
            self.runner.resume()

    def stop(self) -> None:
        if self.active and self.runner is not None:
            self.runner.stop()

    def request_snapshot(self) -> None:
        if self.active and self.runner is not None:
            self.runner.request_snapshot()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop any run and release the runner(s) (window closing)."""
        self.timer.stop()
        if getattr(self, "_gc_held", False):
            from widgets.qt_compat import release_gui_gc

            self._gc_held = False
            release_gui_gc()
        if self._closer is not None:
            self._closer.join(timeout)
        for r in (self.runner, self._spare):
            if r is None:
                continue
            try:
                if getattr(r, "running", False):
                    r.stop()
                    r.join(timeout)
                r.close()
            except Exception:  # noqa: BLE001 - closing must not raise
                log.exception("closing the runner failed")
        self.runner = self._spare = None
        if self.active:
            self.active = False
            self.runningChanged.emit(False)

    # -- the drain -------------------------------------------------------------------------
    def tick(self) -> None:
        if self.runner is None:
            self.timer.stop()
            return
        t0 = time.perf_counter()
        try:
            events = self.runner.poll(max_events=self.max_events)
        except Exception as exc:  # noqa: BLE001 - a broken runner becomes an Error + Finished
            events = [
                Error(message=f"Lost contact with the training run: {exc}", details=traceback.format_exc()),
                Finished(status="failed", epochs_run=0, global_step=0, wall_s=0.0),
            ]
        if not events:
            self._idle_ticks += 1
            if self._idle_ticks >= 25 and not getattr(self.runner, "running", True):
                events = [
                    Error(message="The training run ended without saying why.", kind="exception"),
                    Finished(status="failed", epochs_run=0, global_step=0, wall_s=0.0),
                ]
            else:
                self.last_tick_s = time.perf_counter() - t0
                return
        self._idle_ticks = 0
        self.ticks += 1
        self.events_seen += len(events)
        self.dispatch(events)
        self.last_tick_s = time.perf_counter() - t0
        self.busy_ticks.append(self.last_tick_s)

    def dispatch(self, events: list[Any]) -> None:
        """Coalesce one batch of events and emit them (public so tests can feed synthetic events)."""
        progress: list[Progress] = []
        samples: list[Samples] = []
        finished: Finished | None = None

        def flush_progress() -> None:
            if progress:
                self.progress.emit(list(progress))
                progress.clear()

        for ev in events:
            if isinstance(ev, Progress):
                progress.append(ev)
            elif isinstance(ev, Samples):
                samples.append(ev)
            elif isinstance(ev, EpochEnd):
                flush_progress()
                self.epochEnd.emit(ev)
            elif isinstance(ev, Started):
                self.started.emit(ev)
            elif isinstance(ev, Log):
                self.log.emit(ev)
            elif isinstance(ev, CheckpointSaved):
                self.checkpoint.emit(ev)
            elif isinstance(ev, Diagnostic):
                self.diagnostic.emit(ev)
            elif isinstance(ev, Error):
                self.error.emit(ev)
            elif isinstance(ev, Paused):
                self.paused_now = True
                self.paused.emit(ev)
            elif isinstance(ev, Resumed):
                self.paused_now = False
                self.resumed.emit(ev)
            elif isinstance(ev, Finished):
                finished = ev
            else:
                log.warning("unknown event %r", type(ev).__name__)
        flush_progress()
        if samples:
            self.samples.emit(samples)
        if finished is not None:
            self._finish(finished)

    def _finish(self, ev: Finished) -> None:
        self.timer.stop()
        runner, self.runner = self.runner, None
        if runner is not None:  # joining a child process can take a second: never on the Qt thread
            self._closer = threading.Thread(target=_close_quietly, args=(runner,), name="layerlab-runner-close",
                                            daemon=True)
            self._closer.start()
        self.active = False
        self.paused_now = False
        self.runningChanged.emit(False)
        self.finished.emit(ev)
