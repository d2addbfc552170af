"""File ▸ Import model…: an ONNX file, a PyTorch file and class, or a torchvision model into a project.

The studio twin of ``layerlab import``: the same engine call (``engine.graph.importing.import_source``)
runs on a pool thread (importing torch, tracing and checking take seconds) while the dialog shows a
busy bar; nodes without a LayerLab layer come back as one line per node, never a traceback. On
success the user picks where to save (beside the model by default) and the window opens the project
in the designer. Cancel while it runs closes the dialog and drops the result when it arrives;
nothing is written until the user has chosen the file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThreadPool, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine.graph.importing import TORCHVISION

log = logging.getLogger("layerlab.studio")
KINDS = ("onnx", "python", "torchvision")
KIND_TEXT = {"onnx": "ONNX file (.onnx)", "python": "PyTorch file (.py) and class", "torchvision": "torchvision model"}
MODEL_FILTER = {"onnx": "ONNX models (*.onnx);;All files (*)", "python": "Python files (*.py);;All files (*)"}

Importer = Callable[..., Any]  # import_source(source, input_shape) -> ImportResult


def _default_importer(source: str, input_shape: tuple[int, ...] | None) -> Any:
    from engine.graph.importing import import_source

    return import_source(source, input_shape, description=f"Imported from {source} in LayerLab Studio.")


class _Relay(QObject):
    """Carries one import's outcome from the pool thread to the Qt thread (queued signals)."""

    succeeded = Signal(int, object)  # token, ImportResult
    failed = Signal(int, str, list)  # token, message, per-node problems


class _ImportRun(QRunnable):
    def __init__(self, relay: _Relay, token: int, importer: Importer, source: str, shape: Any):
        super().__init__()
        self.relay, self.token, self.importer, self.source, self.shape = relay, token, importer, source, shape

    def run(self) -> None:  # on a pool thread: no widget is touched here
        from engine.graph.importing import ImportError_

        try:
            res = self.importer(self.source, self.shape)
        except ImportError_ as exc:
            self._emit_failed(str(exc).splitlines()[0], [str(p) for p in exc.problems])
        except (ValueError, RuntimeError, OSError) as exc:
            self._emit_failed(str(exc), [])
        except Exception as exc:  # noqa: BLE001 - the user's model file can raise anything
            log.exception("import of %s failed", self.source)
            self._emit_failed(f"{type(exc).__name__}: {exc}", [])
        else:
            try:
                self.relay.succeeded.emit(self.token, res)
            except RuntimeError:  # the window is gone
                pass

    def _emit_failed(self, message: str, problems: list[str]) -> None:
        try:
            self.relay.failed.emit(self.token, message, problems)
        except RuntimeError:  # the window is gone
            pass


