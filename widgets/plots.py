"""Live training plots (pyqtgraph): loss per step, loss per epoch, metrics, learning rate.

Curves are created once (the first time a metric name shows up) and then only updated with
``setData``; every series is a bounded :class:`DecimatingSeries`, and plots downsample (peak mode)
and clip to view, so a 100k-step run stays as cheap to draw as a 1k-step one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from engine import glossary
from engine.train.events import EpochEnd, Progress

from .series import DecimatingSeries

PALETTE = ("#4C9BE8", "#F28E2B", "#59A14F", "#E15759", "#B07AA1", "#76B7B2", "#EDC948", "#FF9DA7")
STEP_CAP = 4096
STAGGER_MS = 40
# what the Metrics plot shows by default: classifier accuracy, regression error, GAN D(x)/D(G(z)), VAE terms
HEADLINE_METRICS = ("val_accuracy", "val_mae", "val_r2", "d_x", "d_gz", "recon", "kl", "val_recon", "val_kl")
EPOCH_CAP = 2048
# the curves each task draws, created (empty) when a project opens so its legends are right from the start
_SUPERVISED = {"step": ("loss",), "epoch": ("train_loss", "val_loss")}
TASK_CURVES: dict[str, dict[str, tuple[str, ...]]] = {
    "classification": {**_SUPERVISED, "metric": ("val_accuracy",)},
    "binary": {**_SUPERVISED, "metric": ("val_accuracy",)},
    "regression": {**_SUPERVISED, "metric": ("val_mae",)},
    "gan": {"step": ("d_loss", "g_loss"), "epoch": ("d_loss", "g_loss"), "metric": ("d_x", "d_gz")},
    "vae": {"step": ("loss",), "epoch": ("train_loss", "val_loss"), "metric": ("recon", "kl")},
}
DEFAULT_TEXT = [(0, 0.8), (2, 0.6), (4, 0.4), (6, 0.2)]  # pyqtgraph's default
SPARSE_TEXT = [(0, 0.6), (2, 0.3), (4, 0.15), (6, 0.08)]
TITLE_TIPS = {  # what each plot is for; the legend entries explain each curve (engine.glossary)
    "step": "The loss of each training batch. " + glossary.tooltip("loss"),
    "epoch": "Training and validation loss per epoch. " + glossary.tooltip("val_loss"),
    "metric": "How well the model does, by the task's measures: accuracy or F1 for a classifier, MAE for "
              "regression, D(x) and D(G(z)) for a GAN, recon and KL for a VAE. Hover a legend entry for its meaning.",
    "lr": glossary.tooltip("lr"),
}


def _is_loss(key: str) -> bool:
    return key == "loss" or key.endswith("_loss")


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


class _Panel:
    """One plot with named curves, each backed by a bounded series."""

    def __init__(self, plot: pg.PlotItem, cap: int, symbols: bool = False, legend: pg.LegendItem | None = None):
        self.plot = plot
        self.cap = cap
        self.symbols = symbols
        self.series: dict[str, DecimatingSeries] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.dirty: set[str] = set()
        plot.setDownsampling(auto=True, mode="peak")
        plot.setClipToView(True)
        plot.showGrid(x=True, y=True, alpha=0.25)
        # the legend sits in its own row under the plot, never over the curves (the newest points are
        # at the right edge, where an overlaid legend used to hide them)
        self.legend = legend

    def curve(self, name: str, symbols: bool | None = None) -> pg.PlotDataItem:
        c = self.curves.get(name)
        if c is None:
            color = PALETTE[len(self.curves) % len(PALETTE)]
            sym = self.symbols if symbols is None else symbols
            kw = {"symbol": "o", "symbolSize": 5, "symbolBrush": color, "symbolPen": None} if sym else {}
            c = self.plot.plot([], [], pen=pg.mkPen(color, width=1.6), **kw)
            c.opts["name"] = name
            self.curves[name] = c
            if self.legend is not None:
                self.legend.addItem(c, name)
            self._teach(c, name)
            self.series[name] = DecimatingSeries(self.cap)
        return c

    def _teach(self, c: pg.PlotDataItem, name: str) -> None:
        """The legend entry's tooltip says what the metric means (engine.glossary)."""
        label = self.legend.getLabel(c) if self.legend is not None else None
        if label is not None:
            label.setToolTip(glossary.tooltip(name) or name)

    def add(self, name: str, x: float, y: float, symbols: bool | None = None) -> None:
        if not _finite(y):
            return
        self.curve(name, symbols)
        self.series[name].append(x, float(y))
        self.dirty.add(name)

    def flush(self) -> None:
        for name in self.dirty:
            s = self.series[name]
            self.curves[name].setData(s.x, s.y)
        self.dirty.clear()

    def clear(self) -> None:
        for name, s in self.series.items():
            s.clear()
            self.curves[name].setData([], [])
        self.dirty.clear()

    def remove_all(self) -> None:
        """Forget every curve (and its legend entry): the next project starts with its own."""
        for c in self.curves.values():
            if self.legend is not None:
                self.legend.removeItem(c)
            self.plot.removeItem(c)
        self.curves.clear()
        self.series.clear()
        self.dirty.clear()


