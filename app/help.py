"""Help where the learner is: the Help menu (F1 explains the current view), the glossary, the keyboard
shortcuts and About, each in one non-modal window.

``VIEW_HELP`` holds one entry per tab *name*; a view added later gets its F1 text by adding an entry
(and a tab without one still gets a useful page: the shortcuts and the glossary link).
"""

from __future__ import annotations

import html
import platform
from importlib import metadata

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QMainWindow, QTabWidget, QTextBrowser, QVBoxLayout, QWidget

from engine.glossary import entries

VIEW_HELP: dict[str, str] = {
    "Start": (
        "<p>Where to begin. <b>Start from a template</b> opens a complete, working project (a network, its data "
        "and training settings) that you can train at once and then change. <b>New empty project</b> gives a "
        "blank model to build in the Designer. <b>Open a project…</b> opens a file you saved before.</p>"),
    "Train": (
        "<p>Train the open project and watch it learn.</p><ul>"
        "<li><b>Train</b> (F5) starts a run on a copy of the project; <b>Pause</b> (F6) and <b>Stop</b> (Shift+F5) "
        "keep its last checkpoint.</li>"
        "<li><b>Training settings</b>: epochs, batch size and learning rate. Type numbers as you like "
        "(<code>1e-4</code> or <code>0.0001</code>); Enter applies, Esc undoes your typing, and a red message "
        "under a field says why a value is refused.</li>"
        "<li><b>Plots</b>: loss per step and per epoch, the metrics (accuracy, or D(x)/D(G(z)) for a GAN) and "
        "the learning rate. Hover a plot title or a legend entry for what it means.</li>"
        "<li><b>Samples</b>: predictions on validation images (green right, red wrong) or generated images, "
        "with a timeline slider.</li>"
        "<li><b>Checkpoints</b>: double-click one to resume training from it.</li></ul>"),
    "Designer": (
        "<p>Build the network: drag layers from the palette onto the canvas, connect outputs to inputs, and set "
        "each layer's parameters in the inspector. Shapes are checked as you go; a red badge on a node says what "
        "is wrong there and how to fix it.</p>"),
    "Data": (
        "<p>Choose what the model learns from: a bundled dataset, a torchvision dataset, an image folder or a "
        "CSV file. See thumbnails and the class balance, the validation split and what augmentation does. "
        "<b>Audit</b> finds unreadable files, duplicates (also across classes and across the train/validation "
        "split), imbalance and blank images before you train; <b>Exclude</b> leaves files out (undoable).</p>"),
    "Compress & Export": (
        "<p>Make a trained model smaller or faster (pruning, quantization, distillation), compare the variants, "
        "and export them (ONNX, state dict, Python code).</p>"),
    "Evaluate": (
        "<p>Look at what a trained model gets wrong: the confusion matrix, the worst mistakes, predictions on "
        "your own drawings, and which pixels a prediction depends on.</p>"),
    "Experiments": (
        "<p>Every run and sweep of this project, side by side: settings, curves and results.</p>"),
}


def versions() -> dict[str, str]:
    """Installed versions, read from package metadata (no heavy imports)."""
    out = {"Python": platform.python_version()}
    for dist, label in (("layerlab", "LayerLab"), ("torch", "PyTorch"), ("torchvision", "torchvision"),
                        ("PySide6", "PySide6"), ("pyqtgraph", "pyqtgraph"), ("numpy", "NumPy")):
        try:
            out[label] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[label] = "not installed"
    return out


def glossary_html() -> str:
    rows = []
    for cat in ("metric", "gan", "vae", "training", "model", "data"):
        terms = entries(cat)
        if not terms:
            continue
        title = {"metric": "Metrics", "gan": "GANs", "vae": "VAEs", "training": "Training", "model": "Models",
                 "data": "Data"}[cat]
        rows.append(f"<h3>{title}</h3><dl>")
        for t in terms:
            better = f" <i>Better: {html.escape(t.good)}.</i>" if t.good else ""
            rows.append(f"<dt><b>{html.escape(t.title)}</b> <code>{html.escape(t.name)}</code></dt>"
                        f"<dd>{html.escape(t.text)}{better}</dd>")
        rows.append("</dl>")
    return ("<h2>Glossary</h2><p>Metrics measured on validation data are shown with a <code>val_</code> prefix "
            "(<code>val_f1</code>), training ones with <code>train_</code>.</p>" + "".join(rows))


