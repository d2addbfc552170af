"""Live plots and their bounded series, fed with synthetic runner events."""

import numpy as np
import pytest

from engine.train.events import EpochEnd, Progress
from widgets.series import DecimatingSeries

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def _none_guard(qapp):
    from widgets.qt_compat import install_none_guard

    install_none_guard()  # PySide6 6.12 on Python 3.11 leaks refs to None (see widgets/qt_compat.py)


def _progress(step: int, **metrics) -> Progress:
    return Progress(epoch=0, step=step, global_step=step, total_steps=100_000, lr=1e-3 * (1 + step % 3),
                    samples_per_sec=1000.0, eta_s=10.0, metrics=metrics)


def test_series_is_bounded_and_keeps_order_and_newest():
    s = DecimatingSeries(cap=64)
    for i in range(10_000):
        s.append(i, i * 2.0)
    assert len(s) <= 64
    assert s.total == 10_000
    assert np.all(np.diff(s.x) > 0)  # still sorted after decimation
    assert s.x[0] == 0 and s.last() == (9999.0, 19998.0)  # first and newest points kept
    np.testing.assert_array_equal(s.y, s.x * 2)


def test_series_rejects_tiny_cap():
    with pytest.raises(ValueError):
        DecimatingSeries(cap=2)


def test_plots_route_metrics_and_stay_bounded(qtbot):
    from widgets.plots import STEP_CAP, TrainingPlots

    w = TrainingPlots()
    qtbot.addWidget(w)
    events = [_progress(i, loss=1.0 / (i + 1)) for i in range(1, 3 * STEP_CAP)]
    for i in range(0, len(events), 500):  # like bridge ticks
        w.add_progress(events[i : i + 500])
        w.refresh()
    x, y = w.curve_data("step", "loss")
    assert x is not None and 0 < len(x) <= STEP_CAP
    assert x[-1] == events[-1].global_step
    lx, ly = w.curve_data("lr", "lr")
    assert len(lx) > 0 and 10 ** ly.max() == pytest.approx(3e-3)  # the LR plot is log-scaled
    w.add_epoch(EpochEnd(epoch=0, global_step=900, lr=1e-3, wall_s=1.0,
                         metrics={"train_loss": 0.5, "val_loss": 0.6, "val_accuracy": 0.9}))
    w.add_epoch(EpochEnd(epoch=1, global_step=1800, lr=1e-3, wall_s=1.0,
                         metrics={"train_loss": 0.3, "val_loss": 0.4, "val_accuracy": 0.95}))
    w.refresh()
    ex, ey = w.curve_data("epoch", "val_loss")
    assert list(ex) == [1.0, 2.0] and list(ey) == [0.6, 0.4]
    mx, my = w.curve_data("metric", "val_accuracy")
    assert list(mx) == [900.0, 1800.0] and list(my) == [0.9, 0.95]
    assert w.curve_data("epoch", "val_accuracy") == (None, None)  # metrics are not losses


def test_plots_gan_metrics_and_non_finite_values(qtbot):
    from widgets.plots import TrainingPlots

    w = TrainingPlots()
    qtbot.addWidget(w)
    w.add_progress([_progress(1, d_loss=1.2, g_loss=0.8, d_x=0.6, d_gz=0.3),
                    _progress(2, d_loss=float("nan"), g_loss=0.7, d_x=0.55, d_gz=0.35)])
    w.refresh()
    assert len(w.curve_data("step", "d_loss")[0]) == 1  # NaN is skipped, not plotted
    assert len(w.curve_data("step", "g_loss")[0]) == 2
    assert list(w.curve_data("metric", "d_x")[1]) == [0.6, 0.55]
    curves_before = dict(w.step_panel.curves)
    w.clear()
    w.add_progress([_progress(3, d_loss=1.0, g_loss=1.0, d_x=0.5, d_gz=0.5)])
    w.refresh()
    assert w.step_panel.curves == curves_before  # curves are reused, never re-created
    assert list(w.curve_data("step", "d_loss")[0]) == [3.0]


