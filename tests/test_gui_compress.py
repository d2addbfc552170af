"""The Compress & Export tab: real jobs from its buttons, the table and plot filling, cancel, row export."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import small_cnn, train_tiny
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui


class ScriptedPaths:
    def __init__(self):
        self.paths: list[str | None] = []
        self.errors: list[tuple[str, str]] = []

    def save_path(self, title, start, filter):
        return self.paths.pop(0) if self.paths else None

    def open_path(self, title, start, filter):
        return self.paths.pop(0) if self.paths else None

    def error(self, title, message, details=""):
        self.errors.append((title, message))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    train_tiny(d, small_cnn(), limit=300)
    return d


@pytest.fixture
def view(qtbot, run_dir, tmp_path):
    import shutil

    from app.compress_view import CompressView, JobBridge
    from app.current_run import CurrentRun

    rd = tmp_path / "run"
    shutil.copytree(run_dir, rd)
    cur = CurrentRun()
    cur.set(rd)
    v = CompressView(cur, ScriptedPaths(), JobBridge(mode="thread", interval_ms=20))
    qtbot.addWidget(v)
    v.resize(1200, 800)
    v.show()
    yield v
    v.bridge.shutdown()


def click_and_finish(qtbot, view, button, timeout=120_000):
    with qtbot.waitSignal(view.jobFinished, timeout=timeout) as blocker:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def test_quantize_and_prune_buttons_fill_the_table_and_the_pareto_plot(qtbot, view):
    view.quant_method.setCurrentIndex(view.quant_method.findData("fp16"))
    assert click_and_finish(qtbot, view, view.quant_btn).status == "completed"
    assert [r["name"] for r in view.rows] == ["original", "quantized-fp16"]
    assert view.table.rowCount() == 2 and view.table.item(1, 2).text() == "fp16"
    view.prune_method.setCurrentIndex(view.prune_method.findData("structured"))
    view.prune_epochs.setValue(0)
    assert click_and_finish(qtbot, view, view.prune_btn).status == "completed"
    assert [r["name"] for r in view.rows] == ["original", "quantized-fp16", "pruned-structured-50"]
    xs, ys = view.scatter.getData()
    assert len(xs) == 3
    smallest = min(range(3), key=lambda i: view.rows[i]["size_bytes"])
    assert smallest in view.front_idx  # the smallest model is always on the front
    assert (Path(view.run_dir) / "variants" / "pruned-structured-50" / "project.json").is_file()


def test_export_button_writes_a_verified_file_and_a_row_exports(qtbot, view, tmp_path):
    view.export_format.setCurrentIndex(view.export_format.findData("onnx"))
    view.prompts.paths = [str(tmp_path / "digits.onnx")]
    assert click_and_finish(qtbot, view, view.export_btn).status == "completed"
    assert (tmp_path / "digits.onnx").is_file() and (tmp_path / "digits.onnx.md").is_file()
    assert view.last_result["exports"][0]["verification"]["ok"]
    view.table.selectRow(0)  # the original (a run folder): exportable
    assert view.export_row_btn.isEnabled()
    view.export_format.setCurrentIndex(view.export_format.findData("safetensors"))
    view.prompts.paths = [str(tmp_path / "row.safetensors")]
    assert click_and_finish(qtbot, view, view.export_row_btn).status == "completed"
    assert (tmp_path / "row.safetensors").is_file()
    view.table.selectRow(1)  # the ONNX row: saved as a copy
    view.prompts.paths = [str(tmp_path / "copy.onnx")]
    qtbot.mouseClick(view.save_row_btn, Qt.MouseButton.LeftButton)
    assert (tmp_path / "copy.onnx").read_bytes() == (tmp_path / "digits.onnx").read_bytes()


def test_cancel_stops_a_distillation_and_the_view_can_start_again(qtbot, view):
    view.student.setCurrentIndex(view.student.findData("template:mlp"))
    view.distill_epochs.setValue(50)
    qtbot.mouseClick(view.distill_btn, Qt.MouseButton.LeftButton)
    assert view.cancel_btn.isEnabled() and not view.prune_btn.isEnabled()
    qtbot.waitUntil(lambda: "epoch" in view.status.text() or "training" in view.status.text(), timeout=60_000)
    with qtbot.waitSignal(view.jobFinished, timeout=60_000) as blocker:
        qtbot.mouseClick(view.cancel_btn, Qt.MouseButton.LeftButton)
    assert blocker.args[0].status == "stopped" and "cancelled" in view.progress.format()
    assert view.prune_btn.isEnabled() and not view.prompts.errors


def test_a_failing_job_shows_its_message_and_keeps_the_view(qtbot, view):
    (Path(view.run_dir) / "model.pt").write_bytes(b"broken")
    view.quant_method.setCurrentIndex(view.quant_method.findData("bf16"))
    assert click_and_finish(qtbot, view, view.quant_btn).status == "failed"
    assert view.prompts.errors and "model.pt" in view.prompts.errors[0][1]
    assert view.quant_btn.isEnabled()


def test_without_a_run_the_buttons_say_what_to_do(qtbot):
    from app.compress_view import CompressView, JobBridge
    from app.current_run import CurrentRun

    v = CompressView(CurrentRun(), ScriptedPaths(), JobBridge(mode="thread"))
    qtbot.addWidget(v)
    assert not v.prune_btn.isEnabled() and "Train tab" in v.run_label.text()


def test_a_finished_training_becomes_the_current_run_of_the_compress_tab(qtbot, tmp_home):
    from test_gui_window import ScriptedPrompts

    from app.bridge import RunnerBridge
    from app.window import MainWindow

    win = MainWindow(prompts=ScriptedPrompts(), bridge=RunnerBridge(mode="thread", interval_ms=20), probe_devices=False)
    qtbot.addWidget(win)
    try:
        assert win.new_project("mlp")
        assert win.compress_view.run_dir is None and not win.compress_view.quant_btn.isEnabled()
        with qtbot.waitSignal(win.current_run.changed, timeout=90_000):
            assert win.train_view.start(max_steps=5, data_limit=200)
        assert win.compress_view.run_dir == win.train_view.last_run_dir
        assert win.compress_view.quant_btn.isEnabled()
        titles = [win.tabs.tabText(i) for i in range(win.tabs.count())]
        assert "Compress && Export" in titles
    finally:
        win.shutdown()


def test_add_variant_measures_a_file_made_elsewhere(qtbot, view, tmp_path):
    from engine.compress.quantize import quantize_run
    from engine.runs import open_run

    q = quantize_run(open_run(view.run_dir), "bf16", tmp_path / "elsewhere.pt")
    view.prompts.paths = [q["path"]]
    assert click_and_finish(qtbot, view, view.add_btn).status == "completed"
    assert [r["name"] for r in view.rows] == ["original", "elsewhere"] and view.rows[1]["dtype"] == "bf16"


def test_fine_tuning_after_pruning_plots_its_loss_live(qtbot, view):
    view.prune_method.setCurrentIndex(view.prune_method.findData("global"))
    view.prune_epochs.setValue(1)
    view.prune_rounds.setValue(2)
    assert click_and_finish(qtbot, view, view.prune_btn).status == "completed"
    xs, ys = view.train_curve.getData()
    assert len(xs) >= 2 and all(b > a for a, b in zip(xs, xs[1:]))  # two rounds on one rising step axis


def test_distill_with_its_baseline_puts_both_students_in_the_table(qtbot, view):
    view.student.setCurrentIndex(view.student.findData("template:mlp"))
    view.distill_epochs.setValue(1)
    view.distill_augment.setCurrentIndex(view.distill_augment.findData("shift"))
    view.distill_baseline.setChecked(True)
    rows_before = view.table.rowCount()
    assert click_and_finish(qtbot, view, view.distill_btn, timeout=240_000).status == "completed"
    names = [view.table.item(r, 0).text() for r in range(view.table.rowCount())]
    assert view.table.rowCount() >= rows_before + 2, names
    assert any("distilled-mlp" in n and "scratch" not in n for n in names)
    assert any("scratch" in n or "baseline" in n for n in names), names


def test_export_and_save_row_never_write_over_the_runs_own_files_and_say_why(qtbot, view, tmp_path):
    rd = Path(view.run_dir)
    before = (rd / "model.pt").read_bytes()
    view.export_format.setCurrentIndex(view.export_format.findData("state-dict"))
    view.prompts.paths = [str(rd / "model.pt")]  # the dialog "confirmed" the overwrite: still refused
    assert click_and_finish(qtbot, view, view.export_btn).status == "failed"
    assert "--checkpoint file itself" in view.prompts.errors[-1][1]
    view.export_format.setCurrentIndex(view.export_format.findData("onnx"))
    (tmp_path / "old.onnx").write_bytes(b"old")
    view.prompts.paths = [str(tmp_path / "old.onnx")]  # an existing file the dialog asked about: replaced
    assert click_and_finish(qtbot, view, view.export_btn).status == "completed"
    assert (tmp_path / "old.onnx").read_bytes() != b"old"
    view.table.selectRow(1)  # the ONNX row, saved onto the run's model.pt: refused before copying
    view.prompts.paths = [str(rd / "model.pt")]
    qtbot.mouseClick(view.save_row_btn, Qt.MouseButton.LeftButton)
    assert view.prompts.errors[-1][0] == "Cannot save the variant" and ".onnx file" in view.prompts.errors[-1][1]
    assert (rd / "model.pt").read_bytes() == before


def test_variants_with_equal_accuracy_get_a_readable_accuracy_axis(qtbot):
    from app.compress_view import CompressView, JobBridge
    from app.current_run import CurrentRun

    v = CompressView(CurrentRun(), ScriptedPaths(), JobBridge(mode="thread"))
    qtbot.addWidget(v)
    row = {"name": "original", "path": "a", "params": 10, "nonzero_params": 10, "size_bytes": 1_700_000,
           "latency_ms_b1": 0.7, "latency_ms_b64": 18.0, "val_accuracy": 0.982, "agreement": 1.0}
    v.add_rows([row, dict(row, name="int8", size_bytes=440_000, latency_ms_b64=2.2)])
    (x0, x1), (y0, y1) = v.plot.getPlotItem().vb.viewRange()
    assert y1 - y0 >= 1.0 and y0 < 98.2 < y1  # a point either side, not a 1e-13 range of 15-digit ticks
    assert x0 < 440_000 / 1024 and x1 > 1_700_000 / 1024
