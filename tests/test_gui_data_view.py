"""The Data tab, driven offscreen: the grid over the real source, filters, the histogram, split and
augmentation edits that are undoable document edits, the preview, statistics -> Normalize, and the audit
with its one-click exclude. Plus: the thumbnail grid over 100,000 entries creates no widget per item."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QWidget

from app.data_view import DataView
from app.document import DocumentController
from engine.templates import load_template
from widgets.thumbnails import ThumbnailGrid, ThumbnailModel

pytestmark = pytest.mark.gui


class FakePrompts:
    def __init__(self, folder="", csv=""):
        self.parent = None
        self.folder, self.csv = folder, csv

    def choose_folder(self, start, title=""):
        return self.folder

    def choose_csv(self, start):
        return self.csv


@pytest.fixture
def view(qtbot):
    doc = DocumentController()
    doc.replace(load_template("cnn"), None)
    v = DataView(doc, FakePrompts())
    qtbot.addWidget(v)
    v.resize(1200, 800)
    with qtbot.waitSignal(v.sourceOpened, timeout=30000):
        v.show()
    yield v
    v.shutdown()


def test_digits_open_into_grid_histogram_and_filters(view, qtbot):
    assert view.grid.thumbs.rowCount() == 5000
    h = view.histogram
    assert int(h.train_counts.sum() + h.val_counts.sum()) == 5000 and int(h.val_counts.sum()) == 500
    view.split_filter.setCurrentText("validation")
    assert view.grid.thumbs.rowCount() == 500
    view.class_filter.setCurrentIndex(4)  # class "3"
    rows = view.grid.thumbs.rows()
    assert len(rows) == h.val_counts[3] and set(view.source.labels[rows]) == {3}
    qtbot.waitUntil(lambda: view.grid.thumbs.cached(int(rows[0])), timeout=10000)  # decoded in the background
    view.show_sample(int(rows[0]))
    assert "digits[" in view.detail_text.text() and "validation" in view.detail_text.text()


def test_split_edits_are_undoable_and_redraw_the_histogram(view):
    doc = view.doc
    view.val_spin.setValue(0.3)
    assert doc.project.data.val_fraction == 0.3 and int(view.histogram.val_counts.sum()) == 1500
    doc.undo_stack.undo()
    assert doc.project.data.val_fraction == 0.1 and view.val_spin.value() == pytest.approx(0.1)
    assert int(view.histogram.val_counts.sum()) == 500
    view.folds_spin.setValue(5)
    assert doc.project.data.folds == 5 and int(view.histogram.val_counts.sum()) == 1000
    view.strat_check.setChecked(False)
    assert doc.project.data.stratified is False


def test_augmentation_editor_edits_the_document_and_the_preview_follows(view, qtbot):
    doc = view.doc
    before = view.preview.array.copy()
    with qtbot.waitSignal(view.previewUpdated, timeout=5000):
        view.add_augment("random_rotation")
    assert [a.type for a in doc.project.data.augment] == ["random_rotation"]
    assert not np.array_equal(before, view.preview.array)  # the copies are rotated now
    view.add_augment("horizontal_flip")
    view.move_augment(-1)
    assert [a.type for a in doc.project.data.augment] == ["horizontal_flip", "random_rotation"]
    assert view.set_augment_param(1, "degrees", 40.0)
    assert doc.project.data.augment[1].params == {"degrees": 40.0}
    assert not view.set_augment_param(1, "degrees", 500.0)  # refused, with the path, nothing pushed
    assert "data.augment[1].params.degrees" in view.aug_error.text()
    shown = view.preview.array.copy()
    view.reroll()
    assert not np.array_equal(shown, view.preview.array)
    for _ in range(4):
        doc.undo_stack.undo()
    assert doc.project.data.augment == [] and view.aug_list.count() == 0


def test_statistics_become_the_normalize_step(view, qtbot):
    with qtbot.waitSignal(view.jobFinished, timeout=30000):
        view.compute_stats()
    mean, std = view.stats
    assert 0.1 < mean[0] < 0.2 and 0.25 < std[0] < 0.4  # MNIST: about 0.13 and 0.31
    view.apply_normalize()
    step = view.doc.project.data.augment[-1]
    assert step.type == "normalize" and step.params["mean"] == mean


def _photos(root):
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for k in range(12):
            Image.fromarray(rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)).resize((48, 40), Image.BICUBIC) \
                .save(root / c / f"{k}.png")
    (root / "cat" / "copy.png").write_bytes((root / "cat" / "0.png").read_bytes())
    (root / "dog" / "zero.png").write_bytes(b"")
    return root


def test_audit_finds_a_duplicate_and_one_click_excludes_it(view, qtbot, tmp_path):
    root = _photos(tmp_path / "photos")
    view.prompts.folder = str(root)
    with qtbot.waitSignal(view.sourceOpened, timeout=30000):
        view._dataset_chosen("folder")
    assert view.doc.project.data.dataset == "folder" and view.grid.thumbs.rowCount() == 25
    assert "1 skipped" in view.summary.text()
    first = view.findings.topLevelItem(0).data(0, 256)  # listed before any audit: zero.png, with its reason
    assert first.kind == "unreadable" and first.files[0].endswith("zero.png") and "empty file" in first.message
    with qtbot.waitSignal(view.jobFinished, timeout=30000):
        view.run_audit()
    kinds = [f.kind for f in view.audit_report.findings]
    assert "duplicate" in kinds and "unreadable" in kinds
    dup = view.findings.topLevelItem(kinds.index("duplicate"))
    view.findings.setCurrentItem(dup)
    assert view.fix_btn.isEnabled()
    with qtbot.waitSignal(view.sourceOpened, timeout=30000):
        view.fix_btn.click()
    assert view.doc.project.data.exclude == ["cat/copy.png"] or view.doc.project.data.exclude == ["cat/0.png"]
    assert view.grid.thumbs.rowCount() == 24
    with qtbot.waitSignal(view.sourceOpened, timeout=30000):
        view.doc.undo_stack.undo()
    assert view.doc.project.data.exclude == [] and view.grid.thumbs.rowCount() == 25


def test_a_bad_source_is_a_message_not_a_crash(view, qtbot, tmp_path):
    with qtbot.waitSignal(view.sourceFailed, timeout=30000):
        view.set_source("torchvision:MNIST", str(tmp_path))
    assert "Download" in view.error_label.text() and view.download_btn.isVisible()


def test_thumbnail_grid_over_100k_entries_creates_no_widget_per_item(qtbot):
    tile = np.full((32, 32), 128, dtype=np.uint8)
    model = ThumbnailModel(lambda i: tile, labels=["x"] * 100_000)
    model.set_rows(np.arange(100_000))
    grid = ThumbnailGrid(model, cell=32)
    qtbot.addWidget(grid)
    grid.resize(800, 600)
    grid.show()
    qtbot.waitExposed(grid)
    with qtbot.waitSignal(model.thumbnailsReady, timeout=10000):
        pass
    widgets = len(grid.findChildren(QWidget))
    bar = grid.verticalScrollBar()
    per_row = grid.viewport().width() // grid.gridSize().width()
    full = (-(-100_000 // per_row)) * grid.gridSize().height() - grid.viewport().height()
    qtbot.waitUntil(lambda: bar.maximum() >= full - grid.gridSize().height(), timeout=10000)  # batched layout done
    bar.setValue(bar.maximum())
    qtbot.waitUntil(lambda: model.cached(99_999), timeout=10000)
    assert len(grid.findChildren(QWidget)) == widgets < 30  # scroll bars and viewport, not 100,000 items
    assert len(model._cache) < 2000  # only what was on screen was decoded
    model.shutdown()


def test_match_the_model_input_sets_size_and_channels_in_one_undo_step(view, qtbot, tmp_path):
    root = _photos(tmp_path / "photos")
    view.prompts.folder = str(root)
    with qtbot.waitSignal(view.sourceOpened, timeout=30000):
        view._dataset_chosen("folder")
    assert view.source.input_shape == (3, 40, 48)
    with qtbot.waitSignal(view.sourceOpened, timeout=30000):
        view.match_btn.click()
    d = view.doc.project.data
    assert d.image_size == (28, 28) and d.channels == "grey" and view.source.input_shape == (1, 28, 28)
    view.doc.undo_stack.undo()
    assert view.doc.project.data.image_size is None and view.doc.project.data.channels == "auto"


def test_a_cross_class_copy_excludes_only_the_file_the_user_selects(view, qtbot, tmp_path):
    root = _photos(tmp_path / "photos")
    (root / "dog" / "was_a_cat.png").write_bytes((root / "cat" / "3.png").read_bytes())
    view.prompts.folder = str(root)
    with qtbot.waitSignal(view.sourceOpened, timeout=30000):
        view._dataset_chosen("folder")
    with qtbot.waitSignal(view.jobFinished, timeout=30000):
        view.run_audit()
    kinds = [f.kind for f in view.audit_report.findings]
    view.findings.setCurrentItem(view.findings.topLevelItem(kinds.index("cross_class")))
    assert not view.fix_btn.isEnabled()  # which copy is wrong is the user's call
    items = [view.finding_files.item(i) for i in range(view.finding_files.count())]
    wrong = next(it for it in items if "was_a_cat" in it.text())
    wrong.setSelected(True)
    assert view.fix_btn.isEnabled() and "selected (1)" in view.fix_btn.text()
    with qtbot.waitSignal(view.sourceOpened, timeout=30000):
        view.fix_btn.click()
    assert view.doc.project.data.exclude == ["dog/was_a_cat.png"]


def test_fit_the_model_to_a_folder_then_the_cnn_template_trains_on_it(view, qtbot, tmp_path):
    import json

    from engine.cli import main
    from engine.project import save_project

    root = _photos(tmp_path / "photos")
    view.prompts.folder = str(root)
    with qtbot.waitSignal(view.sourceOpened, timeout=30000):
        view._dataset_chosen("folder")
    assert view.fit_model()
    g = view.doc.project.model
    assert g.node("input").params["shape"] == [3, 40, 48]
    # the automatic size and channels are pinned with the fit: excluding files later cannot unfit the model
    assert list(view.doc.project.data.image_size) == [40, 48] and view.doc.project.data.channels == "rgb"
    out_feed = g.node(g.inputs_of("output")[0])
    assert out_feed.params["out_features"] == 2
    view.doc.project.train.epochs = 1
    view.doc.project.train.device = "cpu"
    save_project(view.doc.project, tmp_path / "p.json")
    assert main(["train", str(tmp_path / "p.json"), "--out", str(tmp_path / "run"), "--quiet",
                 "--report", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["status"] == "completed"
    view.doc.undo_stack.undo()  # one step puts the model back
    assert view.doc.project.model.node("input").params["shape"] == [1, 28, 28]


def test_download_button_fetches_with_progress_then_opens_the_dataset(view, qtbot, tmp_path, monkeypatch):
    from loopback import mnist_server

    from engine.data import download as dl

    gen = mnist_server()
    url, spec, _ = next(gen)
    try:
        monkeypatch.setattr(dl, "registry", lambda: {"MNIST": spec})
        with qtbot.waitSignal(view.sourceFailed, timeout=30000):
            view.set_source("torchvision:MNIST", str(tmp_path / "root"))
        with qtbot.waitSignal(view.sourceOpened, timeout=30000):
            view.download()
            assert view.busy_box.isVisible() and "Downloading MNIST" in view.busy_label.text()
        assert view.grid.thumbs.rowCount() == 300 and view.error_label.text() == ""
    finally:
        next(gen, None)
