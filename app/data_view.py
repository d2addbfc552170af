"""The Data tab: see the dataset before training on it.

Source (digits, torchvision with Download, an image folder, a CSV table), a thumbnail grid filtered by
class and split with a larger view of the clicked sample, the class histogram for train and validation,
split and conversion controls, the augmentation editor with a live preview, dataset statistics offered
as the Normalize step, and the audit. Every setting is an undoable edit of the document
(``DocumentController.set_field``); the view follows ``fieldChanged`` like every other view.

Anything slow (opening a big folder, downloading, statistics, the audit, a large preview image) runs in
a :class:`Job` thread with progress and Cancel; the Qt thread only receives results as signals.
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.data.augment_params import AUGMENT_DEFAULTS, AugmentError, check_augment
from engine.data.datasets import project_split, select_limit
from engine.data.sources import (
    TORCHVISION_DATASETS,
    Cancelled,
    DatasetError,
    FolderSource,
    Source,
    open_source,
)
from engine.project import AugmentSpec
from widgets.data_plots import ClassHistogram, ImageGridView, grid_image
from widgets.thumbnails import ThumbnailGrid, to_qimage

from .document import DocumentController

SOURCE_FIELDS = ("data.dataset", "data.path", "data.image_size", "data.resize", "data.channels", "data.exclude",
                 "data.csv_target", "data.csv_header", "data.csv_layout", "train.task")
SPLIT_FIELDS = ("data.val_fraction", "data.seed", "data.stratified", "data.folds", "data.fold", "data.limit")
DATASETS = ["digits", "folder", "csv"] + [f"torchvision:{n}" for n in TORCHVISION_DATASETS]
AUG_TITLES = {
    "random_rotation": "Rotation", "horizontal_flip": "Horizontal flip", "vertical_flip": "Vertical flip",
    "random_resized_crop": "Random resized crop", "affine": "Affine", "color_jitter": "Colour jitter",
    "random_erasing": "Random erasing", "normalize": "Normalize",
}
PREVIEW_IMAGES, PREVIEW_VARIANTS = 6, 6
THUMB = 64


class Job(QObject):
    """Runs ``fn(progress, cancelled)`` in a thread; results come back as signals on the Qt thread."""

    progress = Signal(int, int, str)  # done, total, text
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, fn: Callable[..., Any], parent: QObject | None = None):
        super().__init__(parent)
        self.fn = fn
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="layerlab-data-job", daemon=True)
        self.thread.start()

    def cancel(self) -> None:
        self._stop.set()

    def is_cancelled(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        try:
            out = self.fn(lambda d, t, text="": self.progress.emit(int(d), int(t), text), self._stop.is_set)
        except Cancelled:
            self.cancelled.emit()
        except (DatasetError, AugmentError, ValueError, OSError) as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - a failed job is a message in the view, never a crash
            self.failed.emit(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
        else:
            if self._stop.is_set():
                self.cancelled.emit()
            else:
                self.finished.emit(out)


class DataPrompts:
    """The file dialogs the Data view asks; tests pass one that answers without a dialog."""

    def __init__(self, parent: QWidget | None = None):
        self.parent = parent

    def choose_folder(self, start: str, title: str = "Choose an image folder (one sub-folder per class)") -> str:
        return QFileDialog.getExistingDirectory(self.parent, title, start)

    def choose_csv(self, start: str) -> str:
        path, _ = QFileDialog.getOpenFileName(self.parent, "Choose a CSV table", start,
                                              "CSV tables (*.csv *.csv.gz *.tsv *.txt);;All files (*)")
        return path


def _spin(lo: float, hi: float, step: float, decimals: int = 2) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setDecimals(decimals)
    s.setKeyboardTracking(False)
    return s


class DataView(QWidget):
    """The Data tab. Signals: ``sourceOpened(int)`` (samples), ``jobFinished(str)`` (the job's kind)."""

    sourceOpened = Signal(int)
    sourceFailed = Signal(str)
    jobFinished = Signal(str)
    previewUpdated = Signal()

    def __init__(self, doc: DocumentController, prompts: DataPrompts | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("dataView")  # the Start page finds the view by this name
        self.doc = doc
        self.prompts = prompts or DataPrompts(self)
        if getattr(self.prompts, "parent", None) is None:
            self.prompts.parent = self
        self.source: Source | None = None
        self.used = np.zeros(0, dtype=np.int64)
        self.train_idx = np.zeros(0, dtype=np.int64)
        self.val_idx = np.zeros(0, dtype=np.int64)
        self.preview_images: np.ndarray | None = None
        self.preview_seed = 0
        self.stats: tuple[list[float], list[float]] | None = None
        self.audit_report = None
        self.jobs: dict[str, Job] = {}
        self._syncing = False
        self._stale = True
        self._open_gen = 0
        self._build()
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(250)
        self._reload_timer.timeout.connect(self.reload)
        doc.replaced.connect(self._on_replaced)
        doc.fieldChanged.connect(self._on_field)
        if hasattr(doc, "graphChanged"):
            doc.graphChanged.connect(lambda _g: self._sync_widgets())  # the match button names the model's input

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        top = QHBoxLayout()
        self.dataset_combo = QComboBox()
        self.dataset_combo.addItems(DATASETS)
        self.dataset_combo.setToolTip("data.dataset: where the samples come from")
        self.dataset_combo.activated.connect(lambda _i: self._dataset_chosen(self.dataset_combo.currentText()))
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("data.path: image folder, CSV file or torchvision root")
        self.path_edit.editingFinished.connect(self._path_edited)
        self.browse_btn = QPushButton("Browse…")
        self.browse_btn.clicked.connect(self._browse)
        self.download_btn = QPushButton("Download")
        self.download_btn.setToolTip("Fetch this torchvision dataset's files into the root folder")
        self.download_btn.clicked.connect(self.download)
        self.reload_btn = QPushButton("Reload")
        self.reload_btn.setToolTip("Scan the source again (after adding or removing files)")
        self.reload_btn.clicked.connect(self.reload)
        top.addWidget(QLabel("Dataset"))
        top.addWidget(self.dataset_combo)
        top.addWidget(self.path_edit, 1)
        for b in (self.browse_btn, self.download_btn, self.reload_btn):
            top.addWidget(b)

        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d9534f")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        busy = QHBoxLayout()
        self.busy_label = QLabel("")
        self.busy_bar = QProgressBar()
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.setTextVisible(False)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.clicked.connect(self.cancel_jobs)
        busy.addWidget(self.busy_label)
        busy.addWidget(self.busy_bar, 1)
        busy.addWidget(self.cancel_btn)
        self.busy_box = QWidget()
        self.busy_box.setLayout(busy)
        self.busy_box.hide()

        # left: filters, grid, the clicked sample
        filt = QHBoxLayout()
        self.class_filter = QComboBox()
        self.class_filter.setMinimumContentsLength(10)
        self.split_filter = QComboBox()
        self.split_filter.addItems(["all", "train", "validation"])
        self.class_filter.currentIndexChanged.connect(lambda _i: self._apply_filter())
        self.split_filter.currentIndexChanged.connect(lambda _i: self._apply_filter())
        self.count_label = QLabel("")
        filt.addWidget(QLabel("Class"))
        filt.addWidget(self.class_filter)
        filt.addWidget(QLabel("Split"))
        filt.addWidget(self.split_filter)
        filt.addStretch(1)
        filt.addWidget(self.count_label)
        self.grid = ThumbnailGrid(cell=THUMB)
        self.grid.sampleActivated.connect(self.show_sample)
        self.detail_image = QLabel()
        self.detail_image.setFixedSize(160, 160)
        self.detail_image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail_image.setStyleSheet("background: #202020")
        self.detail_text = QLabel("Click a thumbnail to see it larger.")
        self.detail_text.setWordWrap(True)
        self.detail_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        detail = QHBoxLayout()
        detail.addWidget(self.detail_image)
        detail.addWidget(self.detail_text, 1)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addLayout(filt)
        ll.addWidget(self.grid, 1)
        ll.addLayout(detail)

        self.side = QTabWidget()
        for page, title in ((self._build_split_tab(), "Split && shape"), (self._build_augment_tab(), "Augmentation"),
                            (self._build_stats_tab(), "Statistics"), (self._build_audit_tab(), "Audit")):
            scroll = QScrollArea()  # a small window scrolls the controls instead of squeezing them
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setWidget(page)
            self.side.addTab(scroll, title)
        self.splitter = QSplitter()
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.side)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.summary)
        lay.addWidget(self.error_label)
        lay.addWidget(self.busy_box)
        lay.addWidget(self.splitter, 1)

    def _build_split_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        split = QGroupBox("Split")
        f = QFormLayout(split)
        self.val_spin = _spin(0.01, 0.9, 0.05)
        self.val_spin.valueChanged.connect(lambda v: self._set("data.val_fraction", round(float(v), 4)))
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setKeyboardTracking(False)
        self.seed_spin.valueChanged.connect(lambda v: self._set("data.seed", int(v)))
        self.strat_check = QCheckBox("stratified (each class split in proportion)")
        self.strat_check.toggled.connect(lambda v: self._set("data.stratified", bool(v)))
        self.folds_spin = QSpinBox()
        self.folds_spin.setRange(0, 50)
        self.folds_spin.setSpecialValueText("off (one split)")
        self.folds_spin.setKeyboardTracking(False)
        self.folds_spin.valueChanged.connect(self._folds_changed)
        self.fold_spin = QSpinBox()
        self.fold_spin.setRange(0, 49)
        self.fold_spin.setKeyboardTracking(False)
        self.fold_spin.valueChanged.connect(lambda v: self._set("data.fold", int(v)))
        f.addRow("Validation fraction", self.val_spin)
        f.addRow("Seed", self.seed_spin)
        f.addRow("", self.strat_check)
        f.addRow("k folds", self.folds_spin)
        f.addRow("Validate on fold", self.fold_spin)
        lay.addWidget(split)

        shape = QGroupBox("Images → model input")
        g = QFormLayout(shape)
        size_row = QHBoxLayout()
        self.auto_size = QCheckBox("auto")
        self.auto_size.setToolTip("The most common (or the median) image size, at most 64 px on its longer side")
        self.h_spin = QSpinBox()
        self.w_spin = QSpinBox()
        for s in (self.h_spin, self.w_spin):
            s.setRange(1, 4096)
            s.setKeyboardTracking(False)
            s.valueChanged.connect(lambda _v: self._size_changed())
        self.auto_size.toggled.connect(lambda _v: self._size_changed())
        size_row.addWidget(self.auto_size)
        size_row.addWidget(self.h_spin)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.w_spin)
        self.resize_combo = QComboBox()
        self.resize_combo.addItems(["resize", "center_crop", "pad"])
        self.resize_combo.setToolTip("resize: stretch · center_crop: fill and cut the middle · pad: fit and add bars")
        self.resize_combo.activated.connect(lambda _i: self._set("data.resize", self.resize_combo.currentText()))
        self.channels_combo = QComboBox()
        self.channels_combo.addItems(["auto", "grey", "rgb"])
        self.channels_combo.activated.connect(lambda _i: self._set("data.channels", self.channels_combo.currentText()))
        g.addRow("Size (H × W)", size_row)
        g.addRow("Resize mode", self.resize_combo)
        g.addRow("Channels", self.channels_combo)
        self.match_btn = QPushButton("Match the model's input")
        self.match_btn.setToolTip("Set size and channels to what the model's Input node declares")
        self.match_btn.clicked.connect(self.match_model_input)
        g.addRow("", self.match_btn)
        self.fit_btn = QPushButton("Fit the model to this data")
        self.fit_btn.setToolTip("Set the model's Input shape to the data's and its last Linear layer to one output "
                                "per class (one undo step)")
        self.fit_btn.clicked.connect(self.fit_model)
        g.addRow("", self.fit_btn)
        lay.addWidget(shape)

        self.csv_box = QGroupBox("CSV table")
        c = QFormLayout(self.csv_box)
        self.target_combo = QComboBox()
        self.target_combo.activated.connect(self._target_chosen)
        self.header_combo = QComboBox()
        self.header_combo.addItems(["detect", "yes", "no"])
        self.header_combo.activated.connect(
            lambda i: self._set("data.csv_header", {0: None, 1: True, 2: False}[i]))
        self.layout_combo = QComboBox()
        self.layout_combo.addItems(["auto", "image", "table"])
        self.layout_combo.activated.connect(lambda _i: self._set("data.csv_layout", self.layout_combo.currentText()))
        c.addRow("Target column", self.target_combo)
        c.addRow("Header row", self.header_combo)
        c.addRow("Layout", self.layout_combo)
        lay.addWidget(self.csv_box)
        self.csv_box.hide()

        self.histogram = ClassHistogram()
        lay.addWidget(QLabel("Samples per class"))
        lay.addWidget(self.histogram, 1)
        return w

    def _build_augment_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        row = QHBoxLayout()
        self.aug_list = QListWidget()
        self.aug_list.setMaximumHeight(150)
        self.aug_list.currentRowChanged.connect(lambda _r: self._fill_params())
        btns = QVBoxLayout()
        self.aug_add = QPushButton("Add ▾")
        menu = QMenu(self.aug_add)
        for typ in AUGMENT_DEFAULTS:
            menu.addAction(AUG_TITLES.get(typ, typ), lambda t=typ: self.add_augment(t))
        self.aug_add.setMenu(menu)
        self.aug_remove = QPushButton("Remove")
        self.aug_remove.clicked.connect(self.remove_augment)
        self.aug_up = QPushButton("Up")
        self.aug_up.clicked.connect(lambda: self.move_augment(-1))
        self.aug_down = QPushButton("Down")
        self.aug_down.clicked.connect(lambda: self.move_augment(1))
        for b in (self.aug_add, self.aug_remove, self.aug_up, self.aug_down):
            btns.addWidget(b)
        btns.addStretch(1)
        row.addWidget(self.aug_list, 1)
        row.addLayout(btns)
        lay.addLayout(row)
        self.param_box = QGroupBox("Parameters")
        self.param_form = QFormLayout(self.param_box)
        lay.addWidget(self.param_box)
        self.aug_error = QLabel("")
        self.aug_error.setWordWrap(True)
        self.aug_error.setStyleSheet("color: #d9534f")
        lay.addWidget(self.aug_error)
        prow = QHBoxLayout()
        prow.addWidget(QLabel("Preview: each row one image, first column the original"))
        prow.addStretch(1)
        self.reroll_btn = QPushButton("Re-roll")
        self.reroll_btn.clicked.connect(self.reroll)
        prow.addWidget(self.reroll_btn)
        lay.addLayout(prow)
        self.preview = ImageGridView()
        lay.addWidget(self.preview, 1)
        return w

    def _build_stats_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        intro = QLabel("Mean and standard deviation per channel over the training split, in [0, 1].")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.stats_btn = QPushButton("Compute mean / std")
        self.stats_btn.clicked.connect(self.compute_stats)
        self.stats_label = QLabel("")
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.normalize_btn = QPushButton("Use as Normalize step")
        self.normalize_btn.setEnabled(False)
        self.normalize_btn.clicked.connect(self.apply_normalize)
        lay.addWidget(self.stats_btn)
        lay.addWidget(self.stats_label)
        lay.addWidget(self.normalize_btn)
        lay.addStretch(1)
        return w

    def _build_audit_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        row = QHBoxLayout()
        self.audit_btn = QPushButton("Run audit")
        self.audit_btn.setToolTip("Unreadable files, duplicates within and across classes, train/validation "
                                  "leaks, imbalance, odd and blank images")
        self.audit_btn.clicked.connect(self.run_audit)
        self.audit_summary = QLabel("")
        row.addWidget(self.audit_btn)
        row.addWidget(self.audit_summary, 1)
        lay.addLayout(row)
        self.findings = QTreeWidget()
        self.findings.setHeaderLabels(["Kind", "Finding", "Files"])
        self.findings.setColumnWidth(0, 110)
        self.findings.setColumnWidth(1, 380)
        self.findings.setRootIsDecorated(False)
        self.findings.setWordWrap(True)
        self.findings.currentItemChanged.connect(lambda _a, _b: self._finding_selected())
        lay.addWidget(self.findings, 2)
        self.finding_text = QLabel("")
        self.finding_text.setWordWrap(True)
        self.finding_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.finding_text)
        self.finding_files = QListWidget()
        self.finding_files.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.finding_files.itemSelectionChanged.connect(self._update_fix_btn)
        self.finding_files.itemDoubleClicked.connect(lambda it: self._open_path(it.data(Qt.ItemDataRole.UserRole)))
        lay.addWidget(self.finding_files, 1)
        acts = QHBoxLayout()
        self.fix_btn = QPushButton("Exclude")
        self.fix_btn.setToolTip("Add the selected files (or, with none selected, the ones this finding suggests) "
                                "to data.exclude (undoable)")
        self.fix_btn.clicked.connect(self.apply_finding)
        self.show_btn = QPushButton("Show in grid")
        self.show_btn.clicked.connect(self.show_finding)
        self.open_btn = QPushButton("Open file")
        self.open_btn.clicked.connect(lambda: self._open_path(self._selected_file()))
        for b in (self.fix_btn, self.show_btn, self.open_btn):
            b.setEnabled(False)
            acts.addWidget(b)
        acts.addStretch(1)
        lay.addLayout(acts)
        return w

    # -- document -> widgets -------------------------------------------------------------------
    def _on_replaced(self) -> None:
        self._sync_widgets()
        self._mark_stale()

    def _on_field(self, path: str) -> None:
        if not path.startswith(("data.", "train.task")):
            return
        self._sync_widgets()
        if path in SOURCE_FIELDS:
            self._mark_stale()
        elif path in SPLIT_FIELDS:
            self._update_split()
        elif path == "data.augment":
            self._fill_augment_list()
            self.update_preview()

    def _mark_stale(self) -> None:
        self._stale = True
        if self.isVisible():
            self._reload_timer.start()

    def showEvent(self, ev) -> None:  # noqa: N802 - Qt API: open the source when the tab is first seen
        super().showEvent(ev)
        if self._stale and self.doc.project is not None:
            self._reload_timer.start(0)

    def _sync_widgets(self) -> None:
        p = self.doc.project
        if p is None:
            return
        d = p.data
        self._syncing = True
        try:
            if self.dataset_combo.findText(d.dataset) < 0:
                self.dataset_combo.addItem(d.dataset)
            self.dataset_combo.setCurrentText(d.dataset)
            self.path_edit.setText(d.path or "")
            self.path_edit.setEnabled(d.dataset != "digits")
            self.browse_btn.setEnabled(d.dataset != "digits")
            self.download_btn.setVisible(d.dataset.startswith("torchvision:"))
            self.val_spin.setValue(d.val_fraction)
            self.seed_spin.setValue(d.seed)
            self.strat_check.setChecked(d.stratified)
            self.folds_spin.setValue(d.folds)
            self.fold_spin.setValue(d.fold)
            self.fold_spin.setEnabled(d.folds >= 2)
            self.val_spin.setEnabled(d.folds < 2)
            self.auto_size.setChecked(d.image_size is None)
            if d.image_size is not None:
                self.h_spin.setValue(d.image_size[0])
                self.w_spin.setValue(d.image_size[1])
            self.h_spin.setEnabled(d.image_size is not None)
            self.w_spin.setEnabled(d.image_size is not None)
            self.resize_combo.setCurrentText(d.resize)
            self.channels_combo.setCurrentText(d.channels)
            self.csv_box.setVisible(d.dataset == "csv")
            shape = self.model_input_shape()
            self.match_btn.setEnabled(shape is not None)
            self.match_btn.setText(f"Match the model's input {shape}" if shape else "Match the model's input")
            self.header_combo.setCurrentIndex({None: 0, True: 1, False: 2}[d.csv_header])
            self.layout_combo.setCurrentText(d.csv_layout)
            self._fill_augment_list()
        finally:
            self._syncing = False

    # -- widgets -> document -----------------------------------------------------------------
    def _set(self, path: str, value: Any) -> bool:
        if self._syncing or self.doc.project is None:
            return False
        try:
            changed = self.doc.set_field(path, value)
        except ValueError as exc:
            self.error_label.setText(str(exc))
            self._sync_widgets()  # show what the document holds, never a value it refused
            return False
        self.error_label.setText("")
        return changed

    def _dataset_chosen(self, name: str) -> None:
        if self._syncing or self.doc.project is None or name == self.doc.project.data.dataset:
            return
        if name == "digits":
            self._set("data.dataset", "digits")
            return
        if name in ("folder", "csv"):
            start = self.doc.project.data.path or str(Path.home())
            path = self.prompts.choose_folder(start) if name == "folder" else self.prompts.choose_csv(start)
            if not path:
                self._sync_widgets()
                return
            self.set_source(name, path)
            return
        self.set_source(name, self.doc.project.data.path or str(Path.home() / "datasets"))

    def set_source(self, dataset: str, path: str | None) -> None:
        """Point the project at a dataset: one undo step per field (dataset, then path)."""
        self.doc.undo_stack.beginMacro(f"Use dataset {dataset}")
        try:
            self._set("data.path", path)
            self._set("data.dataset", dataset)
        finally:
            self.doc.undo_stack.endMacro()

    def _path_edited(self) -> None:
        text = self.path_edit.text().strip()
        self._set("data.path", text or None)

    def _browse(self) -> None:
        if self.doc.project is None:
            return
        d = self.doc.project.data
        start = d.path or str(Path.home())
        if d.dataset == "csv":
            path = self.prompts.choose_csv(start)
        else:
            path = self.prompts.choose_folder(start, "Choose the dataset folder")
        if path:
            self._set("data.path", path)

    def _folds_changed(self, v: int) -> None:
        if v == 1:  # 1 fold is no split: step over it in the direction the user went
            cur = self.doc.project.data.folds if self.doc.project else 0
            self.folds_spin.setValue(2 if cur == 0 else 0)
            return
        if self._syncing or self.doc.project is None:
            return
        self.doc.undo_stack.beginMacro("Change k folds")
        try:
            if self.doc.project.data.fold >= max(v, 1) and v >= 2:
                self._set("data.fold", 0)
            self._set("data.folds", int(v))
        finally:
            self.doc.undo_stack.endMacro()

    def _size_changed(self) -> None:
        if self._syncing:
            return
        if self.auto_size.isChecked():
            self._set("data.image_size", None)
        else:
            self._set("data.image_size", (int(self.h_spin.value()), int(self.w_spin.value())))

    def model_input_shape(self) -> list[int] | None:
        """The (C, H, W) the model's Input node declares, when there is one image input."""
        p = self.doc.project
        graph = getattr(p, "model", None) if p is not None else None
        nodes = [n for n in (graph.nodes if graph is not None else []) if n.type == "Input"]
        if len(nodes) != 1:
            return None
        shape = nodes[0].params.get("shape")
        return list(shape) if isinstance(shape, (list, tuple)) and len(shape) == 3 else None

    def match_model_input(self) -> None:
        shape = self.model_input_shape()
        if shape is None:
            self.error_label.setText("The model has no single image Input node to match (shape [C, H, W]).")
            return
        c, h, w = (int(v) for v in shape)
        self.doc.undo_stack.beginMacro("Match the model's input")
        try:
            self._set("data.image_size", (h, w))
            if c in (1, 3):
                self._set("data.channels", "grey" if c == 1 else "rgb")
        finally:
            self.doc.undo_stack.endMacro()

    def fit_model(self) -> bool:
        """The other direction: the model's Input takes the data's shape and its last Linear layer gives one
        output per class (or one value for regression). One undoable step; False with a message otherwise."""
        p, src = self.doc.project, self.source
        graph = getattr(p, "model", None) if p is not None else None
        if graph is None or src is None:
            return False
        inputs = [n for n in graph.nodes if n.type == "Input"]
        outputs = [n for n in graph.nodes if n.type == "Output"]
        if len(inputs) != 1 or len(outputs) != 1:
            self.error_label.setText("Fit the model: it needs exactly one Input and one Output node.")
            return False
        feed = graph.inputs_of(outputs[0].id)
        last = graph.node(feed[0]) if len(feed) == 1 else None
        if last is None or last.type != "Linear":
            self.error_label.setText("Fit the model: the layer before Output is not a Linear layer; set its size "
                                     "in the Designer.")
            return False
        n_out = 1 if p.train.task in ("regression", "binary") else len(src.classes)
        self.doc.undo_stack.beginMacro("Fit the model to the data")
        try:
            shape = [int(v) for v in src.input_shape]
            if p.data.dataset == "folder" and len(shape) == 3:
                # pin what "auto" chose, so the model keeps fitting: the automatic size follows the files
                # (their median), and excluding one after the fit used to change it under the model
                if p.data.image_size is None:
                    self._set("data.image_size", (shape[1], shape[2]))
                if p.data.channels == "auto" and shape[0] in (1, 3):
                    self._set("data.channels", "grey" if shape[0] == 1 else "rgb")
            self.doc.set_param("model", inputs[0].id, "shape", shape)
            self.doc.set_param("model", last.id, "out_features", int(n_out))
        except ValueError as exc:
            self.error_label.setText(f"Fit the model: {exc}")
            return False
        finally:
            self.doc.undo_stack.endMacro()
        self.error_label.setText("")
        self._sync_widgets()
        return True

    def _target_chosen(self, i: int) -> None:
        name = self.target_combo.itemText(i)
        self._set("data.csv_target", name)

    # -- source --------------------------------------------------------------------------------
    def reload(self) -> None:
        """(Re)open the project's source in the background."""
        if self.doc.project is None:
            return
        self._stale = False
        self._open_gen += 1
        gen = self._open_gen
        spec = self.doc.project.data.model_copy(deep=True)
        task = self.doc.project.train.task

        def work(progress, cancelled):
            src = open_source(spec, task=task, progress=lambda d, t: progress(d, t, "scanning"), cancel=cancelled)
            pick = _preview_picks(src, spec)
            imgs = None
            if src.is_image and len(pick):
                imgs, _ = src.decode_all(pick)
            import engine.data.augment  # noqa: F401 - torch imports here, not on the Qt thread

            return gen, src, imgs

        self._start_job("open", work, "Opening the dataset", self._opened, self._open_failed)

    def _opened(self, result) -> None:
        gen, src, imgs = result
        if gen != self._open_gen:
            return  # a newer open is on its way
        self.source = src
        self.error_label.setText("")
        self.preview_images = imgs
        names = [src.classes[k] for k in src.labels] if src.classes else [f"{v:g}" for v in src.targets]
        self.grid.thumbs.set_source((lambda i, s=src: s.thumbnail(i, THUMB)) if src.is_image else None, names)
        self._syncing = True
        try:
            self.class_filter.clear()
            self.class_filter.addItem("all classes")
            self.class_filter.addItems(list(src.classes))
            size = getattr(src, "image_size", None) or (src.input_shape[1:] if len(src.input_shape) == 3 else None)
            if size is not None and self.doc.project is not None and self.doc.project.data.image_size is None:
                self.h_spin.setValue(int(size[0]))  # auto: show what "auto" chose, greyed out
                self.w_spin.setValue(int(size[1]))
            self.target_combo.clear()
            if hasattr(src, "columns"):
                self.target_combo.addItems(src.columns)
                self.target_combo.setCurrentText(src.target_column)
        finally:
            self._syncing = False
        self._update_split()
        self._update_summary()
        self.update_preview()
        self.findings.clear()
        self.finding_files.clear()
        self.audit_summary.setText("")
        if src.skipped:  # what the scan left out is known already: list it before any audit runs
            from engine.data.audit import AuditReport, skipped_findings
            from engine.data.sources import skipped_noun

            self._audit_ready(AuditReport(src.name, len(src), skipped_findings(src)))
            self.audit_summary.setText(f"{len(src.skipped):,} {skipped_noun(src.skipped)} left out when opening; "
                                       "Run audit for the rest")
        self.stats = None
        self.stats_label.setText("")
        self.normalize_btn.setEnabled(False)
        self.sourceOpened.emit(len(src))

    def _open_failed(self, msg: str) -> None:
        self.source = None
        self.grid.thumbs.set_source(None)
        self.histogram.set_counts((), np.zeros(0), np.zeros(0))
        self.summary.setText("")
        hint = ""
        if self.doc.project is not None and self.doc.project.data.dataset.startswith("torchvision:"):
            hint = "  Use Download to fetch the files into the root folder."
        self.error_label.setText(msg.splitlines()[0] + hint)
        self.sourceFailed.emit(msg)

    def _update_summary(self) -> None:
        src = self.source
        if src is None:
            return
        d = src.describe()
        parts = [f"<b>{src.name}</b>: {len(src):,} samples", f"{len(src.classes)} classes" if src.classes else
                 "regression target", f"input {list(src.input_shape)}"]
        if isinstance(src, FolderSource):
            modes = ", ".join(f"{m} {n:,}" for m, n in list(d["modes"].items())[:4])
            parts.append(f"modes: {modes}")
            parts.append(f"{d['distinct_sizes']} distinct sizes → {d['conversion']['resize']} to "
                         f"{src.image_size[0]}×{src.image_size[1]} (H×W) {d['conversion']['channels']}")
        if src.skipped:
            parts.append(f"<span style='color:#d9822b'>{len(src.skipped):,} skipped (see Audit)</span>")
        self.summary.setText(" · ".join(parts))

    # -- split and filters -------------------------------------------------------------------------
    def _update_split(self) -> None:
        src, p = self.source, self.doc.project
        if src is None or p is None:
            return
        self.used = select_limit(len(src), p.data)
        try:
            tr, va = project_split(src.labels[self.used], p.data, getattr(src, "regression", False))
        except ValueError as exc:
            self.error_label.setText(f"split: {exc}")
            return
        self.train_idx = np.sort(self.used[tr])
        self.val_idx = np.sort(self.used[va])
        k = max(len(src.classes), 1)
        self.histogram.set_counts(src.classes or ("value",), np.bincount(src.labels[self.train_idx], minlength=k),
                                  np.bincount(src.labels[self.val_idx], minlength=k))
        self._apply_filter()

    def _apply_filter(self) -> None:
        src = self.source
        if src is None or self._syncing:
            return
        split = self.split_filter.currentText()
        rows = {"train": self.train_idx, "validation": self.val_idx}.get(split, self.used)
        c = self.class_filter.currentIndex() - 1
        if c >= 0:
            rows = rows[src.labels[rows] == c]
        self.grid.thumbs.set_rows(rows)
        self.count_label.setText(f"{len(rows):,} shown")

    def show_rows(self, rows: np.ndarray, what: str) -> None:
        self.grid.thumbs.set_rows(np.asarray(rows, dtype=np.int64))
        self.count_label.setText(f"{len(rows):,} shown ({what})")

    def show_sample(self, index: int) -> None:
        src = self.source
        if src is None:
            return
        info = src.info(index)
        split = "validation" if index in set(self.val_idx.tolist()) else (
            "train" if index in set(self.train_idx.tolist()) else "not used")
        self.detail_text.setText(f"<b>{info.class_name}</b> (#{index}, {split})<br>{info.size[1]}×{info.size[0]} (H×W) "
                                 f"{info.mode}<br><small>{info.path}</small>")
        self.detail_image.clear()
        if not src.is_image:
            return

        def work(progress, cancelled):
            return index, src.thumbnail(index, 160)

        self._start_job("detail", work, "", self._detail_ready, lambda m: self.detail_text.setText(m), quiet=True)

    def _detail_ready(self, result) -> None:
        index, arr = result
        if arr is None:
            self.detail_image.setText("unreadable")
            return
        pix = QPixmap.fromImage(to_qimage(arr))
        self.detail_image.setPixmap(pix.scaled(160, 160, Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.FastTransformation
                                               if max(arr.shape[:2]) < 80 else Qt.TransformationMode.SmoothTransformation))

    # -- augmentation ----------------------------------------------------------------------------------
    def _augment(self) -> list[AugmentSpec]:
        return [a.model_copy(deep=True) for a in self.doc.project.data.augment] if self.doc.project else []

    def _fill_augment_list(self) -> None:
        cur = self.aug_list.currentRow()
        self.aug_list.blockSignals(True)
        self.aug_list.clear()
        for a in self._augment():
            params = ", ".join(f"{k}={v}" for k, v in a.params.items())
            self.aug_list.addItem(QListWidgetItem(f"{AUG_TITLES.get(a.type, a.type)}" + (f"  ({params})" if params else "")))
        self.aug_list.blockSignals(False)
        if self.aug_list.count():
            self.aug_list.setCurrentRow(min(max(cur, 0), self.aug_list.count() - 1))
        self._fill_params()

    def _commit_augment(self, steps: list[AugmentSpec], what: str) -> bool:
        try:
            check_augment(steps)
        except AugmentError as exc:
            self.aug_error.setText(str(exc))
            return False
        self.aug_error.setText("")
        return self._set("data.augment", steps)

    def add_augment(self, typ: str, params: dict[str, Any] | None = None) -> None:
        steps = self._augment()
        steps.append(AugmentSpec(type=typ, params=params or {}))
        if self._commit_augment(steps, f"Add {typ}"):
            self.aug_list.setCurrentRow(len(steps) - 1)

    def remove_augment(self) -> None:
        r = self.aug_list.currentRow()
        steps = self._augment()
        if 0 <= r < len(steps):
            del steps[r]
            self._commit_augment(steps, "Remove step")

    def move_augment(self, delta: int) -> None:
        r = self.aug_list.currentRow()
        steps = self._augment()
        j = r + delta
        if 0 <= r < len(steps) and 0 <= j < len(steps):
            steps[r], steps[j] = steps[j], steps[r]
            if self._commit_augment(steps, "Reorder steps"):
                self.aug_list.setCurrentRow(j)

    def set_augment_param(self, row: int, key: str, value: Any) -> bool:
        steps = self._augment()
        if not 0 <= row < len(steps):
            return False
        params = dict(steps[row].params)
        if value == AUGMENT_DEFAULTS[steps[row].type].get(key):
            params.pop(key, None)  # the default: keep the document minimal
        else:
            params[key] = value
        steps[row] = AugmentSpec(type=steps[row].type, params=params)
        return self._commit_augment(steps, f"Change {key}")

    def _fill_params(self) -> None:
        while self.param_form.rowCount():
            self.param_form.removeRow(0)
        r = self.aug_list.currentRow()
        steps = self._augment()
        has = 0 <= r < len(steps)
        for b in (self.aug_remove, self.aug_up, self.aug_down):
            b.setEnabled(has)
        if not has:
            self.param_box.setTitle("Parameters")
            return
        step = steps[r]
        self.param_box.setTitle(f"{AUG_TITLES.get(step.type, step.type)} parameters")
        for key, default in AUGMENT_DEFAULTS[step.type].items():
            value = step.params.get(key, default)
            self.param_form.addRow(key, self._param_editor(r, key, value, default))

    def _param_editor(self, row: int, key: str, value: Any, default: Any) -> QWidget:
        hi = 180.0 if key in ("degrees",) else 80.0 if key == "shear" else 100.0 if key == "ratio" else (
            10.0 if key == "scale" and isinstance(default, list) and default[0] > 0.5 else 1.0)
        if isinstance(default, list) and key in ("mean", "std"):
            e = QLineEdit(", ".join(f"{v:g}" for v in (value if isinstance(value, list) else [value])))
            e.setToolTip("one value, or one per channel, separated by commas")

            def done(e=e):
                try:
                    vals = [float(t) for t in e.text().replace(";", ",").split(",") if t.strip()]
                except ValueError:
                    self.aug_error.setText(f"data.augment[{row}].params.{key}: give numbers separated by commas")
                    return
                self.set_augment_param(row, key, vals)

            e.editingFinished.connect(done)
            return e
        if isinstance(default, list):
            box = QWidget()
            h = QHBoxLayout(box)
            h.setContentsMargins(0, 0, 0, 0)
            lo, hi_s = _spin(0.0, hi, 0.05, 3), _spin(0.0, hi, 0.05, 3)
            lo.setValue(float(value[0]))
            hi_s.setValue(float(value[1]))
            lo.valueChanged.connect(lambda _v: self.set_augment_param(row, key, [lo.value(), hi_s.value()]))
            hi_s.valueChanged.connect(lambda _v: self.set_augment_param(row, key, [lo.value(), hi_s.value()]))
            h.addWidget(lo)
            h.addWidget(QLabel("to"))
            h.addWidget(hi_s)
            return box
        s = _spin(0.0, hi, 1.0 if hi > 1 else 0.05, 1 if hi > 1 else 3)
        s.setValue(float(value))
        s.valueChanged.connect(lambda v: self.set_augment_param(row, key, float(v)))
        return s

    def reroll(self) -> None:
        self.preview_seed += 1
        self.update_preview()

    def update_preview(self) -> None:
        """The preview images, each followed by augmented copies (seeded; Re-roll draws new ones)."""
        imgs = self.preview_images
        if imgs is None or not len(imgs) or self.doc.project is None:
            self.preview.clear()
            return
        import torch

        from engine.data.augment import preview

        x = torch.from_numpy(np.ascontiguousarray(imgs)).float().div(255.0)
        tiles = []
        try:
            variants = [preview(x, self.doc.project.data.augment, seed=self.preview_seed * 1000 + v)
                        for v in range(PREVIEW_VARIANTS - 1)]
        except AugmentError as exc:
            self.aug_error.setText(str(exc))
            return
        for i in range(len(x)):
            tiles.append(imgs[i])
            for v in variants:
                tiles.append((v[i].clamp(0, 1) * 255).round().to(torch.uint8).numpy())
        self.preview.set_array(grid_image(tiles, PREVIEW_VARIANTS))
        self.previewUpdated.emit()

    # -- statistics ---------------------------------------------------------------------------------
    def compute_stats(self) -> None:
        src = self.source
        if src is None or not src.is_image:
            self.stats_label.setText("Statistics need an image dataset.")
            return
        idx = self.train_idx.copy()

        def work(progress, cancelled):
            c = src.input_shape[0]
            s1 = np.zeros(c)
            s2 = np.zeros(c)
            n = 0
            chunk = 1024
            for k0 in range(0, len(idx), chunk):
                if cancelled():
                    raise Cancelled()
                x, _ = src.decode_all(idx[k0:k0 + chunk], cancel=cancelled)
                x = x.astype(np.float64) / 255.0
                s1 += x.sum(axis=(0, 2, 3))
                s2 += (x * x).sum(axis=(0, 2, 3))
                n += x.shape[0] * x.shape[2] * x.shape[3]
                progress(min(len(idx), k0 + chunk), len(idx), "statistics")
            mean = s1 / max(n, 1)
            std = np.sqrt(np.maximum(s2 / max(n, 1) - mean ** 2, 1e-12))
            return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]

        self._start_job("stats", work, "Computing mean / std", self._stats_ready,
                        lambda m: self.stats_label.setText(m.splitlines()[0]))

    def _stats_ready(self, result) -> None:
        self.stats = result
        mean, std = result
        self.stats_label.setText(f"mean {mean}\nstd  {std}\n(over {len(self.train_idx):,} training samples)")
        self.normalize_btn.setEnabled(True)

    def apply_normalize(self) -> None:
        """Put the computed statistics in the Normalize step (replacing an existing one, else appended)."""
        if self.stats is None:
            return
        mean, std = self.stats
        steps = self._augment()
        new = AugmentSpec(type="normalize", params={"mean": mean, "std": std})
        for k, s in enumerate(steps):
            if s.type == "normalize":
                steps[k] = new
                break
        else:
            steps.append(new)
        self._commit_augment(steps, "Normalize with dataset statistics")

    # -- audit ----------------------------------------------------------------------------------
    def run_audit(self) -> None:
        src, p = self.source, self.doc.project
        if src is None or p is None:
            return
        spec = p.data.model_copy(deep=True)

        def work(progress, cancelled):
            from engine.data.audit import audit_source

            return audit_source(src, spec, progress=lambda d, t: progress(d, t, "auditing"), cancel=cancelled)

        self.audit_summary.setText("running…")
        self._start_job("audit", work, "Auditing", self._audit_ready,
                        lambda m: self.audit_summary.setText(m.splitlines()[0]))

    def _audit_ready(self, rep) -> None:
        self.audit_report = rep
        self.findings.clear()
        for f in rep.findings:
            it = QTreeWidgetItem([f.kind.replace("_", " "), f.message, f"{len(f.files):,}"])
            it.setToolTip(1, f.message)
            it.setData(0, Qt.ItemDataRole.UserRole, f)
            self.findings.addTopLevelItem(it)
        n = len(rep.findings)
        self.audit_summary.setText(f"{n} finding(s) in {rep.seconds:.1f} s" if n else
                                   f"no findings ({rep.num_samples:,} samples, {rep.seconds:.1f} s)")
        if n:
            self.findings.setCurrentItem(self.findings.topLevelItem(0))

    def _current_finding(self):
        it = self.findings.currentItem()
        return it.data(0, Qt.ItemDataRole.UserRole) if it is not None else None

    def _finding_selected(self) -> None:
        f = self._current_finding()
        self.finding_files.clear()
        self.finding_text.setText(f.message if f is not None else "")
        if f is None:
            for b in (self.fix_btn, self.show_btn, self.open_btn):
                b.setEnabled(False)
            return
        for path in f.files[:2000]:
            item = QListWidgetItem(path)
            item.setData(Qt.ItemDataRole.UserRole, path)
            if path in f.action_files:
                item.setText(f"{path}   ← exclude")
            self.finding_files.addItem(item)
        self._update_fix_btn()
        self.show_btn.setEnabled(bool(f.indices))
        self.open_btn.setEnabled(bool(f.files) and os.path.exists(f.files[0]))

    def _chosen_files(self) -> list[str]:
        """The files the Exclude button acts on: those selected in the list, else the finding's suggestion."""
        f = self._current_finding()
        if f is None or f.action != "exclude":
            return []
        picked = [it.data(Qt.ItemDataRole.UserRole) for it in self.finding_files.selectedItems()]
        return picked or list(f.action_files)

    def _update_fix_btn(self) -> None:
        files = self._chosen_files()
        picked = bool(self.finding_files.selectedItems())
        self.fix_btn.setEnabled(bool(files))
        self.fix_btn.setText(f"Exclude {'selected' if picked else 'suggested'} ({len(files)})" if files else
                             "Exclude (select files)")

    def apply_finding(self) -> None:
        """One click: add the chosen files to ``data.exclude`` (paths relative to data.path)."""
        p = self.doc.project
        files = self._chosen_files()
        if not files or p is None or not p.data.path:
            return
        root = Path(p.data.path).expanduser()
        rel = []
        for path in files:
            try:
                rel.append(os.path.relpath(path, root))
            except ValueError:
                continue
        new = list(p.data.exclude) + [r for r in rel if r not in p.data.exclude and not r.startswith("..")]
        self._set("data.exclude", new)

    def show_finding(self) -> None:
        f = self._current_finding()
        if f is not None and f.indices:
            self.show_rows(np.asarray(sorted(f.indices)), f.kind.replace("_", " "))

    def _selected_file(self) -> str | None:
        it = self.finding_files.currentItem()
        if it is not None:
            return it.data(Qt.ItemDataRole.UserRole)
        f = self._current_finding()
        return f.files[0] if f is not None and f.files else None

    def _open_path(self, path: str | None) -> None:
        if path and os.path.exists(path):
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    # -- download -------------------------------------------------------------------------------
    def download(self) -> None:
        p = self.doc.project
        if p is None or not p.data.dataset.startswith("torchvision:"):
            return
        name = p.data.dataset.split(":", 1)[1]
        root = p.data.path
        if not root:
            root = self.prompts.choose_folder(str(Path.home()), f"Choose a folder for {name}")
            if not root:
                return
            self._set("data.path", root)

        def work(progress, cancelled):
            from engine.data.download import download

            def prog(dp):
                total = f" / {dp.total / 2**20:.1f}" if dp.total else ""
                eta = f", {dp.eta:.0f} s left" if dp.eta is not None else ""
                progress(dp.done, dp.total or 0, f"{dp.filename}: {dp.done / 2**20:.1f}{total} MiB at "
                                                 f"{dp.rate / 2**20:.2f} MiB/s{eta}")

            return download(name, root, progress=prog, cancel=cancelled)

        self._start_job("download", work, f"Downloading {name}", lambda _r: self.reload(),
                        lambda m: self.error_label.setText(m.splitlines()[0]),
                        on_cancel=lambda: self.error_label.setText(
                            f"Download cancelled; the partial file is kept in {root} and Download resumes it."))

    # -- jobs -------------------------------------------------------------------------------------
    def _start_job(self, kind: str, fn, title: str, on_done, on_fail, quiet: bool = False, on_cancel=None) -> Job:
        old = self.jobs.get(kind)
        if old is not None:
            old.cancel()
        job = Job(fn, self)
        self.jobs[kind] = job

        def finish(handler, *args):
            if self.jobs.get(kind) is job:
                del self.jobs[kind]
            self._update_busy()
            if handler is not None:
                handler(*args)
            self.jobFinished.emit(kind)

        job.finished.connect(lambda r: finish(on_done, r))
        job.failed.connect(lambda m: finish(on_fail, m))
        job.cancelled.connect(lambda: finish(on_cancel))
        if not quiet:
            job.progress.connect(lambda d, t, text: self._job_progress(title, d, t, text))
            self.busy_label.setText(title + "…")
            self.busy_bar.setRange(0, 0)
        job.quiet = quiet
        job.start()
        self._update_busy()
        return job

    def _job_progress(self, title: str, done: int, total: int, text: str) -> None:
        if total > 0:
            self.busy_bar.setRange(0, 1000)
            self.busy_bar.setValue(int(1000 * done / total))
        self.busy_label.setText(f"{title}: {text}" if text and ":" in text else
                                f"{title}: {done:,} / {total:,}" if total else title)

    def _update_busy(self) -> None:
        loud = [j for j in self.jobs.values() if not getattr(j, "quiet", False)]
        self.busy_box.setVisible(bool(loud))
        running = {k for k, j in self.jobs.items() if not getattr(j, "quiet", False)}
        self.audit_btn.setEnabled("audit" not in running)
        self.stats_btn.setEnabled("stats" not in running)
        self.download_btn.setEnabled("download" not in running)

    def cancel_jobs(self) -> None:
        for j in list(self.jobs.values()):
            j.cancel()

    def shutdown(self) -> None:
        self.cancel_jobs()
        self.grid.thumbs.shutdown()


def _preview_picks(src: Source, spec: Any) -> np.ndarray:
    """A few sample indices for the augmentation preview: one per class first, then the next ones."""
    if len(src) == 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(spec.seed)
    picks: list[int] = []
    if src.classes:
        for c in range(len(src.classes)):
            idx = np.flatnonzero(src.labels == c)
            if len(idx):
                picks.append(int(rng.choice(idx)))
            if len(picks) >= PREVIEW_IMAGES:
                break
    rest = [int(i) for i in rng.permutation(len(src))[:PREVIEW_IMAGES * 2] if int(i) not in picks]
    return np.asarray((picks + rest)[:PREVIEW_IMAGES], dtype=np.int64)
