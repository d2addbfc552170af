"""Every view fits a 1024x700 laptop and a 1920x1080 screen: the real window, resized."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QApplication
from studio_fakes import studio  # noqa: F401 - fixture

pytestmark = pytest.mark.gui


def _resize(qtbot, win, w, h):
    win.resize(w, h)
    QApplication.processEvents()
    qtbot.waitUntil(lambda: (win.width(), win.height()) == (w, h), timeout=3000)
    QApplication.processEvents()


def _rect_in(widget, ancestor) -> QRect:
    return QRect(widget.mapTo(ancestor, widget.rect().topLeft()), widget.size())


def _params_column_fully_shown(panel) -> bool:
    tree = panel.tree
    head = tree.header()
    right = head.sectionViewportPosition(2) + head.sectionSize(2)
    return not head.isSectionHidden(2) and head.sectionSize(2) >= 30 and 0 < right <= tree.viewport().width()


def _legends_clear_of_curves(plots) -> bool:
    for p in plots.panels:
        if p.legend.sceneBoundingRect().intersects(p.plot.vb.sceneBoundingRect()):
            return False
    return True


def test_a_1024x700_window_really_is_1024x700_and_nothing_overlaps(qtbot, studio):  # noqa: F811
    win = studio("cnn")
    win.tabs.setCurrentWidget(win.train_view)  # the studio opens on the Designer
    _resize(qtbot, win, 1024, 700)
    tv = win.train_view
    assert tv.compact  # plots and samples are tabs instead of squeezing each other
    assert tv.plots.width() >= tv.plots.minimumWidth() and tv.plots.height() >= 250
    left = _rect_in(tv.left_scroll, tv)
    right = _rect_in(tv.right, tv)
    assert not left.intersects(right)
    assert right.right() <= tv.width()
    assert _params_column_fully_shown(win.project_panel)
    assert _legends_clear_of_curves(tv.plots)
    # the controls scroll rather than overlap: every settings field keeps its height
    for f in (tv.epochs_field, tv.batch_field, tv.lr_field):
        assert f.edit.height() >= f.edit.minimumSizeHint().height()


def test_a_1920x1080_window_shows_plots_and_samples_side_by_side(qtbot, studio):  # noqa: F811
    win = studio("cnn")
    win.tabs.setCurrentWidget(win.train_view)  # the studio opens on the Designer
    _resize(qtbot, win, 1920, 1080)
    tv = win.train_view
    assert not tv.compact
    assert tv.plots.isVisible() and tv.samples_view.isVisible()
    assert not _rect_in(tv.plots, tv).intersects(_rect_in(tv.samples_view, tv))
    assert _legends_clear_of_curves(tv.plots)
    _resize(qtbot, win, 1024, 700)  # and back: the same widgets, now in tabs
    assert tv.compact and tv.right_tabs.count() == 2


def test_a_narrowed_project_panel_keeps_its_params_column_after_a_restart(qtbot, studio):  # noqa: F811
    win = studio("cnn")
    win.tabs.setCurrentWidget(win.train_view)  # the studio opens on the Designer
    _resize(qtbot, win, 1024, 700)
    win.resizeDocks([win.project_dock], [60], Qt.Orientation.Horizontal)  # as narrow as it goes
    QApplication.processEvents()
    assert _params_column_fully_shown(win.project_panel)
    win.shutdown()  # remembers the layout
    again = studio("cnn")
    _resize(qtbot, again, 1024, 700)
    assert _params_column_fully_shown(again.project_panel)


def test_the_start_page_fits_both_sizes(qtbot, studio):  # noqa: F811
    win = studio("cnn")
    win.tabs.setCurrentWidget(win.train_view)  # the studio opens on the Designer
    win.tabs.setCurrentWidget(win.start_view)
    for w, h in ((1024, 700), (1920, 1080)):
        _resize(qtbot, win, w, h)
        sv = win.start_view
        for b in (sv.template_btn, sv.empty_btn, sv.open_btn):
            assert b.isVisible() and b.width() >= b.minimumSizeHint().width()


def test_every_tab_fits_a_1024x700_window(qtbot, studio):  # noqa: F811
    win = studio("cnn")
    for i in range(win.tabs.count()):
        win.tabs.setCurrentIndex(i)
        _resize(qtbot, win, 1024, 700)  # a view that needs more room scrolls instead of growing the window
        page = win.tabs.currentWidget()
        assert page.width() <= win.tabs.width() and page.height() <= win.tabs.height(), win.tabs.tabText(i)
        _resize(qtbot, win, 1920, 1080)


def test_the_designer_gives_the_project_panel_room_to_the_canvas_and_a_toggle_is_remembered_per_tab(
        qtbot, studio):  # noqa: F811
    win = studio("cnn", view=None)
    _resize(qtbot, win, 1024, 700)
    win.tabs.setCurrentWidget(win.designer)
    assert win.project_dock.isHidden()
    # the canvas, palette and inspector get the whole window (the layout settles on the next events)
    qtbot.waitUntil(lambda: win.designer.width() > 900, timeout=3000)
    win.tabs.setCurrentWidget(win.train_view)
    assert win.project_dock.isVisible()
    win.tabs.setCurrentWidget(win.designer)
    win.project_dock.toggleViewAction().trigger()  # the user wants it on the Designer too
    assert win.project_dock.isVisible()
    win.tabs.setCurrentWidget(win.train_view)
    win.project_dock.close()  # ... and not on Train (the dock's close button)
    win.tabs.setCurrentWidget(win.designer)
    assert win.project_dock.isVisible()
    win.shutdown()
    again = studio("cnn", view=None)
    again.tabs.setCurrentWidget(again.designer)
    assert again.project_dock.isVisible()
    again.tabs.setCurrentWidget(again.train_view)
    assert again.project_dock.isHidden()


def test_the_class_histogram_legend_sits_above_the_bars_not_over_them(qtbot):
    import numpy as np

    from widgets.data_plots import ClassHistogram

    h = ClassHistogram()
    qtbot.addWidget(h)
    h.resize(500, 260)
    h.show()
    h.set_counts([str(i) for i in range(10)], np.full(10, 450), np.full(10, 50))
    qtbot.waitExposed(h)
    assert h.plot.getPlotItem().legend is None  # nothing drawn inside the plot area
    assert h.legend.isVisible() and "validation" in h.legend.text()
    assert h.legend.geometry().bottom() <= h.plot.geometry().top()


def test_a_window_opened_large_then_made_small_gives_the_width_to_the_designer_canvas(qtbot, studio):  # noqa: F811
    win = studio("cnn", view=None)
    win.tabs.setCurrentWidget(win.designer)
    _resize(qtbot, win, 1600, 1000)
    _resize(qtbot, win, 1024, 700)
    sizes = win.designer.splitter.sizes()
    qtbot.waitUntil(lambda: win.designer.splitter.sizes()[1] >= 480, timeout=3000)
    pal, canvas, side = win.designer.splitter.sizes()
    assert canvas > pal and canvas > side, sizes
    # a width the user drags is theirs: a later resize keeps the palette where they put it
    win.designer.splitter.moveSplitter(300, 1)
    user = win.designer.splitter.sizes()[0]
    _resize(qtbot, win, 1200, 800)
    assert abs(win.designer.splitter.sizes()[0] - user) <= 2
