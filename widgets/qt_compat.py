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
