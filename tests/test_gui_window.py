"""The studio window, driven for real (offscreen): files, undo, autosave recovery, errors, bridge.

Runs against a scripted in-process runner (deterministic, fast); ``test_gui_training.py`` trains
for real through ``engine.train.runner``.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time

import numpy as np
import pytest
from studio_fakes import studio  # noqa: F401 - fixture

from engine.train.events import (
    CheckpointSaved,
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

pytestmark = pytest.mark.gui


class ScriptedPrompts:
    """Answers every question without a dialog; records what was asked."""

    def __init__(self):
        self.parent = None
        self.errors: list[tuple[str, str, str]] = []
        self.problems: list[tuple[str, list[str]]] = []
        self.restore_answer = True
        self.save_answer = "discard"
        self.yes_no = True
        self.paths: dict[str, str | None] = {}
        self.asked: list[str] = []

    def error(self, title, message, details=""):
        self.errors.append((title, message, details))

    def project_problems(self, source, problems):
        self.problems.append((source, list(problems)))

    def ask_save_changes(self, name):
        self.asked.append("save_changes")
        return self.save_answer

    def ask_restore(self, rec):
        self.asked.append("restore")
        return self.restore_answer

    def ask_resume_training(self, run_dir, checkpoint):
        self.asked.append("resume_training")
        return False

    def ask_yes_no(self, title, text):
        self.asked.append("yes_no")
        return self.yes_no

    def open_project_path(self, start):
        return self.paths.get("open")

    def save_project_path(self, start):
        return self.paths.get("save")

    def checkpoint_path(self, start):
        return self.paths.get("checkpoint")

    def gif_path(self, start):
        return self.paths.get("gif")

    def choose_template(self):
        return self.paths.get("template", "mlp")


class ScriptedRunner:
    """A stand-in runner in a thread: emits a fixed script of events, obeys pause/stop."""

    def __init__(self, steps: int = 40, fail: bool = False):
        self.steps, self.fail = steps, fail
        self.q: queue.Queue = queue.Queue()
        self.cmd: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.started_with: dict = {}

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, project, run_dir, *, resume=None, overrides=None):
        self.started_with = {"project": project, "run_dir": run_dir, "resume": resume}
        self.thread = threading.Thread(target=self._run, args=(run_dir,), daemon=True)
        self.thread.start()

    def _run(self, run_dir):
        put = self.q.put
        put(Started(run_dir=run_dir, device="cpu", trainer="supervised", epochs=2, steps_per_epoch=self.steps // 2))
        if self.fail:
            put(Error(message="The loss became NaN at step 3.", details="Traceback: ...", kind="nan"))
            put(Finished(status="failed", epochs_run=0, global_step=3, wall_s=0.1))
            return
        paused = False
        step = 0
        while step < self.steps:
            try:
                c = self.cmd.get_nowait()
            except queue.Empty:
                c = None
            if c == "stop":
                put(Finished(status="stopped", epochs_run=step // (self.steps // 2), global_step=step, wall_s=0.2))
                return
            if c == "pause":
                paused = True
                put(Paused(global_step=step))
            if c == "resume":
                paused = False
                put(Resumed(global_step=step))
            if paused:
                time.sleep(0.005)
                continue
            step += 1
            put(Progress(epoch=(step - 1) // (self.steps // 2), step=step, global_step=step, total_steps=self.steps,
                         lr=1e-3, samples_per_sec=500.0, eta_s=1.0, metrics={"loss": 2.0 / step}))
            if step % (self.steps // 2) == 0:
                e = step // (self.steps // 2) - 1
                put(EpochEnd(epoch=e, global_step=step, lr=1e-3, wall_s=0.1,
                             metrics={"train_loss": 1.0 / (e + 1), "val_loss": 1.1 / (e + 1), "val_accuracy": 0.5 + e / 4}))
                put(Samples(kind="predictions", epoch=e, global_step=step, image=np.full((42, 42), 128, np.uint8),
                            labels=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5),
                            predicted=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 9)))
                put(CheckpointSaved(path=f"{run_dir}/checkpoints/last.pt", epoch=e, global_step=step, kind="last"))
                put(Log(message=f"epoch {e + 1} done"))
            time.sleep(0.002)
        put(Finished(status="completed", epochs_run=2, global_step=step, wall_s=0.3, final={"val_accuracy": 0.75}))

    def pause(self):
        self.cmd.put("pause")

    def resume(self):
        self.cmd.put("resume")

    def stop(self):
        self.cmd.put("stop")

    def request_snapshot(self):
        pass

    def poll(self, max_events=1000):
        out = []
        while len(out) < max_events:
            try:
                out.append(self.q.get_nowait())
            except queue.Empty:
                break
        return out

    def join(self, timeout=None):
        if self.thread:
            self.thread.join(timeout)

    def close(self):
        self.join(1.0)


@pytest.fixture
def make_window(qtbot, tmp_home):
    from app.bridge import RunnerBridge
    from app.window import MainWindow

    made = []

    def make(runner_kwargs=None, template="mlp", **kw):
        prompts = ScriptedPrompts()
        runners: list[ScriptedRunner] = []

        def factory(mode):
            r = ScriptedRunner(**(runner_kwargs or {}))
            runners.append(r)
            return r

        bridge = RunnerBridge(factory=factory, interval_ms=20)
        win = MainWindow(prompts=prompts, bridge=bridge, probe_devices=False, **kw)
        qtbot.addWidget(win)
        if template:
            assert win.new_project(template)
        win.show()
        made.append(win)
        win.runners = runners
        return win

    yield make
    for w in made:
        w.shutdown()


def test_new_project_title_and_fields(make_window):
    win = make_window()
    assert win.doc.project.name == "MLP digits"
    assert "[*]" in win.windowTitle() and not win.isWindowModified()
    tv = win.train_view
    assert tv.epochs_field.value() == win.doc.project.train.epochs
    assert tv.train_btn.isEnabled() and not tv.stop_btn.isEnabled()
    assert win.project_panel.tree.topLevelItemCount() == 1
    assert "parameters" in win.project_panel.total.text()


def test_undo_redo_of_a_field_edit(make_window):
    win = make_window()
    tv = win.train_view
    before = win.doc.project.train.epochs
    tv.epochs_field.commit_text(str(before + 7))
    assert win.doc.project.train.epochs == before + 7
    assert win.isWindowModified()
    win.act_undo.trigger()
    assert win.doc.project.train.epochs == before and tv.epochs_field.value() == before
    assert not win.isWindowModified()
    win.act_redo.trigger()
    assert win.doc.project.train.epochs == before + 7 and tv.epochs_field.value() == before + 7
    tv.lr_field.commit_text(str(0.05))
    assert win.doc.project.train.optimizer.lr == pytest.approx(0.05)
    assert win.doc.undo_stack.count() == 2
    with pytest.raises(ValueError, match="device"):
        win.doc.set_field("train.device", "tpu")


def test_save_open_round_trip(make_window, tmp_path):
    from engine.project import load_project

    win = make_window()
    win.train_view.batch_field.commit_text(str(48))
    target = tmp_path / "mine.json"
    win.prompts.paths["save"] = str(target)
    win.act_save.trigger()  # untitled: Save goes through Save As
    assert target.exists() and not win.isWindowModified()
    assert load_project(target).data.batch_size == 48
    assert "mine.json" in win.windowTitle()
    from app.settings import recent_files

    assert recent_files()[0] == str(target.resolve())
    win.new_project("cnn")
    assert win.doc.project.name == "CNN digits"
    win.prompts.paths["open"] = str(target)
    assert win.open_dialog()
    assert win.doc.project.data.batch_size == 48 and win.doc.path == target.resolve()
    win.train_view.epochs_field.commit_text(str(9))
    win.act_save.trigger()
    assert load_project(target).train.epochs == 9


def test_open_bad_file_shows_each_problem(make_window, tmp_path):
    win = make_window()
    bad = json.loads(json.dumps(win.doc.project.to_dict()))
    bad["train"]["epochs"] = 0
    bad["data"]["batch_size"] = -1
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad))
    assert not win.open_path(p)
    (source, problems), = win.prompts.problems
    assert len(problems) == 2 and any("train.epochs" in x for x in problems)
    assert win.doc.project.name == "MLP digits"  # the open document is untouched


def test_close_with_unsaved_changes_asks(make_window):
    win = make_window()
    win.train_view.epochs_field.commit_text(str(11))
    win.prompts.save_answer = "cancel"
    assert not win.close()
    assert win.prompts.asked == ["save_changes"]
    win.prompts.save_answer = "discard"
    assert win.close()


def test_autosave_and_recovery_after_crash(make_window, tmp_path):
    from crashed_session import crashed_session

    from app.settings import data_dir
    from engine.templates import load_template

    # a crashed session (a killed process): its marker and its autosave, newer than the project file
    proj_path = tmp_path / "crashed.json"
    from engine.project import save_project

    save_project(load_template("mlp"), proj_path)
    old = time.time() - 100
    os.utime(proj_path, (old, old))
    doc = load_template("mlp").to_dict()
    doc["train"]["epochs"] = 77
    marker, autosave = crashed_session(data_dir(), doc, str(proj_path))

    win = make_window(template=None)
    assert win.check_recovery()
    assert win.prompts.asked == ["restore"]
    assert win.doc.project.train.epochs == 77 and win.doc.path == proj_path.resolve()
    assert win.isWindowModified()
    assert not marker.exists() and not autosave.exists()
    # this window's own autosave is written while dirty and removed on save
    assert win.session.autosave_path.exists()
    win.save()
    assert not win.session.autosave_path.exists()
    # a second window has nothing more to offer
    win2 = make_window(template=None)
    assert not win2.check_recovery()
    assert win2.prompts.asked == []


def test_autosave_older_than_project_is_still_offered_and_kept_until_answered(make_window, tmp_path):
    from crashed_session import crashed_session

    from app.settings import data_dir
    from engine.project import save_project
    from engine.templates import load_template

    marker, autosave = crashed_session(data_dir(), load_template("mlp").to_dict(), str(tmp_path / "p.json"))
    save_project(load_template("mlp"), tmp_path / "p.json")  # the file is touched after the autosave
    win = make_window(template=None)
    win.prompts.restore_answer = "later"
    assert not win.check_recovery() and win.prompts.asked == ["restore"]
    assert autosave.exists() and marker.exists()  # never deleted without asking
    win.prompts.restore_answer = "discard"
    assert not win.check_recovery()
    assert not autosave.exists() and not marker.exists()


def test_training_with_scripted_runner_fills_plots_and_lists(make_window, qtbot):
    win = make_window(runner_kwargs={"steps": 40})
    tv = win.train_view
    with qtbot.waitSignal(win.bridge.finished, timeout=10_000) as blocker:
        win.act_train.trigger()
        assert not tv.epochs_field.isEnabled() and tv.stop_btn.isEnabled()
    assert blocker.args[0].status == "completed"
    x, y = tv.plots.curve_data("step", "loss")
    assert len(x) == 40 and y[0] == pytest.approx(2.0)
    assert len(tv.plots.curve_data("epoch", "val_loss")[0]) == 2
    assert len(tv.samples_view.frames("predictions")) == 2
    assert tv.ckpt_list.count() == 1  # "last" rewritten: one row
    assert tv.epochs_field.isEnabled() and not tv.stop_btn.isEnabled()
    assert "Finished" in tv.progress_bar.format()
    # resume from the listed checkpoint (double-click) starts a run with resume=path
    item = tv.ckpt_list.item(0)
    with qtbot.waitSignal(win.bridge.finished, timeout=10_000):
        tv.ckpt_list.itemDoubleClicked.emit(item)
    assert win.runners[-1].started_with["resume"].endswith("last.pt")


def test_pause_resume_stop(make_window, qtbot):
    win = make_window(runner_kwargs={"steps": 100_000})
    tv = win.train_view
    with qtbot.waitSignal(win.bridge.started, timeout=5000):
        win.act_train.trigger()
    with qtbot.waitSignal(win.bridge.paused, timeout=5000):
        win.act_pause.trigger()
    assert tv.pause_btn.text() == "Resume"
    with qtbot.waitSignal(win.bridge.resumed, timeout=5000):
        win.act_pause.trigger()
    assert tv.pause_btn.text() == "Pause"
    with qtbot.waitSignal(win.bridge.finished, timeout=5000) as blocker:
        win.act_stop.trigger()
    assert blocker.args[0].status == "stopped"
    assert tv.train_btn.isEnabled()


def test_engine_error_shows_dialog_and_window_lives(make_window, qtbot):
    win = make_window(runner_kwargs={"fail": True})
    with qtbot.waitSignal(win.bridge.finished, timeout=5000):
        win.act_train.trigger()
    assert win.prompts.errors and "NaN" in win.prompts.errors[0][1]
    assert win.prompts.errors[0][2] == "Traceback: ..."
    assert win.train_view.log_panel.counts.get("error", 0) >= 1
    assert win.isVisible() and win.train_view.train_btn.isEnabled()


def test_excepthook_shows_error_and_logs(tmp_home):
    from app.errors import ExceptHook, setup_logging

    log_path = setup_logging()
    seen = []
    hook = ExceptHook(lambda *a: seen.append(a))
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError as exc:
        hook(type(exc), exc, exc.__traceback__)
    assert seen and seen[0][1] == "boom in a slot" and "Traceback" in seen[0][2]
    for h in __import__("logging").getLogger("layerlab.studio").handlers:
        h.flush()
    assert "boom in a slot" in log_path.read_text()


def test_real_prompts_error_is_non_modal(qtbot):
    from PySide6.QtWidgets import QMessageBox, QWidget

    from app.prompts import Prompts

    parent = QWidget()
    qtbot.addWidget(parent)
    p = Prompts(parent)
    p.error("Title", "plain message", "details here")  # must return at once
    box = parent.findChild(QMessageBox)
    assert box is not None and box.detailedText() == "details here" and box.text() == "plain message"
    box.close()


def test_bridge_coalesces_a_burst(qtbot):
    from app.bridge import RunnerBridge

    b = RunnerBridge(factory=lambda mode: None)
    progress_calls, samples = [], []
    b.progress.connect(progress_calls.append)
    b.samples.connect(samples.append)
    burst = [Progress(epoch=0, step=i, global_step=i, total_steps=10, lr=0.1, samples_per_sec=1.0, eta_s=1.0,
                      metrics={"loss": 1.0}) for i in range(1, 501)]
    burst += [Samples(kind="gan", epoch=0, global_step=i, image=np.zeros((4, 4), np.uint8)) for i in range(5)]
    b.dispatch(burst)
    assert len(progress_calls) == 1 and len(progress_calls[0]) == 500
    assert len(samples) == 1 and [s.global_step for s in samples[0]] == [0, 1, 2, 3, 4]


def test_template_picker_lists_templates_with_pictures(qtbot):
    from app.template_picker import TemplatePicker

    dlg = TemplatePicker()
    qtbot.addWidget(dlg)
    names = [dlg.list.item(i).data(256) for i in range(dlg.list.count())]
    assert {"mlp", "cnn"} <= set(names)
    assert all(not dlg.list.item(i).icon().isNull() for i in range(dlg.list.count()))
    dlg.select("cnn")
    assert dlg.selected_name() == "cnn" and "CNN" in dlg.desc.text()


def test_autosave_timer_writes_side_file(make_window, qtbot):
    win = make_window(autosave_s=1)
    assert not win.session.autosave_path.exists()  # nothing to save while clean
    win.train_view.batch_field.commit_text(str(17))
    qtbot.waitUntil(win.session.autosave_path.exists, timeout=5000)
    saved = json.loads(win.session.autosave_path.read_text())
    assert saved["document"]["data"]["batch_size"] == 17 and saved["project_path"] is None
    assert win.session.marker.exists()
    win.shutdown()  # a clean exit removes both
    assert not win.session.autosave_path.exists() and not win.session.marker.exists()


def test_layout_is_remembered(make_window):
    win = make_window()
    win.project_dock.hide()
    win.resize(1111, 777)
    win.shutdown()
    from app.settings import settings

    assert not settings().value("window/geometry").isEmpty()  # (offscreen screens clamp sizes)
    win2 = make_window()
    assert win2.project_dock.isHidden()


def test_sample_bursts_keep_every_grid_but_draw_the_newest(make_window, qtbot):
    win = make_window()
    burst = [Samples(kind="gan", epoch=i, global_step=i, image=np.full((8, 8), i, np.uint8)) for i in range(4)]
    win.bridge.dispatch(burst)
    sv = win.train_view.samples_view
    qtbot.waitUntil(lambda: len(sv.frames("gan")) == 4, timeout=2000)
    assert [f.epoch for f in sv.frames("gan")] == [0, 1, 2, 3]
    assert sv.image_item.image[0, 0] == 3 and sv.slider.maximum() == 3


def test_only_available_devices_are_enabled(make_window):
    win = make_window()
    tv = win.train_view

    def enabled(name):
        return tv.device_model.item(tv.device_box.findData(name, 256)).isEnabled()

    assert enabled("auto") and enabled("cpu") and not enabled("cuda") and not enabled("mps")
    tv.set_devices({"cpu": True, "cuda": True, "cuda_count": 1, "mps": False})
    assert enabled("cuda") and not enabled("mps")
    tv.device_box.setCurrentIndex(tv.device_box.findData("cpu", 256))
    assert win.doc.project.train.device == "cpu"
    win.act_undo.trigger()
    assert win.doc.project.train.device == "auto" and tv.device_box.currentData(256) == "auto"


def test_layering_and_cold_start_imports():
    """widgets never import app; opening the window module does not import torch (fast cold start)."""
    import subprocess
    import sys

    code = (
        "import sys, pkgutil, importlib, widgets\n"
        "for m in pkgutil.iter_modules(widgets.__path__): importlib.import_module('widgets.' + m.name)\n"
        "assert not any(k == 'app' or k.startswith('app.') for k in sys.modules), 'widgets imported app'\n"
        "import app.window, app.main\n"
        "assert 'torch' not in sys.modules, 'the studio imported torch at start'\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-2000:]


def test_export_gif_from_the_train_view(make_window, qtbot, tmp_path):
    win = make_window()
    win.bridge.dispatch([Samples(kind="gan", epoch=i, global_step=i, image=np.full((8, 8), 40 * i, np.uint8))
                         for i in range(3)])
    sv = win.train_view.samples_view
    qtbot.waitUntil(lambda: sv.export_btn.isEnabled(), timeout=2000)
    win.prompts.paths["gif"] = str(tmp_path / "timeline.gif")
    sv.export_btn.click()
    assert (tmp_path / "timeline.gif").stat().st_size > 0
    assert "Exported 3 frames" in win.train_view.log_panel.toPlainText()


def test_an_edit_is_analysed_once_and_the_project_panel_shows_its_result(qtbot, studio, monkeypatch):  # noqa: F811
    import engine.graph as graph_pkg

    win = studio("mlp", view=None)
    calls = []
    real = graph_pkg.analyze_project

    def counting(project, *a, **kw):
        calls.append(1)
        return real(project, *a, **kw)

    monkeypatch.setattr(graph_pkg, "analyze_project", counting)
    before = win.project_panel.tree.topLevelItem(0).childCount()
    with qtbot.waitSignal(win.analysis.analyzed, timeout=5000):
        win.doc.add_node(next(iter(win.doc.project.graphs())), "ReLU", node_id="extra_relu")
    assert len(calls) == 1  # the analysis service's pass; the panel reuses it
    top = win.project_panel.tree.topLevelItem(0)
    assert top.childCount() == before + 1
    assert any(top.child(i).text(0) == "extra_relu" for i in range(top.childCount()))