class ImportDialog(QDialog):
    """Pick a model, import it in the background, save the project, hand its path to ``imported``."""

    imported = Signal(str)  # the project file written
    problemsShown = Signal(str)  # the message shown when an import failed (tests wait on it)

    def __init__(self, prompts: Any, parent: QWidget | None = None, start_dir: str | Path | None = None,
                 importer: Importer | None = None):
        super().__init__(parent)
        self.setWindowTitle("Import model")
        self.prompts = prompts
        self.start_dir = Path(start_dir or Path.home())
        self.importer = importer or _default_importer
        self._token = 0
        self._running = False
        self.notes: list[str] = []

        self.kind = QComboBox()
        for k in KINDS:
            self.kind.addItem(KIND_TEXT[k], k)
        self.path = QLineEdit()
        self.path.setPlaceholderText("model.onnx")
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse)
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.path, 1)
        h.addWidget(self.browse)
        self.class_name = QLineEdit()
        self.class_name.setPlaceholderText("Net")
        self.torchvision = QComboBox()
        self.torchvision.addItems(TORCHVISION)
        self.shape = QLineEdit()
        self.pages = QStackedWidget()  # file (+ class) | torchvision name
        file_page = QWidget()
        ff = QFormLayout(file_page)
        ff.setContentsMargins(0, 0, 0, 0)
        ff.addRow("File:", row)
        self.class_label = QLabel("Class:")
        ff.addRow(self.class_label, self.class_name)
        tv_page = QWidget()
        tf = QFormLayout(tv_page)
        tf.setContentsMargins(0, 0, 0, 0)
        tf.addRow("Model:", self.torchvision)
        self.pages.addWidget(file_page)
        self.pages.addWidget(tv_page)
        form = QFormLayout()
        form.addRow("Import:", self.kind)
        form.addRow(self.pages)
        form.addRow("Input shape:", self.shape)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # busy: the import has no steps to count
        self.busy.setTextVisible(False)
        self.busy.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.problems = QPlainTextEdit()
        self.problems.setReadOnly(True)
        self.problems.setMinimumHeight(120)
        self.problems.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.import_button.setText("Import")
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        intro = QLabel("Turn a model into a project of LayerLab layers that opens in the designer: an ONNX "
                       "graph, a PyTorch nn.Module class from a .py file, or a torchvision network.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.busy)
        lay.addWidget(self.status)
        lay.addWidget(self.problems, 1)
        lay.addWidget(self.buttons)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.path.textChanged.connect(self._path_changed)
        self._kind_changed()
        self.resize(560, 300)

    # -- the form ------------------------------------------------------------------------------
    def current_kind(self) -> str:
        return str(self.kind.currentData())

    def set_kind(self, kind: str) -> None:
        self.kind.setCurrentIndex(KINDS.index(kind))

    def _kind_changed(self) -> None:
        k = self.current_kind()
        self.pages.setCurrentIndex(1 if k == "torchvision" else 0)
        self.class_label.setVisible(k == "python")
        self.class_name.setVisible(k == "python")
        self.path.setPlaceholderText("model.py" if k == "python" else "model.onnx")
        self.shape.setPlaceholderText({"onnx": "from the model (e.g. 1,28,28 when its sizes are free)",
                                       "python": "1,28,28", "torchvision": "3,224,224"}[k])

    def _path_changed(self, text: str) -> None:
        if text.lower().endswith(".py") and self.current_kind() == "onnx":
            self.set_kind("python")
        elif text.lower().endswith(".onnx") and self.current_kind() == "python":
            self.set_kind("onnx")

    def _browse(self) -> None:
        k = self.current_kind()
        start = self.path.text().strip() or str(self.start_dir)
        path = self.prompts.model_path(start, MODEL_FILTER.get(k, MODEL_FILTER["onnx"]))
        if path:
            self.path.setText(path)

    def source(self) -> str:
        """What the engine imports (``layerlab import``'s SOURCE); ValueError says what is missing."""
        k = self.current_kind()
        if k == "torchvision":
            return f"torchvision:{self.torchvision.currentText()}"
        path = self.path.text().strip()
        if not path:
            raise ValueError("Choose a model file first.")
        if not Path(path).is_file():
            raise ValueError(f"{path}: file not found")
        if k == "python":
            cls = self.class_name.text().strip()
            if not cls.isidentifier():
                raise ValueError("Give the name of the nn.Module class in the file (e.g. Net).")
            return f"{path}:{cls}"
        return path

    def default_project_path(self) -> Path:
        k = self.current_kind()
        if k == "torchvision":
            return self.start_dir / f"{self.torchvision.currentText()}.json"
        return Path(self.path.text().strip()).with_suffix(".json")

    def _set_running(self, running: bool) -> None:
        self._running = running
        for w in (self.kind, self.pages, self.shape, self.import_button):
            w.setEnabled(not running)
        self.busy.setVisible(running)

    @property
    def running(self) -> bool:
        return self._running

    # -- the import --------------------------------------------------------------------------------
    def start(self) -> bool:
        """Check the form and start the import on a pool thread (False: the form says what is missing)."""
        if self._running:
            return False
        from engine.graph.importing import parse_input_shape

        try:
            source = self.source()
            shape = parse_input_shape(self.shape.text().strip() or None)
        except ValueError as exc:
            self._show_problem(str(exc).replace("--input-shape: ", "Input shape: "), [])
            return False
        self.problems.hide()
        self._token += 1
        self._set_running(True)
        self.status.setText(f"Importing {source}… (loading PyTorch, converting and checking take a few seconds)")
        # one relay per run, owned by the window (or the application), not by this dialog: a cancelled import
        # still finishes, and its Qt object must not be deleted from the pool thread
        relay = _Relay(self.parent() or QCoreApplication.instance())
        relay.succeeded.connect(self._succeeded)
        relay.failed.connect(self._failed)
        relay.succeeded.connect(relay.deleteLater)
        relay.failed.connect(relay.deleteLater)
        QThreadPool.globalInstance().start(_ImportRun(relay, self._token, self.importer, source, shape))
        return True

    def _succeeded(self, token: int, res: Any) -> None:
        if token != self._token:  # cancelled: the user has moved on
            return
        self._set_running(False)
        n = len(res.project.model.nodes)
        diff = f"{res.max_abs_diff:.1e}" if res.max_abs_diff is not None else "?"
        self.status.setText(f"Imported {n} layers ({res.params:,} parameters); it gives {res.reference}'s outputs "
                            f"(max abs diff {diff}). Choose where to save the project.")
        path = self.prompts.save_project_path(str(self.default_project_path()))
        if not path:
            self.status.setText("Imported, but not saved: press Import again to choose a file.")
            return
        out = Path(path) if Path(path).suffix else Path(path).with_suffix(".json")
        from engine.graph.importing import write_import

        try:
            write_import(res, out)
        except OSError as exc:
            self._show_problem(f"Cannot write {out}: {exc.strerror or exc}", [])
            return
        self.notes = list(res.notes)
        self.imported.emit(str(out))
        self.accept()

    def _failed(self, token: int, message: str, problems: list[str]) -> None:
        if token != self._token:
            return
        self._set_running(False)
        self._show_problem(message, problems)

    def _show_problem(self, message: str, problems: list[str]) -> None:
        self.status.setText(message)
        if problems:
            self.problems.setPlainText("\n".join(f"• {p}" for p in problems))
            self.problems.show()
        else:
            self.problems.hide()
        self.problemsShown.emit(message)

    def reject(self) -> None:
        """Cancel: closes at once; an import still running finishes on its thread and is dropped."""
        if self._running:
            self._token += 1
            self._set_running(False)
        super().reject()
