"""Look: Fusion with a clean palette that follows the system's dark/light setting; plots match it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


def is_dark() -> bool:
    """``$LAYERLAB_THEME`` (dark|light) or the ``ui/theme`` setting beat the system's colour scheme."""
    import os

    forced = os.environ.get("LAYERLAB_THEME", "").strip().lower()
    if forced not in ("dark", "light"):
        try:
            from .settings import settings

            forced = str(settings().value("ui/theme", "auto")).lower()
        except Exception:  # noqa: BLE001 - no settings yet: follow the system
            forced = "auto"
    if forced in ("dark", "light"):
        return forced == "dark"
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    return bool(scheme is not None and scheme() == Qt.ColorScheme.Dark)


def dark_palette() -> QPalette:
    p = QPalette()
    R = QPalette.ColorRole
    win, base, text = QColor(37, 39, 43), QColor(28, 30, 33), QColor(228, 230, 233)
    p.setColor(R.Window, win)
    p.setColor(R.WindowText, text)
    p.setColor(R.Base, base)
    p.setColor(R.AlternateBase, QColor(44, 47, 52))
    p.setColor(R.ToolTipBase, QColor(50, 53, 58))
    p.setColor(R.ToolTipText, text)
    p.setColor(R.Text, text)
    p.setColor(R.Button, QColor(48, 51, 56))
    p.setColor(R.ButtonText, text)
    p.setColor(R.BrightText, QColor(255, 90, 90))
    p.setColor(R.Highlight, QColor(66, 133, 214))
    p.setColor(R.HighlightedText, QColor(255, 255, 255))
    p.setColor(R.Link, QColor(110, 170, 240))
    p.setColor(R.PlaceholderText, QColor(140, 143, 148))
    for role in (R.Text, R.WindowText, R.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 123, 128))
    return p


def apply_style(app: QApplication) -> None:
    import pyqtgraph as pg

    app.setStyle("Fusion")
    dark = is_dark()
    pal = dark_palette() if dark else app.style().standardPalette()
    app.setPalette(pal)
    font = app.font()
    if font.pointSizeF() < 9.5:
        font.setPointSizeF(9.5)
        app.setFont(font)
    bg = pal.color(QPalette.ColorRole.Base)
    fg = pal.color(QPalette.ColorRole.WindowText)
    pg.setConfigOptions(background=bg, foreground=fg, antialias=False)
