"""The "Compress & Export" tab: prune, quantize, distill and export the current run, compare the variants.

Every button starts a job from ``engine.compress.jobs`` on its own runner (a spawned child by
default, so the window never waits), with a progress bar and Cancel. Each finished job adds its
variants to the comparison table; the plot shows validation accuracy against size on disk or batch-64
latency with the Pareto front (nothing both smaller/faster and more accurate) highlighted. Any row
can be saved (its files copied) or exported (a run folder in the chosen format).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any, Protocol

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.train.events import Error, Finished, JobProgress, JobResult, Log, Progress, Started

from .bridge import RunnerBridge

log = logging.getLogger("layerlab.studio.compress")

COLUMNS = ("variant", "runtime", "dtype", "params", "non-zero", "size KiB", "b1 ms", "b64 ms", "b64 vs float",
           "val acc", "val loss", "agreement")
EXPORT_FILTERS = {"onnx": "ONNX (*.onnx)", "safetensors": "safetensors (*.safetensors)", "state-dict": "PyTorch (*.pt)",
                  "pt2": "torch.export (*.pt2)", "python": "Python (*.py)"}


class PathPrompts(Protocol):
    def save_path(self, title: str, start: str, filter: str) -> str | None: ...

    def open_path(self, title: str, start: str, filter: str) -> str | None: ...

    def error(self, title: str, message: str, details: str = "") -> None: ...


class DialogPrompts:
    """The real dialogs (tests pass a scripted object with the same three methods)."""

    def __init__(self, parent: QWidget | None, errors: Any = None):
        self.parent = parent
        self._errors = errors

    def save_path(self, title: str, start: str, filter: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self.parent, title, start, filter)
        return path or None

    def open_path(self, title: str, start: str, filter: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self.parent, title, start, filter)
        return path or None

    def error(self, title: str, message: str, details: str = "") -> None:
        if self._errors is not None:
            self._errors.error(title, message, details)


class JobBridge(RunnerBridge):
    """The runner bridge plus jobs: ``start_job`` and the JobProgress / JobResult events."""

    jobProgress = Signal(object)  # JobProgress (the newest of a tick)
    jobResult = Signal(object)  # JobResult

    def start_job(self, job: Any) -> None:
        self._launch(lambda r: r.start_job(job), "a job is already running; cancel it first")

    def dispatch(self, events: list[Any]) -> None:
        rest, last = [], None
        for ev in events:
            if isinstance(ev, JobProgress):
                last = ev
            elif isinstance(ev, JobResult):
                if last is not None:
                    self.jobProgress.emit(last)
                    last = None
                self.jobResult.emit(ev)
            else:
                rest.append(ev)
        if last is not None:
            self.jobProgress.emit(last)
        super().dispatch(rest)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated by another (smaller-or-equal cost and higher-or-equal accuracy,
    strictly better in one), sorted by cost."""
    idx = []
    for i, (c, a) in enumerate(points):
        dominated = any((c2 <= c and a2 >= a) and (c2 < c or a2 > a) for j, (c2, a2) in enumerate(points) if j != i)
        if not dominated:
            idx.append(i)
    return sorted(idx, key=lambda i: points[i][0])


def _fmt(row: dict[str, Any]) -> list[str]:
    def pct(v: Any) -> str:
        return "–" if v is None else f"{v:.2%}"

    ratio = row.get("latency_ratio_b64")
    return [row["name"], row.get("runtime", ""), row.get("dtype", ""), f"{row['params']:,}", f"{row['nonzero_params']:,}",
            f"{row['size_bytes'] / 1024:,.1f}", f"{row['latency_ms_b1']:.3f}", f"{row['latency_ms_b64']:.2f}",
            "–" if ratio is None else f"{ratio:.2f}×", pct(row.get("val_accuracy")),
            "–" if row.get("val_loss") is None else f"{row['val_loss']:.4f}", pct(row.get("agreement"))]


