"""The studio window training for real through ``engine.train.runner`` (thread mode; process once)."""

from __future__ import annotations

import pytest
from test_gui_window import ScriptedPrompts

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_home):
    from app.bridge import RunnerBridge
    from app.window import MainWindow

    made = []

    def make(template="mlp", mode="thread"):
        win = MainWindow(prompts=ScriptedPrompts(), bridge=RunnerBridge(mode=mode, interval_ms=20), probe_devices=False)
        qtbot.addWidget(win)
        assert win.new_project(template)
        win.show()
        made.append(win)
        return win

    yield make
    for w in made:
        w.shutdown()


def test_train_few_steps_fills_plots_samples_checkpoints(window, qtbot):
    win = window("mlp")
    tv = win.train_view
    with qtbot.waitSignal(win.bridge.finished, timeout=90_000) as blocker:
        assert tv.start(max_steps=12, data_limit=300)
    ev = blocker.args[0]
    assert ev.status == "completed", tv.log_panel.toPlainText()
    x, y = tv.plots.curve_data("step", "loss")
    assert x is not None and len(x) >= 1 and x[-1] == 12
    assert len(tv.plots.curve_data("lr", "lr")[0]) >= 1
    assert len(tv.plots.curve_data("epoch", "val_loss")[0]) >= 1
    assert tv.samples_view.frames("predictions")
    assert tv.ckpt_list.count() >= 1
    assert "Finished" in tv.progress_bar.format()
    assert tv.train_btn.isEnabled() and not tv.stop_btn.isEnabled()
    # resume from the last checkpoint: a second run that starts where the first ended
    ckpt = ev.checkpoints.get("last")
    assert ckpt
    with qtbot.waitSignal(win.bridge.started, timeout=60_000) as started:
        assert tv.start(resume=ckpt, max_steps=14, data_limit=300)
    assert started.args[0].start_step == 12
    with qtbot.waitSignal(win.bridge.finished, timeout=60_000) as blocker2:
        pass
    assert blocker2.args[0].global_step == 14


def test_pause_resume_stop_real_runner(window, qtbot):
    win = window("mlp")
    with qtbot.waitSignal(win.bridge.started, timeout=60_000):
        win.train_view.start(max_steps=100_000, data_limit=300)
    with qtbot.waitSignal(win.bridge.paused, timeout=30_000):
        win.act_pause.trigger()
    assert win.train_view.pause_btn.text() == "Resume"
    with qtbot.waitSignal(win.bridge.resumed, timeout=30_000):
        win.act_pause.trigger()
    with qtbot.waitSignal(win.bridge.finished, timeout=30_000) as blocker:
        win.act_stop.trigger()
    assert blocker.args[0].status == "stopped"
    assert win.train_view.epochs_field.isEnabled()


def test_engine_error_event_keeps_the_window(window, qtbot):
    win = window("mlp")
    win.doc.project.data.dataset = "csv"
    win.doc.project.data.path = "/nonexistent/file.csv"
    with qtbot.waitSignal(win.bridge.finished, timeout=60_000) as blocker:
        win.train_view.start(max_steps=5)
    assert blocker.args[0].status == "failed"
    assert win.prompts.errors, "the error dialog was not shown"
    assert win.train_view.log_panel.counts.get("error", 0) >= 1
    assert win.isVisible() and win.train_view.train_btn.isEnabled()
    win.doc.project.data.dataset = "digits"  # and the window trains fine afterwards
    win.doc.project.data.path = None
    with qtbot.waitSignal(win.bridge.finished, timeout=60_000) as ok:
        win.train_view.start(max_steps=3, data_limit=200)
    assert ok.args[0].status == "completed"


def test_process_runner_once(window, qtbot):
    win = window("mlp", mode="process")
    with qtbot.waitSignal(win.bridge.finished, timeout=120_000) as blocker:
        win.train_view.start(max_steps=5, data_limit=200)
    assert blocker.args[0].status == "completed", win.train_view.log_panel.toPlainText()
    assert len(win.train_view.plots.curve_data("step", "loss")[0]) >= 1


def test_cli_screenshot_after_training(tmp_home, tmp_path):
    """``layerlab-studio --screenshot`` end to end (qasync loop, real runner) in a fresh process."""
    import os
    import subprocess
    import sys

    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LAYERLAB_RUNNER="thread")
    r = subprocess.run([sys.executable, "-m", "app.main", "--template", "mlp", "--screenshot", str(out),
                        "--train-steps", "3", "--data-limit", "200", "--size", "1400x900"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "trained 3 steps (completed)" in r.stdout
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert (img.width(), img.height()) == (1400, 900)