def test_metric_filter_shows_headline_metrics_first(qtbot):
    from widgets.plots import TrainingPlots

    w = TrainingPlots()
    qtbot.addWidget(w)
    w.add_epoch(EpochEnd(epoch=0, global_step=10, lr=1e-3, wall_s=1.0,
                         metrics={"val_loss": 0.5, "val_accuracy": 0.9, "val_f1": 0.88, "val_recall": 0.87}))
    w.refresh()
    assert w.visible_metrics() == ["val_accuracy"]
    assert w.metric_panel.curves["val_accuracy"].isVisible() and not w.metric_panel.curves["val_f1"].isVisible()
    w.metric_box.setCurrentIndex(w.metric_box.findData("val_f1"))
    assert w.metric_panel.curves["val_f1"].isVisible() and not w.metric_panel.curves["val_accuracy"].isVisible()
    w.metric_box.setCurrentIndex(w.metric_box.findData("all"))
    assert all(c.isVisible() for c in w.metric_panel.curves.values())


def test_none_guard_keeps_none_alive(qapp):
    import sys

    from PySide6.QtCore import QPoint

    from widgets.qt_compat import install_none_guard, leaks_none, top_up

    install_none_guard()
    top_up()
    p = QPoint()
    before = sys.getrefcount(None)
    for _ in range(1000):
        p.setX(1)
    if leaks_none():  # the buggy PySide6: the guard must hold None far above zero
        assert sys.getrefcount(None) > 1 << 38
    else:
        assert sys.getrefcount(None) >= before - 10


def test_staggered_refresh_draws_one_plot_per_tick_then_all(qtbot):
    from widgets.plots import TrainingPlots

    w = TrainingPlots()
    qtbot.addWidget(w)
    w.add_progress([_progress(1, loss=1.0, acc=0.5)])
    w.refresh(stagger=True)
    drawn = [p for p in w.panels if not p.dirty]
    assert len(drawn) == 2  # the step plot drawn now; metric and LR wait for the next ticks
    qtbot.waitUntil(lambda: not any(p.dirty for p in w.panels), timeout=15000)  # a busy CI machine
    assert list(w.curve_data("metric", "acc")[1]) == [0.5]
    assert list(w.curve_data("lr", "lr")[0]) == [1.0]


def test_log_panel_hides_debug_lines_by_default(qtbot):
    from widgets.log_panel import LogPanel

    panel = LogPanel()
    qtbot.addWidget(panel)
    panel.add("TensorBoard export skipped", "debug")
    panel.add("Epoch 1 done", "info")
    text = panel.toPlainText()
    assert "Epoch 1 done" in text and "TensorBoard" not in text
    assert panel.counts == {"debug": 1, "info": 1}
    verbose = LogPanel(show_debug=True)
    qtbot.addWidget(verbose)
    verbose.add("TensorBoard export skipped", "debug")
    assert "TensorBoard" in verbose.toPlainText()


def test_gui_gc_runs_on_the_qt_thread_only_while_held(qtbot):
    """Automatic (any-thread) GC is off while a window holds it; a GUI-thread timer collects."""
    import gc

    from widgets import qt_compat

    others = qt_compat._gc_owners  # windows of earlier tests in this worker may still hold it
    qt_compat.hold_gui_gc()
    qt_compat.hold_gui_gc()  # a second window shares it
    try:
        assert not gc.isenabled()
        qt_compat.release_gui_gc()
        assert not gc.isenabled()
    finally:
        qt_compat.release_gui_gc()
    assert gc.isenabled() == (others == 0)


def test_log_panel_follows_the_newest_line_unless_the_reader_scrolled_up(qtbot):
    from widgets.log_panel import LogPanel

    panel = LogPanel()
    qtbot.addWidget(panel)
    panel.resize(260, 120)
    panel.show()
    qtbot.waitExposed(panel)
    for i in range(120):  # long, wrapping lines like the epoch summaries
        panel.add(f"Epoch {i} done in 2.0 s: train_loss 1.045, val_loss 0.896, val_accuracy 0.5833, val_f1 0.5486")
    bar = panel.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == bar.maximum()
    panel.resize(200, 90)  # the panel shrinks (the run's summary above it grew): still at the newest line
    qtbot.waitUntil(lambda: bar.value() == bar.maximum() and panel.height() == 90)
    panel.add("Training again")
    assert bar.value() == bar.maximum()
    bar.setValue(0)  # the reader goes back to the first epochs
    panel.add("Finished")
    assert bar.value() == 0
