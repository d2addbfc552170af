"""The studio issue's "Done when" walkthrough, as a new user does it, on the real window:
New -> template, Train (button), F6 pause/resume, Shift+F5 stop, Save, quit, reopen from Recent,
Resume from checkpoint: the earlier curve is back and the new points continue from the checkpoint's
step. Thread runner for speed; closing while training is checked with the process runner."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest
from PySide6.QtCore import Qt
from test_gui_window import ScriptedPrompts

pytestmark = pytest.mark.gui


def _window(qtbot, prompts, mode="thread"):
    from app.bridge import RunnerBridge
    from app.window import MainWindow

    win = MainWindow(prompts=prompts, bridge=RunnerBridge(mode=mode, interval_ms=20), probe_devices=False)
    qtbot.addWidget(win)
    with qtbot.waitActive(win):  # window shortcuts (F5/F6/Shift+F5) need the active window
        win.show()
        win.activateWindow()
    return win


def _recent_action(win):
    win.recent_menu.aboutToShow.emit()
    return next(a for a in win.recent_menu.actions() if a.toolTip().endswith(".json"))


def _walk(qtbot, tmp_path, template: str, limit: int):
    prompts = ScriptedPrompts()
    prompts.paths["template"] = template
    win = _window(qtbot, prompts)
    win.act_new.trigger()
    tv = win.train_view
    win.doc.set_field("data.limit", limit)  # a small slice of digits keeps the test fast
    tv.epochs_field.commit_text(str(200))  # long enough to pause and stop by hand
    with qtbot.waitSignal(win.bridge.started, timeout=60_000):
        qtbot.mouseClick(tv.train_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tv.plots.points >= 3, timeout=60_000)  # the plots move
    with qtbot.waitSignal(win.bridge.paused, timeout=30_000):
        qtbot.keyClick(win, Qt.Key.Key_F6)
    assert tv.pause_btn.text() == "Resume"
    with qtbot.waitSignal(win.bridge.resumed, timeout=30_000):
        qtbot.keyClick(win, Qt.Key.Key_F6)
    with qtbot.waitSignal(win.bridge.finished, timeout=30_000) as fin:
        qtbot.keyClick(win, Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)
    stopped = fin.args[0]
    assert stopped.status == "stopped" and stopped.checkpoints.get("last")
    loss = "loss" if template != "dcgan" else "g_loss"
    before_x = list(tv.plots.curve_data("step", loss)[0])
    assert before_x and before_x[-1] == stopped.global_step
    frames_before = len(tv.samples_view.frames("gan")) if template == "dcgan" else 0

    project = tmp_path / f"my-{template}.json"
    prompts.paths["save"] = str(project)
    win.act_save.trigger()  # unsaved -> Save As
    assert project.is_file() and not win.doc.dirty
    win.close()
    assert not win.isVisible()

    prompts2 = ScriptedPrompts()
    win2 = _window(qtbot, prompts2)
    _recent_action(win2).trigger()
    tv2 = win2.train_view
    assert win2.doc.path == project.resolve() or str(win2.doc.path) == str(project)
    assert tv2.ckpt_list.count() >= 1, "the last run's checkpoints are listed after reopening"
    assert list(tv2.plots.curve_data("step", loss)[0]) == before_x, "the last run's curve is shown again"
    if template == "dcgan":  # and its sample timeline, read back from the run's samples/ folder
        assert len(tv2.samples_view.frames("gan")) == frames_before

    prompts2.paths["checkpoint"] = stopped.checkpoints["last"]
    with qtbot.waitSignal(win2.bridge.started, timeout=60_000) as st:
        win2.act_resume_ckpt.trigger()
    assert st.args[0].start_step == stopped.global_step
    qtbot.waitUntil(lambda: tv2.plots.curve_data("step", loss)[0][-1] > stopped.global_step + 2, timeout=60_000)
    if template == "dcgan":  # the sample grid evolves live
        qtbot.waitUntil(lambda: len(tv2.samples_view.frames("gan")) >= 1, timeout=60_000)
    with qtbot.waitSignal(win2.bridge.finished, timeout=30_000):
        win2.act_stop.trigger()
    x = list(tv2.plots.curve_data("step", loss)[0])
    assert x[: len(before_x)] == before_x, "the earlier points are still there"
    assert all(b > a for a, b in zip(x, x[1:])), "one curve, steps increasing: no restart at 0"
    assert x[len(before_x)] > stopped.global_step
    win2.shutdown()
    return frames_before


def test_walkthrough_cnn(qtbot, tmp_home, tmp_path):
    _walk(qtbot, tmp_path, "cnn", 400)


def test_walkthrough_dcgan_samples_evolve(qtbot, tmp_home, tmp_path):
    frames = _walk(qtbot, tmp_path, "dcgan", 256)
    assert frames >= 1, "sample grids arrived while training"


def test_resume_from_an_older_checkpoint_cuts_the_curve(qtbot, tmp_home, tmp_path):
    """Points after the checkpoint's step (from a later, discarded continuation) are dropped."""
    from app.run_history import PLOT_LOG, read_plot_log

    win = _window(qtbot, ScriptedPrompts())
    win.new_project("mlp")
    tv = win.train_view
    with qtbot.waitSignal(win.bridge.finished, timeout=60_000) as fin:
        tv.start(max_steps=6, data_limit=200)
    ck = fin.args[0].checkpoints["last"]
    run = tv.last_run_dir
    with open(f"{run}/{PLOT_LOG}", "a", encoding="utf-8") as fh:  # as if a later run went on to step 50
        fh.write('{"k":"p","s":50,"e":0,"lr":0.001,"m":{"loss":9.0}}\n')
    with qtbot.waitSignal(win.bridge.finished, timeout=60_000):
        tv.start(resume=ck, max_steps=8, data_limit=200)
    x = list(tv.plots.curve_data("step", "loss")[0])
    assert 50 not in x and x[-1] == 8
    assert max(p.step for p in read_plot_log(run)) == 8
    win.shutdown()


