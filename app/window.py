"""The main window: menus and shortcuts, the project panel, the Train view, files, autosave/recovery."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QTabWidget, QWidget

from engine.project import ProjectError, parse_project
from engine.templates import EMPTY, list_templates, load_template
from widgets.qt_compat import freeze_long_lived, hold_gui_gc, install_none_guard, release_gui_gc

from . import settings as st
from .analysis import AnalysisService
from .autosave import Session, discard
from .bridge import RunnerBridge
from .compress_view import CompressView, DialogPrompts, JobBridge
from .current_run import CurrentRun
from .data_view import DataView
from .designer import DesignerView
from .document import DocumentController
from .help import HelpMenu
from .layout import scrollable
from .project_panel import ProjectPanel
from .prompts import Prompts
from .run_history import latest_run, remember_run
from .start_view import StartView, show_at_start
from .text import elide
from .train_view import THREAD_RUNNER_WARM, DeviceProbe, TrainView

# the project panel per tab until the user toggles it: the Designer, Data and Compress & Export views need the
# width (their own tables and canvas show the model), Start and Train keep the summary beside them
DOCK_DEFAULTS = {"designer": False, "data": False, "compress": False}

log = logging.getLogger("layerlab.studio")
DEFAULT_TEMPLATE = "cnn"
TITLE_CHARS = 80  # window managers lay out (and some crash on) megabyte titles



class MainWindow(QMainWindow):
    """One studio window. ``prompts``/``bridge``/``session`` are injectable (tests, benchmarks)."""

    recoveryOffered = Signal(int)  # how many autosaves were offered

    def __init__(
        self,
        *,
        prompts: Prompts | None = None,
        bridge: RunnerBridge | None = None,
        session: Session | None = None,
        autosave_s: int | None = None,
        probe_devices: bool = True,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        install_none_guard()  # idempotent; see widgets/qt_compat.py
        hold_gui_gc()  # Python GC only on this thread while the window lives (released in shutdown)
        self.setObjectName("LayerLabMainWindow")
        self.data_dir = st.data_dir()
        self.prompts = prompts or Prompts(self)
        if self.prompts.parent is None:
            self.prompts.parent = self
        self.doc = DocumentController(self)
        self.analysis = AnalysisService(self.doc, self)  # live checking after every edit (debounced)
        self.bridge = bridge or RunnerBridge(self)
        if self.bridge.parent() is None:
            self.bridge.setParent(self)
        self.session = session or Session(self.data_dir)
        self.session.begin()
        self._closed = False

        self.train_view = TrainView(self.doc, self.bridge, self.prompts, self.data_dir / "runs")
        self.train_view.runStarted.connect(self._autosave_run_started)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.train_view, "Train")
        self.designer = DesignerView(self.doc, self.analysis, self.data_dir / "blocks")
        self.tabs.insertTab(0, self.designer, "Designer")  # the first tab; Train is one tab away
        self.current_run = CurrentRun(self)  # the trained run Compress & Export works on
        self.train_view.runFinished.connect(
            lambda ev: self.current_run.set(self.train_view.last_run_dir) if ev.status != "failed" else None)
        self.compress_view = CompressView(self.current_run, DialogPrompts(self, self.prompts),
                                          JobBridge(self, mode=self.bridge.mode))
        self._compress_tab = scrollable(self.compress_view)
        self.tabs.addTab(self._compress_tab, "Compress && Export")
        self.start_view = StartView(self.tabs, new_from_template=self.new_project, new_empty=self.new_empty_project,
                                    open_dialog=self.open_dialog, open_path=self.open_path)
        self.tabs.insertTab(0, self.start_view, "Start")
        self.data_view = DataView(self.doc)
        # on a small screen the view scrolls rather than forcing the window larger than the screen
        self._data_tab = scrollable(self.data_view)
        self.tabs.insertTab(self.tabs.indexOf(self.train_view), self._data_tab, "Data")
        self.tabs.setCurrentWidget(self.designer)
        self.setCentralWidget(self.tabs)
        self.project_panel = ProjectPanel()
        self.project_dock = QDockWidget("Project", self)
        self.project_dock.setObjectName("projectDock")
        self.project_dock.setWidget(self.project_panel)
        self.project_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                                      | QDockWidget.DockWidgetFeature.DockWidgetClosable
                                      | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.project_dock)
        self.resizeDocks([self.project_dock], [300], Qt.Orientation.Horizontal)
        # the project panel is shown per tab: the Designer draws the same layers, shapes and parameters
        # on its canvas, so there the panel starts hidden and the canvas gets its room (at 1024 px wide
        # the canvas was 270 px); the other tabs start with it. View > Project toggles it for the
        # current tab, remembered across restarts.
        self._dock_by_tab: dict[str, bool] = dict(DOCK_DEFAULTS)
        self._dock_switching = False
        self.tabs.currentChanged.connect(lambda _i: self._apply_dock_for_tab())
        self.project_dock.visibilityChanged.connect(self._record_dock_for_tab)

        self._make_actions()
        self._make_menus()
        self.doc.dirtyChanged.connect(self.setWindowModified)
        self.doc.dirtyChanged.connect(lambda _d: self._update_title())
        self.doc.pathChanged.connect(lambda _p: self._update_title())
        self.doc.replaced.connect(self._on_replaced)
        self.doc.replaced.connect(freeze_long_lived)  # the opened document lives on: keep it out of full GCs
        # the panel shows the live analysis (debounced, once per burst of edits), not its own second pass
        self.analysis.analyzed.connect(lambda res: self.project_panel.set_project(self.doc.project, res))
        self.bridge.runningChanged.connect(self._running_changed)
        self.bridge.paused.connect(lambda _e: self.act_pause.setText("&Resume"))
        self.bridge.resumed.connect(lambda _e: self.act_pause.setText("&Pause"))

        self.autosave_timer = QTimer(self)
        self.autosave_timer.timeout.connect(self.autosave_now)
        secs = st.autosave_seconds() if autosave_s is None else autosave_s
        if secs > 0:
            self.autosave_timer.start(secs * 1000)

        self.resize(1400, 900)
        self._restore_layout()
        self._update_title()
        self._running_changed(False)
        if probe_devices:
            warm = THREAD_RUNNER_WARM if self.bridge.mode == "thread" else ()
            self.probe = DeviceProbe(self, warm=warm)
            self.probe.done.connect(self.train_view.set_devices)
            self.probe.done.connect(self._torch_loaded)
            self.probe.start()

    def _torch_loaded(self, _found: dict) -> None:
        """On the Qt thread (a slot of this window, so the probe thread's signal is queued here): torch
        is imported now and lives on, so it leaves the full garbage collections (widgets/qt_compat.py)."""
        freeze_long_lived()

    # -- actions & menus -------------------------------------------------------------------
    def _action(self, text: str, slot, shortcut: Any = None, tip: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
        a.triggered.connect(lambda _checked=False: slot())
        self.addAction(a)
        return a

    def _make_actions(self) -> None:
        K = QKeySequence.StandardKey
        self.act_new = self._action("&New from template…", self.new_project, K.New, "Create a project from a template")
        self.act_open = self._action("&Open…", self.open_dialog, K.Open, "Open a project file")
        self.act_import = self._action("&Import model…", self.import_model, None,
                                       "Turn an ONNX file, a PyTorch model file or a torchvision model into a project")
        self.act_save = self._action("&Save", self.save, K.Save, "Save the project")
        self.act_save_as = self._action("Save &As…", self.save_as, K.SaveAs, "Save the project under a new name")
        self.act_quit = self._action("&Quit", self.close, K.Quit, "Quit LayerLab")
        self.act_undo = self.doc.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QKeySequence(K.Undo))
        self.act_redo = self.doc.undo_stack.createRedoAction(self, "&Redo")
        redo_keys = QKeySequence.keyBindings(K.Redo)
        if QKeySequence("Ctrl+Shift+Z") not in redo_keys:
            redo_keys.append(QKeySequence("Ctrl+Shift+Z"))
        self.act_redo.setShortcuts(redo_keys)
        self.act_train = self._action("&Train", lambda: self.train_view.start(), "F5", "Start training")
        self.act_pause = self._action("&Pause", self.train_view.toggle_pause, "F6", "Pause or resume training")
        self.act_stop = self._action("&Stop", self.train_view.stop, "Shift+F5", "Stop training")
        self.act_resume_ckpt = self._action("Resume from &checkpoint…", self.train_view.resume_from_checkpoint_dialog)

    def _make_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        f.addAction(self.act_new)
        f.addAction(self.act_open)
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        f.addMenu(self.recent_menu)
        f.addAction(self.act_import)
        f.addSeparator()
        f.addAction(self.act_save)
        f.addAction(self.act_save_as)
        f.addSeparator()
        self.act_reopen_last = QAction("Reopen last project at start", self, checkable=True)
        self.act_reopen_last.setChecked(st.reopen_last())
        self.act_reopen_last.setStatusTip("Start with the project you had open last time (else a template)")
        self.act_reopen_last.toggled.connect(st.set_reopen_last)
        f.addAction(self.act_reopen_last)
        f.addSeparator()
        f.addAction(self.act_quit)
        e = mb.addMenu("&Edit")
        e.addAction(self.act_undo)
        e.addAction(self.act_redo)
        e.addSeparator()
        for a in self.designer.edit_actions():
            e.addAction(a)
        t = mb.addMenu("&Train")
        for a in (self.act_train, self.act_pause, self.act_stop, self.act_resume_ckpt):
            t.addAction(a)
        v = mb.addMenu("&View")
        v.addAction(self.project_dock.toggleViewAction())
        v.addAction(self._action("&Start page", lambda: self.tabs.setCurrentWidget(self.start_view)))
        self.help = HelpMenu(self, self.tabs)
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = st.recent_files()
        for path in files:
            a = self.recent_menu.addAction(Path(path).name)
            a.setToolTip(path)
            a.setStatusTip(path)
            a.triggered.connect(lambda _c=False, p=path: self.open_path(p))
        if not files:
            a = self.recent_menu.addAction("(none)")
            a.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self._clear_recent)

    def _clear_recent(self) -> None:
        s = st.settings()
        s.setValue("recent/files", [])
        s.sync()

    def _running_changed(self, running: bool) -> None:
        has = self.doc.project is not None
        self.act_train.setEnabled(has and not running)
        self.act_resume_ckpt.setEnabled(has and not running)
        self.act_pause.setEnabled(running)
        self.act_stop.setEnabled(running)
        for a in (self.act_new, self.act_open, self.act_import):
            a.setEnabled(not running)
        self.recent_menu.setEnabled(not running)
        if not running:
            self.act_pause.setText("&Pause")

    def _update_title(self) -> None:
        name = self.doc.display_name() if self.doc.project else "no project"
        self.setWindowTitle(f"{elide(name, TITLE_CHARS)}[*] — LayerLab Studio")
        self.setWindowModified(self.doc.dirty)

    def _on_replaced(self) -> None:  # the project panel follows self.analysis.analyzed (run on replace)
        self.current_run.clear()  # another document; open_path sets its last run again
        self._running_changed(self.bridge.running)

    # -- files -----------------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False means the user cancelled."""
        if not self.doc.dirty:
            return True
        answer = self.prompts.ask_save_changes(self.doc.display_name())
        if answer == "save":
            return self.save()
        return answer == "discard"

    def _busy(self) -> bool:
        if self.bridge.running:
            self.prompts.error("Training is running", "Stop training before opening another project.")
            return True
        return False

    def new_project(self, template: str | None = None) -> bool:
        if self._busy() or not self.maybe_save():
            return False
        name = template or self.prompts.choose_template()
        if not name:
            return False
        try:
            project = load_template(name)
        except ProjectError as exc:
            self.prompts.project_problems(f"Template {name}", [str(p) for p in exc.problems])
            return False
        self.doc.replace(project, None)
        self.session.clear_autosave()
        return True

    def new_empty_project(self) -> bool:
        """A project with only an Input and an Output, to build a network from scratch."""
        return self.new_project(EMPTY)

    def open_dialog(self) -> bool:
        if self._busy() or not self.maybe_save():
            return False
        start = str(self.doc.path.parent) if self.doc.path else str(Path.home())
        path = self.prompts.open_project_path(start)
        return self.open_path(path, ask=False) if path else False

    def import_model(self) -> Any:
        """File ▸ Import model…: the dialog (returned, shown without blocking) opens what it imports."""
        if self._busy() or not self.maybe_save():
            return None
        from .import_dialog import ImportDialog

        start = str(self.doc.path.parent) if self.doc.path else str(Path.home())
        dlg = ImportDialog(self.prompts, self, start)
        dlg.imported.connect(self._open_imported)
        dlg.finished.connect(dlg.deleteLater)
        dlg.open()
        return dlg

    def _open_imported(self, path: str) -> None:
        if self.open_path(path, ask=False):
            self.tabs.setCurrentWidget(self.designer)

    def open_path(self, path: str | Path, ask: bool = True) -> bool:
        if ask and (self._busy() or not self.maybe_save()):
            return False
        try:
            self.doc.open(path)
        except ProjectError as exc:
            self.prompts.project_problems(str(path), [str(p) for p in exc.problems])
            if not Path(path).exists():
                st.remove_recent_file(str(Path(path).resolve()))
            return False
        st.add_recent_file(str(path))
        self.session.clear_autosave()
        run = latest_run(path)
        if run is not None:  # its curves and checkpoints, ready to resume
            self.train_view.show_past_run(run)
            self.current_run.set(run)
        return True

    def save(self) -> bool:
        if self.doc.project is None:
            return False
        if self.doc.path is None:
            return self.save_as()
        return self._save_to(self.doc.path)

    def save_as(self) -> bool:
        if self.doc.project is None:
            return False
        if self.doc.path is not None:
            start = str(self.doc.path)
        else:
            stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.doc.project.name).strip("-")
            start = str(Path.home() / f"{stem or 'project'}.json")
        path = self.prompts.save_project_path(start)
        return self._save_to(Path(path)) if path else False

    def _save_to(self, path: Path) -> bool:
        try:
            saved = self.doc.save(path)
        except OSError as exc:
            self.prompts.error("Could not save", f"The project could not be written to {path}: {exc.strerror or exc}")
            return False
        st.add_recent_file(str(saved))
        if self.train_view.last_run_dir:  # e.g. New → Train → Save: reopening the file finds this run
            remember_run(saved, self.train_view.last_run_dir)
        self.session.clear_autosave()
        self.statusBar().showMessage(f"Saved {saved}", 4000)
        return True

    # -- autosave / recovery ---------------------------------------------------------------
    def autosave_now(self, force: bool = False) -> Path | None:
        """Write this session's autosave when the document has unsaved changes (or ``force``: a run
        started, so a crash must be able to bring the run back even for a clean document)."""
        if self.doc.project is None or not (self.doc.dirty or force):
            return None
        try:
            return self.session.write_autosave(self.doc.project.to_dict(),
                                               str(self.doc.path) if self.doc.path else None,
                                               run_dir=self.train_view.last_run_dir, dirty=self.doc.dirty)
        except OSError as exc:
            log.warning("autosave failed: %s", exc)
            return None

    def _autosave_run_started(self, _run_dir: str) -> None:
        self.autosave_now(force=True)

    def check_recovery(self) -> bool:
        """Offer each autosave left by a crashed session; True if one was restored. An autosave is
        removed only when the user restores or discards it ("later" keeps it for the next start)."""
        recs = self.session.find_recoverable()
        self.recoveryOffered.emit(len(recs))
        for rec in recs:
            answer = self.prompts.ask_restore(rec)
            answer = {True: "restore", False: "discard", None: "later"}.get(answer, answer)
            if answer == "later":
                continue
            if answer != "restore":
                discard(rec.marker, rec.autosave)
                continue
            try:
                project = parse_project(rec.document, f"autosave of {rec.name}")
            except ProjectError as exc:
                self.prompts.project_problems(str(rec.autosave), [str(p) for p in exc.problems])
                continue  # kept on disk: nothing is deleted that the user did not discard
            self.doc.replace(project, rec.project_path, dirty=rec.dirty or not rec.project_path or rec.project_changed)
            self._link_recovered_run(rec)
            self.autosave_now(force=bool(self.train_view.last_run_dir))  # ours now, then theirs can go
            discard(rec.marker, rec.autosave)
            return True
        return False

    def _link_recovered_run(self, rec) -> None:
        """Show the run the crashed session was training (curves, checkpoints, samples) and offer to
        resume it from its last checkpoint."""
        run = Path(rec.run_dir) if rec.run_dir else None
        if (run is None or not run.is_dir()) and rec.project_path:
            run = latest_run(rec.project_path)
        if run is None or not self.train_view.show_past_run(run):
            return
        if rec.project_path:
            remember_run(rec.project_path, run)
        last = run / "checkpoints" / "last.pt"
        ask = getattr(self.prompts, "ask_resume_training", None)
        if last.is_file() and ask is not None and ask(str(run), str(last)):
            self.train_view.start(resume=str(last))

    # -- start-up helpers ------------------------------------------------------------------
    def open_initial(self, path: str | None) -> None:
        """The project from the command line, else the last project (setting ``startup/reopenLast``,
        on by default), else a fresh one from the default template."""
        if path and self.open_path(path, ask=False):
            return
        if not path and st.reopen_last():
            last = next(iter(st.recent_files()), None)
            if last and Path(last).is_file() and self.open_path(last, ask=False):
                return
        names = [t.name for t in list_templates()]
        if names:
            self.new_project(DEFAULT_TEMPLATE if DEFAULT_TEMPLATE in names else names[0])
        if show_at_start():  # no project asked for: say what to do next
            self.tabs.setCurrentWidget(self.start_view)

    # -- layout ----------------------------------------------------------------------------
    def _tab_key(self) -> str:
        w = self.tabs.currentWidget()
        keys = {id(self.start_view): "start", id(self.designer): "designer", id(self._data_tab): "data",
                id(self.train_view): "train", id(self._compress_tab): "compress"}
        return keys.get(id(w), "other")

    def _apply_dock_for_tab(self) -> None:
        want = self._dock_by_tab.get(self._tab_key(), True)
        if self.project_dock.isFloating() or self.project_dock.isHidden() != want:
            return  # a floating panel is the user's own window; nothing to change otherwise
        self._dock_switching = True
        try:
            self.project_dock.setVisible(want)
        finally:
            self._dock_switching = False

    def _record_dock_for_tab(self, visible: bool) -> None:
        # only the user's own toggles (menu, close button) while the window is up count
        if self._dock_switching or self._closed or not self.isVisible() or self.isMinimized():
            return
        self._dock_by_tab[self._tab_key()] = bool(visible)

    def _restore_layout(self) -> None:
        s = st.settings()
        per_tab = s.value("window/projectPanelByTab")
        if isinstance(per_tab, str):
            try:
                loaded = json.loads(per_tab)
            except ValueError:
                loaded = None
            if isinstance(loaded, dict):
                self._dock_by_tab.update({str(k): bool(v) for k, v in loaded.items() if isinstance(v, bool)})
        geo = s.value("window/geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        state = s.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        split = s.value("window/trainSplitter")
        if isinstance(split, QByteArray) and not split.isEmpty():
            self.train_view.splitter.restoreState(split)
        self._apply_dock_for_tab()

    def save_layout(self) -> None:
        s = st.settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/trainSplitter", self.train_view.splitter.saveState())
        s.setValue("window/projectPanelByTab", json.dumps(self._dock_by_tab))
        s.sync()

    def closeEvent(self, ev: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self._closed:
            ev.accept()
            return
        if self.bridge.running and not self.prompts.ask_yes_no(
            "Training is running", "Stop training and close LayerLab? The last checkpoint is kept."
        ):
            ev.ignore()
            return
        if not self.maybe_save():
            ev.ignore()
            return
        self.shutdown()
        ev.accept()

    def shutdown(self) -> None:
        """Clean exit: stop training, remember the layout, remove the session marker and autosave."""
        if self._closed:
            return
        self._closed = True
        self.autosave_timer.stop()
        self.data_view.shutdown()
        self.bridge.shutdown()
        self.compress_view.bridge.shutdown()
        release_gui_gc()
        self.save_layout()
        self.session.end()
