"""The Train view: controls that edit the document (undoable), progress, live plots, the live sample
grid, the log and the checkpoint list; wired to a :class:`RunnerBridge`."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.project import Project
from engine.train.events import (
    CheckpointSaved,
    Diagnostic,
    EpochEnd,
    Error,
    Finished,
    Log,
    Progress,
    Samples,
    Started,
)
from widgets.fields import NumberField, limits_for
from widgets.log_panel import LogPanel
from widgets.plots import TrainingPlots
from widgets.sample_grid import SampleGrid

from .bridge import RunnerBridge
from .document import DocumentController
from .prompts import Prompts
from .run_history import (
    PlotLog,
    Point,
    SampleLog,
    checkpoints_of,
    cut_plot_log,
    cut_sample_log,
    read_history_points,
    read_plot_log,
    read_sample_log,
    remember_run,
    safe_stem,
    sample_frames,
)

SAMPLE_KIND = {"gan": "gan", "vae": "vae_samples"}  # the grids a trainer keeps on disk, by task

DEVICES = ("auto", "cpu", "cuda", "mps")
THREAD_RUNNER_WARM = ("torchvision", "torchmetrics", "engine.train.loop", "engine.train.supervised")
SAMPLES_DELAY_MS = 20


def fmt_duration(s: float) -> str:
    if not math.isfinite(s) or s < 0:
        return "–"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def checkpoint_label(kind: str, epoch: int, step: int, name: str, mid_epoch: bool = False) -> str:
    where = f"in epoch {epoch + 1}" if mid_epoch else f"epoch {epoch + 1}"
    return f"{kind:<8}  {where}  step {step:,}  {name}"


def read_checkpoint_label(path: str | Path) -> str:
    """The row text for a checkpoint file from what it holds (epoch, step), read from the file itself."""
    path = Path(path)
    try:
        from engine.train.checkpoint import checkpoint_summary

        info = checkpoint_summary(path)
        return checkpoint_label(info["kind"], info["epoch"], info["global_step"], path.name, info["mid_epoch"])
    except Exception:  # noqa: BLE001 - unreadable: still listed, with its date, so the user can try it
        try:
            stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
        except OSError:
            stamp = "?"
        return f"{path.stem:<8}  {path.name}  saved {stamp} (unreadable)"


def run_time_of(ev: Finished) -> float:
    """The run's training time over every session (its epochs' wall times; a resume adds up)."""
    total = 0.0
    for row in ev.history:
        try:
            total += float(row.get("wall_s", 0.0) or 0.0)
        except (TypeError, ValueError):
            continue
    return total


def _read_png(path: Path):
    """A PNG as a uint8 numpy array ((H, W) grey or (H, W, 3) RGB) via Qt; None if unreadable."""
    import numpy as np
    from PySide6.QtGui import QImage

    img = QImage(str(path))
    if img.isNull():
        return None
    grey = img.isGrayscale()
    img = img.convertToFormat(QImage.Format.Format_Grayscale8 if grey else QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    arr = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return arr[:, :w].copy() if grey else arr[:, : w * 3].reshape(h, w, 3).copy()


class DeviceProbe(QObject):
    """Finds the usable devices in a background thread (importing torch takes seconds), then
    optionally pre-imports ``warm`` modules (the thread runner's torchvision/torchmetrics/loop take
    seconds to import; doing it while the user looks at the window makes Train start at once)."""

    done = Signal(dict)  # {"cpu": True, "cuda": bool, "mps": bool, "cuda_count": int}
    warmed = Signal()

    def __init__(self, parent: QObject | None = None, warm: tuple[str, ...] = ()):
        super().__init__(parent)
        self.warm = warm

    def start(self) -> None:
        threading.Thread(target=self._run, name="layerlab-device-probe", daemon=True).start()

    def _run(self) -> None:
        found = {"cpu": True, "cuda": False, "mps": False, "cuda_count": 0}
        try:
            import torch

            found["cuda"] = bool(torch.cuda.is_available())
            found["cuda_count"] = torch.cuda.device_count() if found["cuda"] else 0
            mps = getattr(torch.backends, "mps", None)
            found["mps"] = bool(mps is not None and mps.is_available())
        except Exception:  # noqa: BLE001 - no torch/driver: CPU only
            pass
        self.done.emit(found)
        import importlib

        for name in self.warm:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - warming is an optimisation only
                pass
        self.warmed.emit()


class TrainView(QWidget):
    """Owns the Train controls and display widgets; talks to the document and the bridge."""

    runStarted = Signal(str)  # run dir
    runFinished = Signal(object)  # Finished
    firstPoint = Signal(float)  # seconds from Train click to the first plotted point

    def __init__(self, doc: DocumentController, bridge: RunnerBridge, prompts: Prompts, runs_root: Path,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.doc, self.bridge, self.prompts = doc, bridge, prompts
        self.runs_root = Path(runs_root)
        self.run_dir: str | None = None
        self.last_run_dir: str | None = None
        self.devices: dict[str, Any] = {"cpu": True, "cuda": None, "mps": None}
        self.total_epochs = 0
        self._click_t: float | None = None
        self.last_error: Error | None = None
        self.last_finished: Finished | None = None
        self._pending_samples: list[Samples] = []
        self.plot_log = PlotLog()  # what the plots show, kept in the run dir (see app/run_history.py)
        self.sample_log = SampleLog()  # the grids the trainer does not write itself (predictions, ...)
        self._resuming: str | None = None  # run dir of a resume whose Started has not come yet
        self._resumed_at: int | None = None  # the checkpoint's global step, once Started said it
        self._build()
        self._wire()
        self.set_devices({"cpu": True, "cuda": False, "mps": False})  # until the probe reports
        self.sync_from_document()

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.train_btn = QPushButton("Train")
        self.train_btn.setToolTip("Start training (F5)")
        self.pause_btn = QPushButton("Pause")
        self.pause_btn.setToolTip("Pause or resume (F6)")
        self.stop_btn = QPushButton("Stop")
        self.stop_btn.setToolTip("Stop training and keep the last checkpoint (Shift+F5)")
        self.resume_ckpt_btn = QPushButton("Resume from checkpoint…")
        self.resume_ckpt_btn.setToolTip("Continue a run exactly where a checkpoint left it")
        for b in (self.train_btn, self.pause_btn, self.stop_btn, self.resume_ckpt_btn):
            b.setMinimumHeight(30)
        self.train_btn.setDefault(True)
        f = self.train_btn.font()
        f.setBold(True)
        self.train_btn.setFont(f)

        self.device_box = QComboBox()
        self.device_model = QStandardItemModel(self.device_box)
        for d in DEVICES:
            it = QStandardItem(d)
            it.setData(d, Qt.ItemDataRole.UserRole)
            self.device_model.appendRow(it)
        self.device_box.setModel(self.device_model)
        # one NumberField per number, its limits read from the document's own validation
        self.epochs_field = NumberField(limits_for(Project, "train.epochs"))
        self.batch_field = NumberField(limits_for(Project, "data.batch_size"))
        self.lr_field = NumberField(limits_for(Project, "train.optimizer.lr"))
        self.lr_d_field = NumberField(limits_for(Project, "train.gan.d_optimizer.lr"))  # GAN: D's own rate
        for w, name in ((self.epochs_field, "epochs"), (self.batch_field, "batch_size"), (self.lr_field, "lr"),
                        (self.lr_d_field, "lr_d")):
            w.setObjectName(f"field_{name}")
            w.setMinimumWidth(96)
        self.epochs_field.setHelp("Epochs: how many times training goes through the whole training set.")
        self.batch_field.setHelp("Batch size: how many samples the model sees per optimizer step.")
        self.lr_field.setHelp("Learning rate: how big a step the optimizer takes. Typical: 1e-3 for Adam, "
                              "0.01-0.1 for SGD; too big and the loss jumps or becomes NaN.")
        self.lr_d_field.setHelp("The discriminator's learning rate (GAN).")

        settings_box = QGroupBox("Training settings")
        form = QFormLayout(settings_box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Device", self.device_box)
        form.addRow("Epochs", self.epochs_field)
        form.addRow("Batch size", self.batch_field)
        form.addRow("Learning rate", self.lr_field)
        form.addRow("D learning rate", self.lr_d_field)
        self.settings_form = form

        run_box = QGroupBox("Run")
        rl = QVBoxLayout(run_box)
        row1 = QHBoxLayout()
        row1.addWidget(self.train_btn)
        row1.addWidget(self.pause_btn)
        row1.addWidget(self.stop_btn)
        rl.addLayout(row1)
        rl.addWidget(self.resume_ckpt_btn)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Ready")
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setMinimumHeight(24)
        self.status_label = QLabel("Not started")
        self.status_label.setWordWrap(True)
        rl.addWidget(self.progress_bar)
        rl.addWidget(self.status_label)

        self.log_panel = LogPanel()
        self.ckpt_list = QListWidget()
        self.ckpt_list.setToolTip("Double-click a checkpoint to resume training from it")
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.addTab(self.log_panel, "Log")
        self.bottom_tabs.addTab(self.ckpt_list, "Checkpoints")

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(run_box)
        ll.addWidget(settings_box)
        ll.addWidget(self.bottom_tabs, 1)
        left.setMinimumWidth(270)
        left.setMinimumHeight(560)

        self.plots = TrainingPlots()
        self.plots.setMinimumHeight(300)
        self.samples_view = SampleGrid()
        self.samples_view.setMinimumHeight(240)
        # wide: plots and samples side by side in a splitter; narrow (a laptop's 1024 px): two tabs, so
        # neither is squeezed below a readable size nor drawn over the other
        self.right_split = QSplitter(Qt.Orientation.Horizontal)
        self.right_split.setObjectName("trainRightSplitter")
        self.right_split.setChildrenCollapsible(False)
        self.right_split.addWidget(self.plots)
        self.right_split.addWidget(self.samples_view)
        self.right_split.setStretchFactor(0, 3)
        self.right_split.setStretchFactor(1, 2)
        self.right_split.setSizes([640, 420])
        self.right_tabs = QTabWidget()
        self.right_tabs.setObjectName("trainRightTabs")
        self.right_tabs.setDocumentMode(True)
        self.right = QStackedWidget()
        self.right.addWidget(self.right_split)
        self.right.addWidget(self.right_tabs)
        # start narrow: the window's minimum size is then the narrow layout's, so 1024 px always fits;
        # the first resize to a wide window puts plots and samples side by side
        self.compact = False
        self.set_compact(True)
        right = self.right

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("trainSplitter")
        self.left_scroll = QScrollArea()  # a short window scrolls the controls instead of overlapping them
        self.left_scroll.setWidget(left)
        self.left_scroll.setWidgetResizable(True)
        self.left_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.left_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.left_scroll.setMinimumWidth(left.minimumWidth() + 14)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.left_scroll)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([300, 1070])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.splitter)
        self._set_running(False)

    COMPACT_BELOW = 1000  # px of Train view width: below it, plots and samples become tabs

    def set_compact(self, on: bool) -> None:
        """Switch between side by side (wide windows) and tabs (narrow ones); keeps every widget alive."""
        if on == self.compact:
            return
        self.compact = on
        # wide mode's minimums stay small: the window's minimum must never exceed the width at which
        # the layout turns compact, or a wide window could not be made narrow again
        self.plots.setMinimumWidth(360 if on else 200)
        self.samples_view.setMinimumWidth(240 if on else 180)
        if on:
            self.right_tabs.addTab(self.plots, "Plots")
            self.right_tabs.addTab(self.samples_view, "Samples")
            self.right.setCurrentWidget(self.right_tabs)
        else:
            self.right_split.addWidget(self.plots)
            self.right_split.addWidget(self.samples_view)
            self.plots.show()  # a tab widget hid the page that was not current
            self.samples_view.show()
            self.right_split.setSizes([640, 420])
            self.right.setCurrentWidget(self.right_split)
        self.plots.set_compact(on)

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(ev)
        self.set_compact(self.width() < self.COMPACT_BELOW)

    def _wire(self) -> None:
        self.train_btn.clicked.connect(lambda: self.start())
        self.pause_btn.clicked.connect(self.toggle_pause)
        self.stop_btn.clicked.connect(self.stop)
        self.resume_ckpt_btn.clicked.connect(self.resume_from_checkpoint_dialog)
        self.ckpt_list.itemDoubleClicked.connect(self._ckpt_double_clicked)
        self.samples_view.exportRequested.connect(self._export_gif)
        self.epochs_field.committed.connect(lambda v: self._edit("train.epochs", v, self.epochs_field))
        self.batch_field.committed.connect(lambda v: self._edit("data.batch_size", v, self.batch_field))
        self.lr_field.committed.connect(lambda v: self._edit(self._lr_path(), v, self.lr_field))
        self.lr_d_field.committed.connect(lambda v: self._edit("train.gan.d_optimizer.lr", v, self.lr_d_field))
        self.device_box.currentIndexChanged.connect(
            lambda _i: self._edit("train.device", self.device_box.currentData(Qt.ItemDataRole.UserRole))
        )
        self.doc.fieldChanged.connect(self._field_changed)
        self.doc.replaced.connect(self._document_replaced)
        b = self.bridge
        b.started.connect(self._on_started)
        b.progress.connect(self._on_progress)
        b.epochEnd.connect(self._on_epoch)
        b.samples.connect(self._on_samples)
        b.log.connect(self._on_log)
        b.checkpoint.connect(self._on_checkpoint)
        b.diagnostic.connect(self._on_diagnostic)
        b.error.connect(self._on_error)
        b.paused.connect(lambda _e: self._paused_changed(True))
        b.resumed.connect(lambda _e: self._paused_changed(False))
        b.finished.connect(self._on_finished)

    # -- document <-> fields ---------------------------------------------------------------
    def _is_gan(self) -> bool:
        p = self.doc.project
        return p is not None and p.train.task == "gan" and p.train.gan is not None

    def _lr_path(self) -> str:
        """The learning rate the main LR field edits: the optimizer's, or the generator's for a GAN."""
        return "train.gan.g_optimizer.lr" if self._is_gan() else "train.optimizer.lr"

    def _edit(self, path: str, value: Any, field: NumberField | None = None) -> None:
        if self._syncing or self.doc.project is None or value is None:
            return
        try:
            self.doc.set_field(path, value)
        except ValueError as exc:  # the document refuses: say so at the field, keep what was typed
            if field is not None:
                field.show_error(str(exc).split(": ", 1)[-1])
            else:
                self.log_panel.add(str(exc), "error")

    _syncing = False

    def _field_changed(self, path: str) -> None:
        """Only the changed field is rewritten: text the user is typing elsewhere stays as typed."""
        p = self.doc.project
        fields = {"train.epochs": self.epochs_field, "data.batch_size": self.batch_field,
                  "train.gan.d_optimizer.lr": self.lr_d_field}
        if p is not None and path == self._lr_path():
            fields[path] = self.lr_field
        if p is not None and path in fields:
            self._syncing = True
            try:
                fields[path].setValue(self.doc.get(path))
            finally:
                self._syncing = False
            return
        self.sync_from_document()

    def sync_from_document(self) -> None:
        p = self.doc.project
        self._syncing = True
        try:
            has = p is not None
            if has:
                self.epochs_field.setValue(p.train.epochs)
                self.batch_field.setValue(p.data.batch_size)
                gan = self._is_gan()
                self.lr_field.set_limits(limits_for(Project, self._lr_path()))
                self.lr_field.setValue(p.train.gan.g_optimizer.lr if gan else p.train.optimizer.lr)
                self.settings_form.setRowVisible(self.lr_d_field, gan)
                self.settings_form.labelForField(self.lr_field).setText("G learning rate" if gan else "Learning rate")
                if gan:
                    self.lr_d_field.setValue(p.train.gan.d_optimizer.lr)
                dev = p.train.device
                i = self.device_box.findData(dev, Qt.ItemDataRole.UserRole)
                if i < 0:
                    it = QStandardItem(dev)
                    it.setData(dev, Qt.ItemDataRole.UserRole)
                    self.device_model.appendRow(it)
                    i = self.device_box.count() - 1
                    self.set_devices(self.devices)
                self.device_box.setCurrentIndex(i)
        finally:
            self._syncing = False
        self._set_running(self.bridge.running)

    def _document_replaced(self) -> None:
        self.sync_from_document()
        if not self.bridge.running:
            self.reset_display()
            self.last_run_dir = None  # another document: its runs are found by the window

    def set_devices(self, found: dict[str, Any]) -> None:
        """Enable only the devices this machine has (from :class:`DeviceProbe`)."""
        self.devices = found
        for row in range(self.device_model.rowCount()):
            it = self.device_model.item(row)
            d = str(it.data(Qt.ItemDataRole.UserRole))
            base = d.split(":")[0]
            ok = base in ("auto", "cpu") or bool(found.get(base))
            if base == "cuda" and ":" in d:
                ok = ok and int(d.split(":")[1]) < int(found.get("cuda_count", 0))
            it.setEnabled(ok)
            it.setToolTip("" if ok else f"{d} is not available on this machine")

    # -- run control -----------------------------------------------------------------------
    def _set_running(self, running: bool) -> None:
        has = self.doc.project is not None
        for w in (self.device_box, self.epochs_field, self.batch_field, self.lr_field, self.lr_d_field):
            w.setEnabled(has and not running)
        self.train_btn.setEnabled(has and not running)
        self.resume_ckpt_btn.setEnabled(has and not running)
        self.pause_btn.setEnabled(running)
        self.stop_btn.setEnabled(running)
        if not running:
            self.pause_btn.setText("Pause")

    def new_run_dir(self) -> Path:
        p = self.doc.project
        stem = self.doc.path.stem if self.doc.path else (p.name if p else "run")
        safe = safe_stem(stem)
        root = self.doc.path.parent / "runs" if self.doc.path else self.runs_root
        base = root / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}"
        d, k = base, 1
        while d.exists():
            k += 1
            d = base.with_name(f"{base.name}-{k}")
        d.mkdir(parents=True)
        return d

    def start(self, resume: str | None = None, *, max_steps: int | None = None, data_limit: int | None = None,
              run_dir: str | None = None) -> bool:
        """Start (or resume) training on a copy of the document. ``max_steps``/``data_limit`` are
        one-off overrides (benchmarks, screenshots, tests) that do not edit the document."""
        if self.doc.project is None or self.bridge.running:
            return False
        project = self.doc.project.copy_deep()
        if max_steps is not None:
            project.train.max_steps = int(max_steps)
        if data_limit is not None:
            project.data.limit = int(data_limit)
        problems = self._check(project)
        if problems:
            for msg in problems:
                self.log_panel.add(msg, "error")
            self.prompts.error("The model has errors", "Training cannot start:\n\n" + "\n".join(problems[:10]))
            return False
        if run_dir is None:
            ckdir = Path(resume).parent if resume else None
            run_dir = str(ckdir.parent) if ckdir is not None and ckdir.name == "checkpoints" else str(self.new_run_dir())
        self.reset_display(keep_checkpoints=resume is not None)
        self.plot_log.close()
        self.sample_log.close()
        self._resumed_at = None
        self._resuming = run_dir if resume else None
        if resume:  # the earlier curve at once; cut at the checkpoint's step when Started says it
            self.replay(read_plot_log(run_dir))
        self._click_t = time.perf_counter()
        self.progress_bar.setFormat("Starting…")
        self.status_label.setText("Preparing data and model…")
        self.log_panel.add(f"{'Resuming from ' + resume if resume else 'Training'} → {run_dir}")
        try:
            self.bridge.start(project, run_dir, resume=resume)
        except Exception as exc:  # noqa: BLE001 - a runner that cannot start: tell, don't crash
            self.log_panel.add(f"Could not start training: {exc}", "error")
            self.prompts.error("Could not start training", str(exc))
            self._set_running(False)
            return False
        self.run_dir = self.last_run_dir = run_dir
        if not resume:
            self.plot_log.open(run_dir)
            self.sample_log.open(run_dir)
        if self.doc.path is not None:
            remember_run(self.doc.path, run_dir)
        self._set_running(True)
        self.runStarted.emit(run_dir)
        return True

    @staticmethod
    def _check(project) -> list[str]:
        """The problems that stop training, from the one analysis (graph rules and the model against
        its data), each with its graph path and node."""
        try:
            from engine.graph import analyze_project, problems_of

            return [f"{e.graph}: {e}" for e in problems_of(analyze_project(project))]
        except Exception as exc:  # noqa: BLE001 - an analysis that cannot run: let the runner report
            return [] if isinstance(exc, ImportError) else [str(exc)]

    def toggle_pause(self) -> None:
        if not self.bridge.running:
            return
        if self.bridge.paused_now:
            self.bridge.resume()
        else:
            self.bridge.pause()
        self.pause_btn.setEnabled(False)  # until the runner confirms

    def stop(self) -> None:
        if self.bridge.running:
            self.bridge.stop()
            self.stop_btn.setEnabled(False)
            self.status_label.setText("Stopping…")

    def resume_from_checkpoint_dialog(self) -> None:
        start = ""
        if self.last_run_dir:
            start = str(Path(self.last_run_dir) / "checkpoints")
        elif self.doc.path:
            start = str(self.doc.path.parent / "runs")
        path = self.prompts.checkpoint_path(start)
        if path:
            self.start(resume=path)

    def _ckpt_double_clicked(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path and not self.bridge.running:
            self.start(resume=path)

    def _export_gif(self, kind: str) -> None:
        frames = self.samples_view.frames(kind)
        if not frames:
            return
        start = str(Path(self.last_run_dir or self.runs_root) / f"{kind or 'samples'}.gif")
        path = self.prompts.gif_path(start)
        if not path:
            return
        try:
            out = self.samples_view.export_gif(path, kind)
            self.log_panel.add(f"Exported {len(frames)} frames to {out}")
        except Exception as exc:  # noqa: BLE001
            self.prompts.error("Export failed", f"Could not write the GIF: {exc}")

    def replay(self, points: list[Point], with_steps: bool = True) -> None:
        """Draw a run's earlier points (from :mod:`app.run_history`), in their order.
        ``with_steps=False``: only per-epoch losses (their step is unknown)."""
        batch: list[Progress] = []
        for p in points:
            if p.kind == "p":
                batch.append(Progress(epoch=p.epoch, step=0, global_step=p.step, total_steps=0, lr=p.lr,
                                      samples_per_sec=0.0, eta_s=math.nan, metrics=p.metrics))
                continue
            if batch:
                self.plots.add_progress(batch)
                batch = []
            m = p.metrics if with_steps else {k: v for k, v in p.metrics.items() if k == "loss" or k.endswith("_loss")}
            self.plots.add_epoch(EpochEnd(epoch=p.epoch, global_step=p.step, lr=p.lr, wall_s=0.0, metrics=m))
        if batch:
            self.plots.add_progress(batch)
        self.plots.refresh()

    def load_samples(self, run_dir: str | Path, max_step: int | None = None) -> int:
        """Put a run's sample timeline (up to ``max_step``) back on the slider: the GAN/VAE frames the
        trainer wrote (``samples/``) and the grids the studio logged (predictions, reconstructions)."""
        p = self.doc.project
        kind = SAMPLE_KIND.get(p.train.task) if p is not None else None
        cap = self.samples_view.timeline.max_frames
        found: list[Samples] = []
        if kind is not None:
            for epoch, step, path in sample_frames(run_dir, max_step)[-cap:]:
                img = _read_png(path)
                if img is not None:
                    found.append(Samples(kind=kind, epoch=epoch, global_step=step, image=img, path=str(path)))
        found += read_sample_log(run_dir, max_step)
        found.sort(key=lambda s: s.global_step)
        newest = {ev.kind: i for i, ev in enumerate(found)}
        for i, ev in enumerate(found):
            self.samples_view.add_samples(ev, show=newest[ev.kind] == i)
        return len(found)

    def show_past_run(self, run_dir: str | Path) -> bool:
        """Show a finished/stopped run of this project (after opening it): its curves, its checkpoints,
        and make it where "Resume from checkpoint…" looks first. False if it has no checkpoints."""
        if self.bridge.running:
            return False
        ckpts = checkpoints_of(run_dir)
        if not ckpts:
            return False
        self.reset_display()
        self.last_run_dir = str(run_dir)
        for path in ckpts:
            self._add_checkpoint_row(str(path), read_checkpoint_label(path))
        pts = read_plot_log(run_dir)
        if pts:
            self.replay(pts)
        else:
            self.replay(read_history_points(run_dir), with_steps=False)
        self.load_samples(run_dir)
        last = max((p.step for p in pts), default=0)
        where = f" at step {last:,}" if last else ""
        self.progress_bar.setFormat(f"Last run{where}")
        self.status_label.setText(f"Last run: {Path(run_dir).name}{where}. Resume from checkpoint… (or double-click "
                                  "one in Checkpoints) continues it; Train starts a new run.")
        self.log_panel.add(f"Last run of this project: {run_dir} ({len(ckpts)} checkpoint(s))")
        return True

    def reset_display(self, keep_checkpoints: bool = False) -> None:
        self._pending_samples = []
        p = self.doc.project
        self.plots.reset(p.train.task if p is not None else None)  # this project's curves and legends only
        self.samples_view.clear()
        if not keep_checkpoints:
            self.ckpt_list.clear()
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Ready")
        self.status_label.setText("Not started")
        self.last_error = None

    # -- events ----------------------------------------------------------------------------
    def _on_started(self, ev: Started) -> None:
        self.total_epochs = ev.epochs
        if self._resuming is not None and self.run_dir == self._resuming:
            run_dir, self._resuming = self._resuming, None
            self._resumed_at = ev.start_step
            pts = cut_plot_log(run_dir, ev.start_step)
            if not pts:  # a run without a studio plot log (CLI): its per-epoch history
                pts = [p for p in read_history_points(run_dir, ev.steps_per_epoch) if p.epoch < ev.start_epoch]
            self.plots.clear()
            self.replay(pts)
            self.plot_log.open(run_dir)
            cut_sample_log(run_dir, ev.start_step)
            self.sample_log.open(run_dir)
            self.samples_view.clear()
            self.load_samples(run_dir, ev.start_step)
        what = f"Started {ev.trainer} training on {ev.device}: {ev.epochs} epochs × {ev.steps_per_epoch} steps"
        if ev.total_params:
            what += f", {ev.total_params:,} parameters"
        if ev.start_step:
            what += f" (resumed at step {ev.start_step:,})"
        self.log_panel.add(what)
        self.status_label.setText(f"Training on {ev.device}")
        self.progress_bar.setFormat(f"Epoch {ev.start_epoch + 1}/{ev.epochs}")

    def _on_progress(self, events: list[Progress]) -> None:
        self.plot_log.progress(events)
        self.plots.add_progress(events)
        self.plots.refresh(stagger=True)
        last = events[-1]
        if self._click_t is not None and self.plots.points:
            self.firstPoint.emit(time.perf_counter() - self._click_t)
            self._click_t = None
        frac = last.global_step / last.total_steps if last.total_steps else 0.0
        self.progress_bar.setValue(int(1000 * min(1.0, frac)))
        epochs = self.total_epochs or "?"
        self.progress_bar.setFormat(
            f"Epoch {last.epoch + 1}/{epochs} · step {last.global_step:,}/{last.total_steps:,} · "
            f"ETA {fmt_duration(last.eta_s)}"
        )
        losses = [f"{k} {v:.4f}" for k, v in last.metrics.items() if (k == "loss" or k.endswith("_loss"))
                  and math.isfinite(v)][:2]  # a GAN has two: "d_loss 0.69 · g_loss 2.1"
        parts = [*losses, f"lr {last.lr:.2e}", f"{last.samples_per_sec:,.0f} samples/s"]
        self.status_label.setText("Training · " + " · ".join(parts))

    def _on_epoch(self, ev: EpochEnd) -> None:
        self.plot_log.epoch(ev)
        self.plots.add_epoch(ev)
        self.plots.refresh(stagger=True)
        shown = ", ".join(f"{k} {v:.4g}" for k, v in ev.metrics.items())
        self.log_panel.add(f"Epoch {ev.epoch + 1} done in {ev.wall_s:.1f} s: {shown}")

    def _on_samples(self, events: list[Samples]) -> None:
        # drawn ~20 ms later, between bridge ticks: an epoch's end (plots, log, checkpoint) and its
        # sample grid then land in different frames instead of one long one
        if not self._pending_samples:
            QTimer.singleShot(SAMPLES_DELAY_MS, self.drain_samples)
        self._pending_samples.extend(events)

    def drain_samples(self) -> None:
        events, self._pending_samples = self._pending_samples, []
        for ev in events:
            self.sample_log.add(ev)
        newest = {ev.kind: i for i, ev in enumerate(events)}
        for i, ev in enumerate(events):  # all join the timeline; only the newest per kind is drawn
            self.samples_view.add_samples(ev, show=newest[ev.kind] == i)

    def _on_log(self, ev: Log) -> None:
        self.log_panel.add(ev.message, ev.level, ev.t)

    def _on_checkpoint(self, ev: CheckpointSaved) -> None:
        self._add_checkpoint_row(ev.path, checkpoint_label(ev.kind, ev.epoch, ev.global_step, Path(ev.path).name))

    def _checkpoint_row(self, path: str) -> QListWidgetItem | None:
        for i in range(self.ckpt_list.count()):
            if self.ckpt_list.item(i).data(Qt.ItemDataRole.UserRole) == path:
                return self.ckpt_list.item(i)
        return None

    def _add_checkpoint_row(self, path: str, text: str) -> None:
        """One row per file ("last"/"best" are rewritten in place), labelled with what the file holds."""
        item = self._checkpoint_row(path)
        if item is None:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, path)
            self.ckpt_list.addItem(item)
        item.setText(text)
        item.setToolTip(f"{text.split('  ')[0].strip()} checkpoint: {path}\nDouble-click to resume training from it")

    def _on_diagnostic(self, ev: Diagnostic) -> None:
        level = ev.severity if ev.severity in ("info", "warning", "error") else "warning"
        self.log_panel.add(f"{ev.message} — {ev.suggestion}" if ev.suggestion else ev.message, level, ev.t)

    def _on_error(self, ev: Error) -> None:
        self.last_error = ev
        self.log_panel.add(ev.message, "error", ev.t)
        self.bottom_tabs.setCurrentWidget(self.log_panel)
        self.prompts.error("Training error", ev.message, ev.details)

    def _paused_changed(self, paused: bool) -> None:
        self.pause_btn.setText("Resume" if paused else "Pause")
        self.pause_btn.setEnabled(True)
        self.status_label.setText("Paused" if paused else "Training")
        self.log_panel.add("Paused" if paused else "Resumed")

    def _on_finished(self, ev: Finished) -> None:
        self.last_finished = ev
        self.plots.refresh()  # draw whatever the staggered refresh still owed
        self.drain_samples()
        self.run_dir = None
        self._set_running(False)
        words = {"completed": "Finished", "stopped": "Stopped", "early_stopped": "Stopped early",
                 "failed": "Failed"}.get(ev.status, ev.status)
        if ev.status == "completed":
            self.progress_bar.setValue(1000)
        self.plot_log.close()
        self.sample_log.close()
        speed = ev.final.get("train_steps_per_s")
        final = ", ".join(f"{k} {v:.4g}" for k, v in ev.final.items() if not k.startswith("train_steps_per"))
        if speed:
            final += (", " if final else "") + f"{speed:.1f} steps/s"
        took = fmt_duration(ev.wall_s)
        run_s = run_time_of(ev)
        if self._resumed_at and run_s > ev.wall_s + 0.5:  # a resumed run: its whole time, and this session's
            took = f"{fmt_duration(run_s)} in all ({fmt_duration(ev.wall_s)} since resuming at step {self._resumed_at:,})"
        msg = f"{words} after {ev.epochs_run} epochs, {ev.global_step:,} steps, {took}"
        self.progress_bar.setFormat(f"{words} · step {ev.global_step:,} · {fmt_duration(max(run_s, ev.wall_s))}")
        self.status_label.setText(msg + (f" — {final}" if final else ""))
        if (ev.status == "completed" and self._resumed_at is not None and ev.global_step == self._resumed_at
                and self.doc.project is not None):
            msg = (f"Nothing left to train: the checkpoint has done all {self.total_epochs or '?'} epochs. "
                   "Raise Epochs, then resume from it again to continue.")
            self.status_label.setText(msg)
            self.progress_bar.setFormat(f"Nothing to do · step {ev.global_step:,}")
        self._resumed_at = None
        self.log_panel.add(msg + (f": {final}" if final else ""), "error" if ev.status == "failed" else "info")
        for _kind, path in ev.checkpoints.items():
            if self._checkpoint_row(path) is None:  # not announced by this session (e.g. an earlier run's best)
                self._add_checkpoint_row(path, read_checkpoint_label(path))
        self.runFinished.emit(ev)
