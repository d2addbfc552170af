"""Work around a PySide6 refcount bug: on Python < 3.12 (where ``None`` is not immortal), PySide6
6.12's void-returning methods (``QPainter.drawLine``, ``QWidget.setEnabled``, ``QImage.fill``, ...)
drop one reference to ``None`` per call. A busy GUI drives ``None``'s count to zero within minutes
and CPython aborts with "none_dealloc: deallocating None".

:func:`install_none_guard` checks at run time whether this PySide6 has the bug and, if so, keeps
``None``'s reference count topped up (a periodic QTimer plus an immediate top-up). ``None`` is
never freed anyway, so a larger count is harmless. On Python >= 3.12 or a fixed PySide6 it does
nothing.
"""

from __future__ import annotations

import ctypes
import sys

TOP_UP = 1 << 40  # references added per top-up (the counter is a 64-bit Py_ssize_t)
LOW_WATER = 1 << 39
_guard = None


def leaks_none() -> bool:
    """True if a void PySide6 call drops a reference to ``None`` (measured, not assumed)."""
    if sys.version_info >= (3, 12):
        return False
    from PySide6.QtCore import QPoint

    p = QPoint(0, 0)
    before = sys.getrefcount(None)
    for _ in range(200):
        p.setX(1)
    return sys.getrefcount(None) - before <= -100


def top_up() -> None:
    """Raise ``None``'s reference count well away from zero (CPython < 3.12 only)."""
    if sys.version_info >= (3, 12):
        return
    if sys.getrefcount(None) < LOW_WATER:
        ctypes.c_ssize_t.from_address(id(None)).value += TOP_UP


def install_none_guard(interval_ms: int = 1000) -> bool:
    """Install once per process; returns True when the guard is active."""
    global _guard
    if _guard is not None:
        return True
    if not leaks_none():
        return False
    from PySide6.QtCore import QCoreApplication, QTimer

    top_up()
    app = QCoreApplication.instance()
    if app is not None:
        _guard = QTimer(app)
        _guard.setInterval(interval_ms)
        _guard.timeout.connect(top_up)
        _guard.start()
    else:
        _guard = True  # one top-up of 2**40 references outlasts any session
    return True


# ---------------------------------------------------------------------------------------------
# garbage collection on the GUI thread only

_gc_owners = 0
_gc_timer = None


def hold_gui_gc() -> None:
    """Collect Python garbage only on the Qt thread while a window is open.

    Python's cyclic GC runs in whichever thread happens to allocate. When a background thread (the
    in-thread training runner, the runner-closing helper) collects a cycle holding a Qt wrapper,
    shiboken defers the C++ deletion to the GUI thread, which can then deadlock inside a paint
    event (seen here: ``QObject::~QObject`` waiting on a mutex during ``QGraphicsView.paintEvent``).
    pyqtgraph's ``GarbageCollector`` pattern is the cure: automatic GC off, a timer on the GUI
    thread collects generation by generation. Balanced by :func:`release_gui_gc`; nested holds
    (several windows) share one timer.
    """
    global _gc_owners, _gc_timer
    from pyqtgraph.util.garbage_collector import GarbageCollector

    _gc_owners += 1
    if _gc_owners == 1:
        _gc_timer = GarbageCollector(interval=0.5)  # disables automatic gc, checks every 0.5 s


def release_gui_gc() -> None:
    """Undo one :func:`hold_gui_gc`; the last release turns automatic collection back on."""
    global _gc_owners, _gc_timer
    import gc

    if _gc_owners == 0:
        return
    _gc_owners -= 1
    if _gc_owners == 0 and _gc_timer is not None:
        _gc_timer.timer.stop()
        _gc_timer = None
        gc.enable()


def freeze_long_lived() -> None:
    """Move everything alive now (imported modules, the open document, the window's items) into the
    permanent generation, so Python's full collections stop re-scanning them.

    A full collection over the studio's heap (torch, Qt wrappers, a 300-node scene) took ~150 ms and
    landed in the middle of edits (the designer's p99 edit latency was 155 ms against a 9 ms median);
    after a freeze it scans only what was made since. Called when a document is opened and after torch
    is imported in the background; ``gc.freeze`` is cheap and objects freed later are still freed by
    reference counting.
    """
    import gc

    gc.collect()
    gc.freeze()
