"""The Train view shows the right picture for the right project: plots and legends of its task, checkpoint
rows that say what each file holds, the whole run time after a resume, and the sample timeline back
when a project is reopened."""

from __future__ import annotations

import numpy as np
import pytest
from studio_fakes import played_studio, studio  # noqa: F401 - fixtures

from engine.train.events import CheckpointSaved, EpochEnd, Finished, Progress, Samples, Started
from engine.train.gridutil import grid_geometry

pytestmark = pytest.mark.gui


def _run(qtbot, win, **start):
    with qtbot.waitSignal(win.train_view.runFinished, timeout=10000):
        assert win.train_view.start(**start)


def test_plots_and_legends_follow_the_project_task(qtbot, studio):  # noqa: F811
    win = studio("dcgan")
    plots = win.train_view.plots
    assert plots.legend_names("step") == ["d_loss", "g_loss"]
    assert plots.legend_names("metric") == ["d_x", "d_gz"]
    win.new_project("mlp")
    assert plots.legend_names("step") == ["loss"]
    assert plots.legend_names("epoch") == ["train_loss", "val_loss"]
    assert plots.legend_names("metric") == ["val_accuracy"]
    assert not any(n in plots.metric_names() for n in ("d_x", "d_gz"))
    assert plots.metric_box.findData("d_x") < 0


def _ckpt(run_dir, kind):
    return f"{run_dir}/checkpoints/{kind}.pt"


def test_best_checkpoint_row_keeps_the_epoch_the_file_holds(qtbot, played_studio):  # noqa: F811
    def script(run_dir, resume):
        return [Started(run_dir=run_dir, device="cpu", trainer="supervised", epochs=5, steps_per_epoch=146),
                CheckpointSaved(path=_ckpt(run_dir, "best"), epoch=3, global_step=564, kind="best"),
                CheckpointSaved(path=_ckpt(run_dir, "last"), epoch=4, global_step=728, kind="last"),
                Finished(status="completed", epochs_run=5, global_step=728, wall_s=9.0, best_epoch=3,
                         checkpoints={"best": _ckpt(run_dir, "best"), "last": _ckpt(run_dir, "last")})]

    win = played_studio(script)
    _run(qtbot, win)
    rows = [win.train_view.ckpt_list.item(i).text() for i in range(win.train_view.ckpt_list.count())]
    best = next(r for r in rows if r.startswith("best"))
    last = next(r for r in rows if r.startswith("last"))
    assert "epoch 4" in best and "step 564" in best
    assert "epoch 5" in last and "step 728" in last


def test_reopened_run_lists_what_each_checkpoint_file_holds(qtbot, studio, tmp_path):  # noqa: F811
    from engine.train.checkpoint import save_checkpoint

    win = studio("mlp")
    proj = tmp_path / "p.json"
    win.doc.save(proj)
    run = tmp_path / "runs" / "p-20260101-000000"
    for kind, nxt, step in (("best", 4, 564), ("last", 5, 728)):
        save_checkpoint(run / "checkpoints" / f"{kind}.pt", {"kind": kind, "epoch": nxt, "step_in_epoch": 0,
                                                             "global_step": step, "history": []})
    assert win.open_path(proj, ask=False)
    rows = [win.train_view.ckpt_list.item(i).text() for i in range(win.train_view.ckpt_list.count())]
    assert any(r.startswith("best") and "epoch 4" in r and "step 564" in r for r in rows), rows
    assert any(r.startswith("last") and "epoch 5" in r and "step 728" in r for r in rows), rows


def test_status_after_a_resume_shows_the_whole_run_time(qtbot, played_studio, tmp_path):  # noqa: F811
    run = tmp_path / "runs" / "r1"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"x")
    history = tuple({"epoch": e, "train_loss": 1.0, "wall_s": 10.0} for e in range(20))

    def script(run_dir, resume):
        return [Started(run_dir=run_dir, device="cpu", trainer="supervised", epochs=20, steps_per_epoch=25,
                        start_epoch=19, start_step=475),
                Finished(status="completed", epochs_run=20, global_step=500, wall_s=8.0, history=history)]

    win = played_studio(script)
    _run(qtbot, win, resume=str(run / "checkpoints" / "last.pt"))
    text = win.train_view.status_label.text()
    assert "3:20 in all" in text and "0:08 since resuming" in text, text


def test_reopening_a_project_brings_back_its_prediction_timeline(qtbot, played_studio, tmp_path):  # noqa: F811
    img = np.arange(30 * 58, dtype=np.uint8).reshape(30, 58) % 251
    geo = grid_geometry(2, 12, 12, nrow=4, padding=2)

    def script(run_dir, resume):
        from pathlib import Path

        Path(_ckpt(run_dir, "last")).parent.mkdir(parents=True, exist_ok=True)
        Path(_ckpt(run_dir, "last")).write_bytes(b"not a real checkpoint")
        out = [Started(run_dir=run_dir, device="cpu", trainer="supervised", epochs=3, steps_per_epoch=10)]
        for e in range(3):
            s = 10 * (e + 1)
            out += [Progress(epoch=e, step=10, global_step=s, total_steps=30, lr=1e-3, samples_per_sec=1.0,
                             eta_s=1.0, metrics={"loss": 1.0 / s}),
                    EpochEnd(epoch=e, global_step=s, lr=1e-3, wall_s=1.0, metrics={"val_loss": 1.0}),
                    Samples(kind="predictions", epoch=e, global_step=s, image=img, labels=(1, 2),
                            predicted=(1, e), extra={"classes": tuple("0123456789")}, grid=geo)]
        return out + [Finished(status="completed", epochs_run=3, global_step=30, wall_s=3.0,
                               checkpoints={"last": _ckpt(run_dir, "last")})]

    win = played_studio(script)
    proj = tmp_path / "p.json"
    win.doc.save(proj)
    _run(qtbot, win)
    shown = [f.image for f in win.train_view.samples_view.frames("predictions")]
    assert len(shown) == 3
    again = played_studio(script, template=None)
    assert again.open_path(proj, ask=False)
    back = again.train_view.samples_view.frames("predictions")
    assert [f.global_step for f in back] == [10, 20, 30]
    assert all(np.array_equal(a, b.image) for a, b in zip(shown, back))
