"""Errors never crash the window: a log file under the data dir, an excepthook, a dialog with details."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

from .settings import data_dir

log = logging.getLogger("layerlab.studio")
_handler: RotatingFileHandler | None = None


def setup_logging() -> Path:
    """Route the studio's log to ``<data dir>/logs/studio.log`` (rotated, 1 MB x 3). Idempotent."""
    global _handler
    path = data_dir() / "logs" / "studio.log"
    if _handler is not None and Path(_handler.baseFilename) == path:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if _handler is not None:
        log.removeHandler(_handler)
        _handler.close()
    _handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    return path


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def plain_message(exc: BaseException) -> str:
    """One sentence a user can read: the exception's text, without a traceback."""
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 600 else text[:600] + "…"


ErrorSink = Callable[[str, str, str], None]  # (title, message, details)


class ExceptHook:
    """``sys.excepthook`` replacement: log the traceback, then show it through ``sink`` (never re-raise)."""

    def __init__(self, sink: ErrorSink):
        self.sink = sink
        self.previous = sys.excepthook
        self._busy = False

    def install(self) -> ExceptHook:
        sys.excepthook = self
        return self

    def uninstall(self) -> None:
        if sys.excepthook is self:
            sys.excepthook = self.previous

    def __call__(self, etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(etype, KeyboardInterrupt):
            self.previous(etype, value, tb)
            return
        details = "".join(traceback.format_exception(etype, value, tb))
        log.error("unhandled exception\n%s", details)
        if self._busy:  # an error while showing an error: only log it
            return
        self._busy = True
        try:
            self.sink("Unexpected error", plain_message(value), details)
        except Exception:  # noqa: BLE001 - the last line of defence must not raise
            log.exception("error sink failed")
        finally:
            self._busy = False

    def asyncio_handler(self, loop, context: dict) -> None:
        """For ``loop.set_exception_handler``: exceptions in qasync tasks/callbacks land here."""
        exc = context.get("exception")
        if exc is None:
            log.error("asyncio: %s", context.get("message"))
            return
        self(type(exc), exc, exc.__traceback__)