class TrainingPlots(QWidget):
    """Four live plots fed with runner events: ``add_progress`` / ``add_epoch`` then ``refresh``."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = pg.GraphicsLayoutWidget()
        self.view.ci.setContentsMargins(4, 4, 4, 4)
        self.view.ci.setSpacing(6)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)
        legends = []

        def add_plot(row: int, col: int, title: str) -> pg.PlotItem:
            cell = self.view.addLayout(row=row, col=col)
            cell.setContentsMargins(0, 0, 0, 0)
            cell.setSpacing(0)
            plot = cell.addPlot(row=0, col=0, title=title)
            legend = pg.LegendItem(offset=None, labelTextSize="8pt", colCount=3, horSpacing=8, verSpacing=-6)
            cell.addItem(legend, row=1, col=0)
            legends.append(legend)
            for axis in ("left", "bottom"):  # small windows: smaller tick labels, fewer of them
                ax = plot.getAxis(axis)
                ax.setStyle(tickTextOffset=2, autoReduceTextSpace=True, autoExpandTextSpace=False)
            plot.getAxis("left").setWidth(44)
            return plot

        p_step = add_plot(0, 0, "Loss per step")
        p_epoch = add_plot(0, 1, "Loss per epoch")
        p_metric = add_plot(1, 0, "Metrics")
        p_lr = add_plot(1, 1, "Learning rate")
        for p, xl in ((p_step, "step"), (p_epoch, "epoch"), (p_metric, "step"), (p_lr, "step")):
            p.setLabel("bottom", xl)
            p.titleLabel.item.setDefaultTextColor(self.palette().windowText().color())
        for p, tip in ((p_step, TITLE_TIPS["step"]), (p_epoch, TITLE_TIPS["epoch"]), (p_metric, TITLE_TIPS["metric"]),
                       (p_lr, TITLE_TIPS["lr"])):
            p.titleLabel.setToolTip(tip)
        self.step_panel = _Panel(p_step, STEP_CAP, legend=legends[0])
        self.epoch_panel = _Panel(p_epoch, EPOCH_CAP, symbols=True, legend=legends[1])
        self.metric_panel = _Panel(p_metric, STEP_CAP, legend=legends[2])
        self.lr_panel = _Panel(p_lr, STEP_CAP, legend=legends[3])
        self.points = 0  # Progress points plotted so far (for "first point" measurements)
        self.panels = (self.step_panel, self.epoch_panel, self.metric_panel, self.lr_panel)
        p_lr.setLogMode(y=True)
        self._next = 0
        self._stagger = QTimer(self)
        self._stagger.setInterval(STAGGER_MS)
        self._stagger.timeout.connect(self._flush_one)
        self.metric_filter: str = "auto"  # "auto" | "all" | a metric name
        self._shown_metrics: dict[str, bool] = {}
        self.metric_box = QComboBox()
        self.metric_box.setToolTip("Which metrics the Metrics plot shows")
        self.metric_box.addItem("headline metrics", "auto")
        self.metric_box.addItem("all metrics", "all")
        self.metric_box.currentIndexChanged.connect(lambda _i: self.set_metric_filter(self.metric_box.currentData()))
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 0, 4, 0)
        bar.addStretch(1)
        bar.addWidget(QLabel("Metrics plot:"))
        bar.addWidget(self.metric_box)
        lay.insertLayout(0, bar)

    # -- feeding ---------------------------------------------------------------------------
    def add_progress(self, events: Iterable[Progress]) -> None:
        for ev in events:
            x = float(ev.global_step)
            for k, v in ev.metrics.items():
                (self.step_panel if _is_loss(k) else self.metric_panel).add(k, x, v)
            self.lr_panel.add("lr", x, ev.lr)
            self.points += 1

    def add_epoch(self, ev: EpochEnd) -> None:
        e = float(ev.epoch + 1)
        for k, v in ev.metrics.items():
            if _is_loss(k):
                self.epoch_panel.add(k, e, v)
            else:
                self.metric_panel.add(k, float(ev.global_step), v, symbols=True)  # one point per epoch

    def refresh(self, stagger: bool = False) -> None:
        """Push changed series to their curves.

        ``stagger=True`` (live training) redraws at most one plot per ``STAGGER_MS`` tick, so each
        repaint covers a quarter of the area and no single frame pays for all four plots.
        """
        new_metric = any(n not in self._shown_metrics for n in self.metric_panel.curves)
        if new_metric:
            self._apply_metric_filter()
        if not stagger:
            self._stagger.stop()
            for p in self.panels:
                p.flush()
            return
        if not self._stagger.isActive():
            self._flush_one()
            self._stagger.start()

    def _flush_one(self) -> None:
        for p in self.panels[self._next:] + self.panels[: self._next]:
            self._next = (self.panels.index(p) + 1) % len(self.panels)
            if p.dirty:
                p.flush()
                return
        self._stagger.stop()  # nothing left to draw

    def metric_names(self) -> list[str]:
        return list(self.metric_panel.curves)

    def set_metric_filter(self, choice: str) -> None:
        """Which metrics the Metrics plot shows: "auto" (the headline ones), "all", or one name."""
        self.metric_filter = choice
        self._apply_metric_filter()

    def visible_metrics(self) -> list[str]:
        names = self.metric_names()
        if self.metric_filter == "all":
            return names
        if self.metric_filter != "auto":
            return [n for n in names if n == self.metric_filter] or names
        headline = [n for n in names if n in HEADLINE_METRICS]
        step_level = [n for n in names if not n.startswith("val_") and not n.startswith("train_")]
        return headline or step_level or names[:2]

    def _apply_metric_filter(self) -> None:
        for name in self.metric_panel.curves:
            if self.metric_box.findData(name) < 0:
                self.metric_box.addItem(name, name)
                self.metric_box.setItemData(self.metric_box.count() - 1, glossary.tooltip(name),
                                            Qt.ItemDataRole.ToolTipRole)
        show = set(self.visible_metrics())
        self._shown_metrics = {}
        for name, c in self.metric_panel.curves.items():
            vis = name in show
            c.setVisible(vis)
            self._shown_metrics[name] = vis
            if self.metric_panel.legend is not None:
                if vis and self.metric_panel.legend.getLabel(c) is None:
                    self.metric_panel.legend.addItem(c, name)
                    self.metric_panel._teach(c, name)
                elif not vis:
                    self.metric_panel.legend.removeItem(c)

    def clear(self) -> None:
        self._stagger.stop()
        for p in self.panels:
            p.clear()
        self.points = 0

    def set_compact(self, on: bool) -> None:
        """Small plots: smaller tick labels and titles, so ticks do not collide."""
        size = 7 if on else 9
        font = QFont()
        font.setPointSize(size)
        for p in self.panels:
            for axis in ("left", "bottom"):
                ax = p.plot.getAxis(axis)
                ax.setTickFont(font)
                # draw the finer tick labels only while they leave room between them (no collisions)
                ax.setStyle(textFillLimits=SPARSE_TEXT if on or p is self.lr_panel else DEFAULT_TEXT)
            p.plot.setTitle(p.plot.titleLabel.text, size=f"{size + 1}pt")
            p.plot.getAxis("left").setWidth(36 if on else 44)

    def reset(self, task: str | None = None) -> None:
        """Start over for a project with ``task``: no curves but the ones that task draws (so the legends
        name what will come), the metric selector back to its defaults."""
        self._stagger.stop()
        for p in self.panels:
            p.remove_all()
        self.points = 0
        self._shown_metrics = {}
        self.metric_box.blockSignals(True)
        while self.metric_box.count() > 2:
            self.metric_box.removeItem(2)
        self.metric_box.setCurrentIndex(0)
        self.metric_box.blockSignals(False)
        self.metric_filter = "auto"
        spec = TASK_CURVES.get(task or "", {})
        for panel, names in ((self.step_panel, spec.get("step", ())), (self.epoch_panel, spec.get("epoch", ())),
                             (self.metric_panel, spec.get("metric", ())), (self.lr_panel, ("lr",) if spec else ())):
            for n in names:
                panel.curve(n)
        self._apply_metric_filter()

    def legend_names(self, panel: str) -> list[str]:
        """The names the panel's legend shows now (for tests and screenshots)."""
        p = {"step": self.step_panel, "epoch": self.epoch_panel, "metric": self.metric_panel, "lr": self.lr_panel}[panel]
        return [label.text for _sample, label in p.legend.items] if p.legend is not None else []

    def curve_data(self, panel: str, name: str):
        """(x, y) arrays the named curve currently draws (for tests and screenshots)."""
        p = {"step": self.step_panel, "epoch": self.epoch_panel, "metric": self.metric_panel, "lr": self.lr_panel}[panel]
        c = p.curves.get(name)
        return (None, None) if c is None else c.getData()


__all__ = ["TrainingPlots"]
