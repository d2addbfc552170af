"""Crash recovery does not depend on PIDs, deletes an autosave only when the user says so, and after a
``kill -9`` of a real studio mid-training brings back the document *and* its run (curves, checkpoints,
an offer to resume from the last checkpoint). A start without a file reopens the last project."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from crashed_session import crashed_session
from test_gui_window import make_window  # noqa: F401 - the window fixture (scripted prompts and runner)

from app.autosave import Session

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock liveness and SIGKILL")
ROOT = Path(__file__).resolve().parents[1]


def _doc(epochs: int = 7) -> dict:
    from engine.templates import load_template

    d = load_template("mlp").to_dict()
    d["train"]["epochs"] = epochs
    return d


def test_a_new_session_with_the_crashed_sessions_pid_is_still_offered_it(tmp_path):
    marker, autosave, pid = crashed_session(tmp_path, _doc(), None, with_pid=True)
    me = Session(tmp_path, pid=pid)  # the OS gave the new studio the crashed one's PID
    me.begin()
    recs = me.find_recoverable()
    assert [r.autosave for r in recs] == [autosave]
    me.end()  # a clean exit removes only its own files
    assert autosave.exists() and marker.exists()


def test_a_crashed_pid_reused_by_a_live_process_does_not_hide_the_autosave(tmp_path):
    marker, autosave = crashed_session(tmp_path, _doc(), None)
    info = json.loads(marker.read_text())
    info["pid"] = os.getpid()  # an unrelated live process now has that number
    marker.write_text(json.dumps(info))
    me = Session(tmp_path)
    me.begin()
    try:
        assert [r.autosave for r in me.find_recoverable()] == [autosave]
    finally:
        me.end()


def test_a_live_session_is_never_offered(tmp_path):
    other = Session(tmp_path)
    other.begin()
    other.write_autosave(_doc(), None)
    me = Session(tmp_path)
    me.begin()
    try:
        assert me.find_recoverable() == []
        assert other.autosave_path.exists()
    finally:
        me.end()
        other.end()


def test_touching_the_project_file_keeps_the_autosave_and_says_so(tmp_path):
    proj = tmp_path / "p.json"
    marker, autosave = crashed_session(tmp_path / "data", _doc(), str(proj))
    proj.write_text("{}")  # saved (or just touched) after the autosave
    me = Session(tmp_path / "data")
    me.begin()
    try:
        recs = me.find_recoverable()
        assert len(recs) == 1 and recs[0].project_changed
        assert autosave.exists() and marker.exists()
    finally:
        me.end()


def test_an_unreadable_autosave_is_set_aside_not_deleted(tmp_path):
    marker, autosave = crashed_session(tmp_path, _doc(), None)
    autosave.write_text("{ half a file")
    me = Session(tmp_path)
    me.begin()
    try:
        assert me.find_recoverable() == []
        assert autosave.with_suffix(".unreadable").read_text() == "{ half a file"
    finally:
        me.end()


# -- a real studio, killed while it trains ---------------------------------------------------------


def _kill_studio_mid_training(tmp_path: Path, project: Path, data_dir: Path) -> Path:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LAYERLAB_DATA_DIR": str(data_dir), "QT_QPA_PLATFORM": "offscreen",
           "HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "app.main", str(project), "--runner", "thread",
                             "--screenshot", str(tmp_path / "never.png"), "--train-steps", "1000000",
                             "--data-limit", "200"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runs = project.parent / "runs"
    deadline = time.monotonic() + 120
    last = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:  # wait for a real checkpoint on disk
            found = sorted(runs.glob("*/checkpoints/last.pt")) if runs.is_dir() else []
            if found:
                last = found[0]
                break
            time.sleep(0.1)
        assert last is not None, (proc.poll(), proc.stderr.read().decode() if proc.poll() is not None else "")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    return last.parent.parent


def test_kill_9_mid_training_restores_the_document_and_links_its_run(make_window, tmp_path, qtbot):  # noqa: F811
    from app.settings import data_dir
    from engine.project import save_project
    from engine.templates import load_template

    project = load_template("mlp")
    project.train.epochs = 1000
    project.data.batch_size = 100
    pfile = tmp_path / "work" / "digits.json"
    pfile.parent.mkdir()
    save_project(project, pfile)
    run = _kill_studio_mid_training(tmp_path, pfile, data_dir())
    assert list((data_dir() / "sessions").glob("*.json")), "the killed studio left its session marker"

    win = make_window(template=None)
    win.prompts.resume_answer = True
    asked: list[tuple[str, str]] = []
    win.prompts.ask_resume_training = lambda r, c: asked.append((r, c)) or True
    assert win.check_recovery()
    assert win.doc.project.train.epochs == 1000 and win.doc.path == pfile.resolve()
    tv = win.train_view
    assert tv.last_run_dir == str(run)
    assert tv.ckpt_list.count() >= 1  # the checkpoint list is back
    assert asked == [(str(run), str(run / "checkpoints" / "last.pt"))]  # "Resume training from the last checkpoint"
    runner = win.runners[-1]
    assert runner.started_with["resume"] == str(run / "checkpoints" / "last.pt")
    assert runner.started_with["run_dir"] == str(run)
    with qtbot.waitSignal(win.bridge.finished, timeout=20_000):
        pass


def test_a_restart_reopens_the_last_project(make_window, tmp_path):  # noqa: F811
    from app import settings as st
    from engine.project import save_project
    from engine.templates import load_template

    p = tmp_path / "last.json"
    proj = load_template("cnn")
    proj.name = "the last one"
    save_project(proj, p)
    st.add_recent_file(str(p))
    win = make_window(template=None)
    win.open_initial(None)
    assert win.doc.path == p.resolve() and win.doc.project.name == "the last one"
    win.act_reopen_last.setChecked(False)  # the setting, from the File menu
    assert not st.reopen_last()
    win2 = make_window(template=None)
    win2.open_initial(None)
    assert win2.doc.path is None


def test_a_huge_name_is_elided_in_the_title(make_window):  # noqa: F811
    win = make_window()
    win.doc.project.name = "n" * 200
    win.doc.path = None
    win._update_title()
    assert len(win.windowTitle()) < 120 and "…" in win.windowTitle()
