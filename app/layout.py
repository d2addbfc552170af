"""Views that fit a laptop: a tab page whose content needs more room than a 1024x700 window gives it
scrolls instead of forcing the window larger (a page's minimum size becomes the window's)."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QScrollArea, QTabWidget, QWidget


def scrollable(page: QWidget) -> QScrollArea:
    """``page`` inside a frameless, resizable scroll area (the area is the tab; ``page_of`` gets the view)."""
    area = QScrollArea()
    area.setObjectName(f"{page.objectName() or type(page).__name__}Scroll")
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidgetResizable(True)
    area.setWidget(page)
    return area


def page_of(tab: QWidget | None) -> QWidget | None:
    """The view shown by a tab page (inside its scroll area, if it has one)."""
    if isinstance(tab, QScrollArea) and tab.widget() is not None and tab.objectName().endswith("Scroll"):
        return tab.widget()
    return tab


def show_view(tabs: QTabWidget, view: QWidget) -> bool:
    """Make the tab that shows ``view`` current (wrapped or not)."""
    for i in range(tabs.count()):
        if page_of(tabs.widget(i)) is view:
            tabs.setCurrentIndex(i)
            return True
    return False