class CompressView(QWidget):
    """The tab. ``current_run`` is the app's CurrentRun; ``bridge`` a JobBridge (injectable)."""

    variantsChanged = Signal()
    jobFinished = Signal(object)  # Finished

    def __init__(self, current_run: Any, prompts: PathPrompts | None = None, bridge: JobBridge | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.current_run = current_run
        self.prompts = prompts or DialogPrompts(self)
        self.bridge = bridge or JobBridge(self)
        if self.bridge.parent() is None:
            self.bridge.setParent(self)
        self.rows: list[dict[str, Any]] = []
        self.last_result: dict[str, Any] | None = None
        self.last_error: Error | None = None
        self._job_kind = ""
        self._last_step, self._step_offset = 0, 0
        self._build()
        self._wire()
        self._run_changed(current_run.run_dir)

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.run_label = QLabel()
        self.run_label.setWordWrap(True)
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        prune = QGroupBox("Prune")
        f = QFormLayout(prune)
        self.prune_method = QComboBox()
        self.prune_method.addItem("global L1 (unstructured)", "global")
        self.prune_method.addItem("per-layer L1 (unstructured)", "l1")
        self.prune_method.addItem("structured (remove channels)", "structured")
        self.prune_amount = QDoubleSpinBox(decimals=2, minimum=0.05, maximum=0.95, singleStep=0.05, value=0.5)
        self.prune_rounds = QSpinBox(minimum=1, maximum=10, value=1)
        self.prune_epochs = QSpinBox(minimum=0, maximum=100, value=1)
        self.prune_btn = QPushButton("Prune")
        f.addRow("method", self.prune_method)
        f.addRow("amount", self.prune_amount)
        f.addRow("rounds", self.prune_rounds)
        self.prune_epochs.setToolTip("fine-tuning epochs after each pruning round (0: none)")
        f.addRow("fine-tune epochs", self.prune_epochs)
        f.addRow(self.prune_btn)

        quant = QGroupBox("Quantize")
        f = QFormLayout(quant)
        self.quant_method = QComboBox()
        self.quant_method.addItem("static int8 (ONNX Runtime, calibrated)", "static-int8")
        self.quant_method.addItem("dynamic int8 (ONNX Runtime)", "dynamic-int8")
        self.quant_method.addItem("fp16 weights (storage on CPU)", "fp16")
        self.quant_method.addItem("bf16 weights", "bf16")
        self.quant_btn = QPushButton("Quantize")
        f.addRow("method", self.quant_method)
        f.addRow(self.quant_btn)

        distill = QGroupBox("Distill")
        f = QFormLayout(distill)
        self.student = QComboBox()
        from engine.templates import list_templates

        for t in list_templates():
            if t.task == "classification":
                self.student.addItem(f"template: {t.name}", f"template:{t.name}")
        self.student.addItem("project file…", "file")
        self.distill_epochs = QSpinBox(minimum=1, maximum=200, value=3)
        self.temperature = QDoubleSpinBox(decimals=1, minimum=0.5, maximum=20.0, singleStep=0.5, value=4.0)
        self.alpha = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=1.0, singleStep=0.05, value=0.7)
        self.distill_augment = QComboBox()
        self.distill_augment.addItem("as the teacher's", "teacher")
        self.distill_augment.addItem("also shifted / scaled / rotated", "shift")
        self.distill_augment.setToolTip(
            "The student's training images. Shifted copies are images the teacher never saw, so its soft "
            "targets say more than the labels; the from-scratch baseline gets the same images.")
        self.distill_baseline = QCheckBox("also train it from scratch, to compare")
        self.distill_baseline.setToolTip("Trains the same student on the labels alone for the same epochs: "
                                         "both rows land in the table, so you see what distillation added")
        self.temperature.setToolTip("Softens the teacher's probabilities: higher shows more of what it "
                                    "thinks about the wrong classes (4 is the usual choice)")
        self.alpha.setToolTip("Weight of the teacher's soft targets against the true labels (0 = labels only)")
        self.distill_btn = QPushButton("Distill")
        f.addRow("student", self.student)
        f.addRow("epochs", self.distill_epochs)
        f.addRow("temperature", self.temperature)
        f.addRow("alpha (soft targets)", self.alpha)
        f.addRow("images", self.distill_augment)
        f.addRow(self.distill_baseline)
        f.addRow(self.distill_btn)

        export = QGroupBox("Export")
        f = QFormLayout(export)
        self.export_format = QComboBox()
        from engine.export import available_formats

        for fmt in available_formats():
            self.export_format.addItem(fmt, fmt)
        self.export_btn = QPushButton("Export…")
        self.export_btn.setToolTip("Write the current run in this format, verified, with a model card beside it")
        f.addRow("format", self.export_format)
        f.addRow(self.export_btn)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.cancel_btn = QPushButton("Cancel")
        self.status = QLabel()
        self.status.setWordWrap(True)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.save_row_btn = QPushButton("Save row…")
        self.save_row_btn.setToolTip("Copy the selected variant's files (a run folder or an .onnx/.pt file)")
        self.export_row_btn = QPushButton("Export row…")
        self.export_row_btn.setToolTip("Export the selected variant in the format chosen under Export")
        self.add_btn = QPushButton("Add variant…")
        self.add_btn.setToolTip("Measure a variant made elsewhere (e.g. by `layerlab quantize`): an .onnx file, "
                                "fp16/bf16 weights, or a run folder's model.pt")

        self.axis = QComboBox()
        self.axis.addItem("size on disk (KiB)", "size")
        self.axis.addItem("latency, batch 64 (ms)", "latency")
        self.plot = pg.PlotWidget()
        self.plot.setLabel("left", "validation accuracy (%)")
        for ax in ("left", "bottom"):
            self.plot.getAxis(ax).enableAutoSIPrefix(False)  # 98.4 %, not "984 (x0.001)"
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.getViewBox().setDefaultPadding(0.12)  # room for the names beside the points
        self.scatter = pg.ScatterPlotItem(size=10, brush=pg.mkBrush(90, 140, 220, 200), pen=pg.mkPen(None))
        self.front_curve = pg.PlotDataItem(pen=pg.mkPen(QColor(220, 70, 60), width=2), symbol="o", symbolSize=12,
                                           symbolBrush=pg.mkBrush(220, 70, 60, 220), symbolPen=None)
        self.plot.addItem(self.front_curve)
        self.plot.addItem(self.scatter)
        self.labels: list[pg.TextItem] = []
        # fine-tuning and distillation train through the loop: their loss, live
        self.train_plot = pg.PlotWidget()
        self.train_plot.setLabel("left", "training loss")
        self.train_plot.setLabel("bottom", "step")
        self.train_plot.showGrid(x=True, y=True, alpha=0.3)
        self.train_curve = self.train_plot.plot(pen=pg.mkPen(QColor(90, 160, 230), width=2))
        self.train_x: list[float] = []
        self.train_y: list[float] = []

        for combo in (self.prune_method, self.quant_method, self.student, self.export_format, self.axis):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.run_label)
        for box in (prune, quant, distill, export):
            lv.addWidget(box)
        lv.addStretch(1)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.cancel_btn)
        rv.addLayout(bar)
        rv.addWidget(self.status)
        split = QSplitter(Qt.Orientation.Vertical)
        tw = QWidget()
        tv = QVBoxLayout(tw)
        tv.setContentsMargins(0, 0, 0, 0)
        tv.addWidget(self.table)
        rb = QHBoxLayout()
        rb.addWidget(self.save_row_btn)
        rb.addWidget(self.export_row_btn)
        rb.addStretch(1)
        rb.addWidget(self.add_btn)
        tv.addLayout(rb)
        pw = QWidget()
        pv = QVBoxLayout(pw)
        pv.setContentsMargins(0, 0, 0, 0)
        ab = QHBoxLayout()
        ab.addWidget(QLabel("accuracy against"))
        ab.addWidget(self.axis)
        ab.addStretch(1)
        self.plot.setTitle("red: the Pareto front", size="9pt")
        pv.addLayout(ab)
        pv.addWidget(self.plot)
        self.plots = QTabWidget()
        self.plots.addTab(pw, "Accuracy vs size / latency")
        self.plots.addTab(self.train_plot, "Fine-tuning / distillation loss")
        split.addWidget(tw)
        split.addWidget(self.plots)
        split.setSizes([300, 300])
        rv.addWidget(split, 1)
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(left)
        main.addWidget(right)
        main.setSizes([290, 900])
        lay = QHBoxLayout(self)
        lay.addWidget(main)

    def _wire(self) -> None:
        self.prune_btn.clicked.connect(self.prune)
        self.quant_btn.clicked.connect(self.quantize)
        self.distill_btn.clicked.connect(self.distill)
        self.export_btn.clicked.connect(self.export)
        self.cancel_btn.clicked.connect(self.cancel)
        self.save_row_btn.clicked.connect(self.save_row)
        self.export_row_btn.clicked.connect(self.export_row)
        self.add_btn.clicked.connect(self.add_variant)
        self.axis.currentIndexChanged.connect(lambda _i: self._draw_plot())
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.current_run.changed.connect(self._run_changed)
        b = self.bridge
        b.jobProgress.connect(self._on_job_progress)
        b.jobResult.connect(self._on_result)
        b.progress.connect(self._on_train_progress)
        b.started.connect(self._on_started)
        b.error.connect(self._on_error)
        b.log.connect(self._on_log)
        b.finished.connect(self._on_finished)
        b.runningChanged.connect(lambda _r: self._update_buttons())

    # -- state -----------------------------------------------------------------------------
    @property
    def run_dir(self) -> str | None:
        return self.current_run.run_dir

    def _run_changed(self, run_dir: str | None) -> None:
        self.rows = []
        self._fill_table()
        if run_dir is None:
            self.run_label.setText("No trained run yet: train the project in the Train tab (or open a project "
                                   "that has a run); its weights are what this tab compresses and exports.")
        else:
            self.run_label.setText(f"<b>Run:</b> {Path(run_dir).name}<br><small>{run_dir}</small>")
        self._update_buttons()

    def _update_buttons(self) -> None:
        have = self.run_dir is not None
        busy = self.bridge.running
        for b in (self.prune_btn, self.quant_btn, self.distill_btn, self.export_btn, self.add_btn):
            b.setEnabled(have and not busy)
        self.cancel_btn.setEnabled(busy)
        sel = self.selected_row() is not None
        self.save_row_btn.setEnabled(sel and not busy)
        self.export_row_btn.setEnabled(sel and not busy and self._row_is_run(self.selected_row()))

    def variants_dir(self) -> Path:
        assert self.run_dir is not None
        return Path(self.run_dir) / "variants"

    def _unique(self, name: str) -> str:
        base = self.variants_dir() / name
        stem, suffix = base.stem if base.suffix else base.name, base.suffix
        p, i = base, 2
        while p.exists():
            p = base.with_name(f"{stem}-{i}{suffix}")
            i += 1
        return str(p)

    def _job_args(self) -> dict[str, Any]:
        return {"checkpoint": str(Path(self.run_dir) / "model.pt"), "project": str(Path(self.run_dir) / "project.json")}

    # -- actions ---------------------------------------------------------------------------
    def start(self, job: Any, label: str) -> bool:
        if self.run_dir is None or self.bridge.running:
            return False
        self.last_error = None
        self.last_result = None
        self._job_kind = label
        self.train_x, self.train_y = [], []
        self._last_step, self._step_offset = 0, 0
        self.train_curve.setData([], [])
        self.plots.setCurrentIndex(0)
        self.progress.setValue(0)
        self.progress.setFormat(f"{label}: starting…")
        self.status.setText("")
        try:
            self.bridge.start_job(job)
        except Exception as exc:  # noqa: BLE001 - a runner that cannot start is a message, not a crash
            self.prompts.error(f"Cannot {label.lower()}", str(exc))
            return False
        self._update_buttons()
        return True

    def prune(self) -> bool:
        from engine.compress.jobs import PruneJob

        method = self.prune_method.currentData()
        amount = round(self.prune_amount.value(), 2)
        out = self._unique(f"pruned-{method}-{int(amount * 100)}")
        return self.start(PruneJob(**self._job_args(), method=method, amount=amount, rounds=self.prune_rounds.value(),
                                   finetune_epochs=self.prune_epochs.value(), out=out), "Prune")

    def quantize(self) -> bool:
        from engine.compress.jobs import QuantizeJob
        from engine.compress.quantize import default_suffix

        method = self.quant_method.currentData()
        out = self._unique(f"quantized-{method}{default_suffix(method)}")
        return self.start(QuantizeJob(**self._job_args(), method=method, out=out), "Quantize")

    def distill(self) -> bool:
        from engine.compress.jobs import DistillJob

        choice = self.student.currentData()
        if choice == "file":
            path = self.prompts.open_path("Student project", str(Path(self.run_dir).parent),
                                          "LayerLab projects (*.json)")
            if not path:
                return False
            student = path
            name = Path(path).stem
        else:
            from engine.project import save_project
            from engine.templates import load_template

            name = choice.split(":", 1)[1]
            self.variants_dir().mkdir(parents=True, exist_ok=True)
            student = str(self.variants_dir() / f"student-{name}.json")
            save_project(load_template(name), student)
        out = self._unique(f"distilled-{name}")
        return self.start(DistillJob(**self._job_args(), student=student, out=out, epochs=self.distill_epochs.value(),
                                     temperature=self.temperature.value(), alpha=self.alpha.value(),
                                     augment=self.distill_augment.currentData(),
                                     baseline=self.distill_baseline.isChecked()), "Distill")

    def export(self, run_dir: str | None = None) -> bool:
        from engine.compress.jobs import ExportJob
        from engine.export import SUFFIX

        fmt = self.export_format.currentData()
        src = run_dir or self.run_dir
        if src is None:
            return False
        start = str(Path(src) / f"{Path(src).name}{SUFFIX[fmt]}")
        path = self.prompts.save_path(f"Export as {fmt}", start, EXPORT_FILTERS.get(fmt, "All files (*)"))
        if not path:
            return False
        # the file dialog asked before choosing an existing file: replacing that one is confirmed (the engine
        # still never writes over a run's own files, and refuses another suffix or an unconfirmed name)
        return self.start(ExportJob(checkpoint=str(Path(src) / "model.pt"), project=str(Path(src) / "project.json"),
                                    format=fmt, out=path,
                                    force=Path(path).suffix == SUFFIX[fmt] and Path(path).is_file()), "Export")

    def compare(self, paths: list[str]) -> bool:
        """Measure the current run against ``paths`` (variants made elsewhere) and add the rows."""
        from engine.compress.jobs import CompareJob

        return self.start(CompareJob(**self._job_args(), variants=list(paths)), "Compare")

    def add_variant(self) -> bool:
        path = self.prompts.open_path("Add a variant to compare", str(self.variants_dir()),
                                      "Variants (*.onnx *.pt *.safetensors);;All files (*)")
        return self.compare([path]) if path else False

    def cancel(self) -> None:
        if self.bridge.running:
            self.bridge.stop()
            self.progress.setFormat(f"{self._job_kind}: cancelling…")

    # -- rows ------------------------------------------------------------------------------
    def selected_row(self) -> dict[str, Any] | None:
        sel = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not sel:
            return None
        i = sel[0].row()
        return self.rows[i] if 0 <= i < len(self.rows) else None

    @staticmethod
    def _row_is_run(row: dict[str, Any] | None) -> bool:
        return row is not None and row.get("runtime") == "torch" and Path(row["path"]).name == "model.pt" \
            and (Path(row["path"]).parent / "project.json").is_file()

    def save_row(self) -> bool:
        row = self.selected_row()
        if row is None:
            return False
        src = Path(row["path"])
        is_run = self._row_is_run(row)
        start = str(Path.home() / (src.parent.name if is_run else src.name))
        dest = self.prompts.save_path(f"Save {row['name']}", start, "All files (*)")
        if not dest:
            return False
        if not is_run:
            from engine.compress.errors import CompressError
            from engine.compress.outputs import absolute, check_writable, output_target

            try:  # the engine's rule for every written file: the variant's suffix, never a run's own files
                target = output_target(dest, suffix=src.suffix, what=f"this variant ({src.name})", flag="Save row")
                confirmed = target == absolute(dest) and target.is_file()  # the dialog asked about it
                check_writable([target], checkpoint=Path(self.run_dir) / "model.pt", run_dir=self.run_dir,
                               force=confirmed)
                dest = str(target)
            except CompressError as exc:
                self.prompts.error("Cannot save the variant", str(exc))
                return False
        try:
            if is_run:
                shutil.copytree(src.parent, dest, dirs_exist_ok=False,
                                ignore=shutil.ignore_patterns("checkpoints", "variants"))
            else:
                shutil.copy2(src, dest)
        except OSError as exc:
            self.prompts.error("Cannot save the variant", f"{dest}: {exc.strerror or exc}")
            return False
        self.status.setText(f"Saved {row['name']} to {dest}")
        return True

    def export_row(self) -> bool:
        row = self.selected_row()
        if not self._row_is_run(row):
            return False
        return self.export(str(Path(row["path"]).parent))

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """Add comparison rows (the original once; a variant measured again replaces its old row)."""
        for r in rows:
            same = [i for i, old in enumerate(self.rows) if old["path"] == r["path"] and old["name"] == r["name"]]
            if same:
                self.rows[same[0]] = r
            else:
                self.rows.append(r)
        self._fill_table()
        self.variantsChanged.emit()

    def _fill_table(self) -> None:
        self.table.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            for j, text in enumerate(_fmt(r)):
                item = QTableWidgetItem(text)
                if j >= 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                tip = r.get("note") or r["path"]
                item.setToolTip(tip)
                self.table.setItem(i, j, item)
        self._draw_plot()
        self._update_buttons()

    def plot_points(self) -> list[tuple[float, float]]:
        key = self.axis.currentData()
        pts = []
        for r in self.rows:
            cost = r["size_bytes"] / 1024 if key == "size" else r["latency_ms_b64"]
            pts.append((float(cost), 100.0 * float(r.get("val_accuracy") or 0.0)))
        return pts

    def _draw_plot(self) -> None:
        pts = self.plot_points()
        self.plot.setLabel("bottom", self.axis.currentText())
        self.scatter.setData([p[0] for p in pts], [p[1] for p in pts])
        front = pareto_front(pts) if pts else []
        self.front_idx = front
        self.front_curve.setData([pts[i][0] for i in front], [pts[i][1] for i in front])
        for t in self.labels:
            self.plot.removeItem(t)
        self.labels = []
        for (x, y), r in zip(pts, self.rows):
            t = pg.TextItem(r["name"], anchor=(0, 1), color=(200, 200, 200))
            t.setPos(x, y)
            self.plot.addItem(t)
            self.labels.append(t)
        if pts:  # equal accuracies (int8 often loses nothing) gave a 1e-13 range with 15-digit tick labels
            ys = [p[1] for p in pts]
            lo, hi = min(ys), max(ys)
            pad = max(0.5, 0.15 * (hi - lo))
            self.plot.setYRange(lo - pad, hi + pad, padding=0)
            xs = [p[0] for p in pts]
            span = max(xs) - min(xs)
            xpad = max(0.1 * span, 0.05 * max(abs(v) for v in xs), 1e-3)
            self.plot.setXRange(min(xs) - xpad, max(xs) + 3 * xpad, padding=0)  # room for the names

    # -- events ----------------------------------------------------------------------------
    def _on_job_progress(self, ev: JobProgress) -> None:
        self.progress.setValue(int(ev.fraction * 1000))
        self.progress.setFormat(f"{self._job_kind}: {ev.stage} · {ev.fraction:.0%}")

    def _on_started(self, ev: Started) -> None:
        if ev.start_step == 0 and not self.train_x:
            self.plots.setCurrentWidget(self.train_plot)
        self.status.setText(f"training on {ev.device}: {ev.epochs} epoch(s) × {ev.steps_per_epoch} steps")

    def _on_train_progress(self, events: list[Progress]) -> None:
        for p in events:  # each round / the baseline restarts its step count: continue the axis
            if p.global_step <= self._last_step:
                self._step_offset = self.train_x[-1] if self.train_x else 0
            self._last_step = p.global_step
            if "loss" in p.metrics:
                self.train_x.append(float(self._step_offset + p.global_step))
                self.train_y.append(float(p.metrics["loss"]))
        self.train_curve.setData(self.train_x, self.train_y)
        ev = events[-1]
        loss = ev.metrics.get("loss")
        self.status.setText(f"epoch {ev.epoch + 1}, step {ev.step}" + (f", loss {loss:.4f}" if loss is not None else ""))

    def _on_log(self, ev: Log) -> None:
        if ev.level in ("warning", "error"):
            self.status.setText(ev.message)

    def _on_error(self, ev: Error) -> None:
        self.last_error = ev
        self.prompts.error(f"{self._job_kind} failed", ev.message, ev.details)

    def _on_result(self, ev: JobResult) -> None:
        self.last_result = ev.result
        rows = ev.result.get("variants") or []
        if rows:
            self.add_rows(rows)
        files = ev.result.get("files") or []
        if files:
            self.status.setText("Wrote " + ", ".join(files))

    def _on_finished(self, ev: Finished) -> None:
        words = {"completed": "done", "stopped": "cancelled", "failed": "failed"}.get(ev.status, ev.status)
        if ev.status == "completed":
            self.progress.setValue(1000)
        self.progress.setFormat(f"{self._job_kind}: {words}")
        self._update_buttons()
        self.jobFinished.emit(ev)