def shortcuts_of(window: QWidget) -> list[tuple[str, str]]:
    """(action, keys) for every action of the window that has a shortcut, read from the actions themselves."""
    seen: dict[str, str] = {}
    for a in window.findChildren(QAction):
        keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts() if not k.isEmpty())
        name = a.text().replace("&", "").rstrip("…").strip()
        if keys and name and name not in seen:
            seen[name] = keys
    return sorted(seen.items(), key=lambda kv: kv[0].lower())


class HelpWindow(QDialog):
    """One non-modal help window; its page is replaced by each Help action."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("helpWindow")
        self.setWindowTitle("LayerLab Help")
        self.setModal(False)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        self.resize(620, 560)
        self.topic = ""

    def show_page(self, topic: str, title: str, body: str) -> None:
        self.topic = topic
        self.setWindowTitle(f"LayerLab Help — {title}")
        self.browser.setHtml(body)
        self.show()
        self.raise_()


class HelpMenu:
    """Adds the Help menu to ``window`` (a QMainWindow whose central ``tabs`` is a QTabWidget)."""

    def __init__(self, window: QMainWindow, tabs: QTabWidget):
        self.window, self.tabs = window, tabs
        self.dialog = HelpWindow(window)
        m = window.menuBar().addMenu("&Help")
        self.menu = m

        def act(text: str, slot, key=None) -> QAction:
            a = QAction(text, window)
            if key is not None:
                a.setShortcut(QKeySequence(key))
                a.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
            a.triggered.connect(lambda _c=False: slot())
            window.addAction(a)
            m.addAction(a)
            return a

        self.act_view = act("&What is this view?", self.show_view_help, QKeySequence.StandardKey.HelpContents)
        self.act_glossary = act("&Glossary", self.show_glossary)
        self.act_shortcuts = act("&Keyboard shortcuts", self.show_shortcuts)
        m.addSeparator()
        self.act_about = act("&About LayerLab", self.show_about)
        if self.act_view.shortcut().isEmpty():  # platforms without a HelpContents key: F1 anyway
            self.act_view.setShortcut(QKeySequence("F1"))

    def current_view(self) -> str:
        i = self.tabs.currentIndex()
        return self.tabs.tabText(i).replace("&", "") if i >= 0 else ""

    def show_view_help(self) -> None:
        name = self.current_view()
        body = VIEW_HELP.get(name) or ("<p>No help page for this view yet. The glossary (Help ▸ Glossary) explains "
                                       "every metric and term, and Help ▸ Keyboard shortcuts lists the keys.</p>")
        self.dialog.show_page(f"view:{name}", f"{name} view", f"<h2>The {html.escape(name)} view</h2>{body}"
                              "<p>See also Help ▸ Glossary for the metrics and terms.</p>")

    def show_glossary(self) -> None:
        self.dialog.show_page("glossary", "Glossary", glossary_html())

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td>{html.escape(n)}</td><td><b>{html.escape(k)}</b></td></tr>"
                       for n, k in shortcuts_of(self.window))
        self.dialog.show_page("shortcuts", "Keyboard shortcuts",
                              f"<h2>Keyboard shortcuts</h2><table cellpadding='4'>{rows}</table>"
                              "<p>In a number field: Enter applies, Esc undoes your typing.</p>")

    def show_about(self) -> None:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in versions().items())
        self.dialog.show_page("about", "About", "<h2>LayerLab Studio</h2><p>Design, train, compress and export "
                              "PyTorch models, and learn what they do.</p>"
                              f"<table cellpadding='3'>{rows}</table>")