def test_close_while_training_stops_the_child(qtbot, tmp_home):
    """Process runner: closing asks, "No" keeps training, "Yes" stops it and leaves no child process."""
    prompts = ScriptedPrompts()
    win = _window(qtbot, prompts, mode="process")
    win.new_project("mlp")
    win.doc.set_field("data.limit", 200)
    win.train_view.epochs_field.commit_text(str(500))
    qtbot.keyClick(win, Qt.Key.Key_F5)
    assert win.bridge.running, win.train_view.log_panel.toPlainText()
    qtbot.waitSignal(win.bridge.started, timeout=120_000).wait()
    assert mp.active_children(), "the process runner has a child"
    prompts.yes_no = False
    win.close()
    assert win.isVisible() and win.bridge.running and prompts.asked.count("yes_no") == 1
    prompts.yes_no = True
    prompts.save_answer = "discard"
    win.close()
    assert not win.isVisible() and not win.bridge.running
    deadline = time.time() + 10
    while mp.active_children() and time.time() < deadline:
        time.sleep(0.1)
    assert not mp.active_children(), "no training process is left behind"


def test_resume_of_a_finished_run_says_what_to_do(qtbot, tmp_home):
    win = _window(qtbot, ScriptedPrompts())
    win.new_project("mlp")
    win.train_view.epochs_field.commit_text(str(1))
    tv = win.train_view
    with qtbot.waitSignal(win.bridge.finished, timeout=60_000) as fin:
        tv.start(data_limit=200)
    assert fin.args[0].status == "completed"
    with qtbot.waitSignal(win.bridge.finished, timeout=60_000):
        tv.start(resume=fin.args[0].checkpoints["last"], data_limit=200)
    assert "Raise Epochs" in tv.status_label.text()
    assert len(tv.plots.curve_data("step", "loss")[0]) >= 1  # the finished run's curve stays
    win.shutdown()
