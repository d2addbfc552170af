"""The Data view's pictures: a class histogram (train vs validation, imbalance called out) and an image grid
for the augmentation preview. Both are created once and updated in place."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from .thumbnails import to_qimage

IMBALANCE_RATIO = 3.0


def imbalance_note(classes: Sequence[str], counts: np.ndarray, ratio: float = IMBALANCE_RATIO) -> str:
    """A one-line call-out when the largest class outnumbers the smallest by ``ratio`` or more, else ""."""
    counts = np.asarray(counts)
    if len(counts) < 2 or counts.max() == 0:
        return ""
    nz = np.where(counts > 0, counts, counts.max() + 1)
    big, small = int(np.argmax(counts)), int(np.argmin(nz))
    if counts[big] >= ratio * max(counts[small], 1):
        return (f"Imbalanced: {classes[big]!r} has {counts[big]:,} samples, {classes[small]!r} only "
                f"{counts[small]:,} ({counts[big] / max(counts[small], 1):.1f}×)")
    return ""


class ClassHistogram(QWidget):
    """Side-by-side bars per class: training (blue) and validation (orange)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background=None)
        self.plot.setMinimumHeight(160)
        self.plot.showGrid(y=True, alpha=0.25)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        # the legend is a line above the plot, never over the bars (the last classes' bars sat under it)
        self.legend = QLabel("<span style='color:#4a90d9'>■</span> train &nbsp; "
                             "<span style='color:#e8943a'>■</span> validation")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.train_bars = pg.BarGraphItem(x=[], height=[], width=0.4, brush="#4a90d9", name="train")
        self.val_bars = pg.BarGraphItem(x=[], height=[], width=0.4, brush="#e8943a", name="validation")
        self.plot.addItem(self.train_bars)
        self.plot.addItem(self.val_bars)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #d9822b; font-weight: bold")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.legend)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.note)
        self.classes: tuple[str, ...] = ()
        self.train_counts = np.zeros(0, dtype=np.int64)
        self.val_counts = np.zeros(0, dtype=np.int64)

    def set_counts(self, classes: Sequence[str], train: np.ndarray, val: np.ndarray) -> None:
        self.classes = tuple(classes)
        self.train_counts = np.asarray(train)
        self.val_counts = np.asarray(val)
        x = np.arange(len(classes), dtype=float)
        self.train_bars.setOpts(x=x - 0.2, height=self.train_counts.astype(float), width=0.4)
        self.val_bars.setOpts(x=x + 0.2, height=self.val_counts.astype(float), width=0.4)
        step = max(1, len(classes) // 20)
        ticks = [(float(i), str(c)[:12]) for i, c in enumerate(classes) if i % step == 0]
        self.plot.getAxis("bottom").setTicks([ticks])
        self.plot.setXRange(-0.7, max(len(classes) - 0.3, 0.7), padding=0)
        top = float(max(self.train_counts.max(initial=0), self.val_counts.max(initial=0), 1))
        self.plot.setYRange(0, top * 1.1, padding=0)
        self.note.setText(imbalance_note(self.classes, self.train_counts + self.val_counts))


def grid_image(tiles: Sequence[np.ndarray], cols: int, pad: int = 2) -> np.ndarray:
    """Tile (C, H, W) uint8 images into one (H', W') or (H', W', 3) array, row by row."""
    if not len(tiles):
        return np.zeros((1, 1), dtype=np.uint8)
    c, h, w = tiles[0].shape
    rows = -(-len(tiles) // cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 40, dtype=np.uint8)
    for k, t in enumerate(tiles):
        r, q = divmod(k, cols)
        a = t.transpose(1, 2, 0)
        if a.shape[2] == 1:
            a = np.repeat(a, 3, axis=2)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        out[y:y + h, x:x + w] = a[:, :, :3]
    return out


class ImageGridView(QLabel):
    """One pixmap holding a tiled grid, scaled to fit (nearest-neighbour, so small images stay crisp)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(120, 120)
        self._pix: QPixmap | None = None
        self.array: np.ndarray | None = None

    def set_array(self, a: np.ndarray) -> None:
        self.array = a
        self._pix = QPixmap.fromImage(to_qimage(a))
        self._rescale()

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(ev)
        self._rescale()

    def _rescale(self) -> None:
        if self._pix is None:
            return
        self.setPixmap(self._pix.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                        Qt.TransformationMode.FastTransformation))
