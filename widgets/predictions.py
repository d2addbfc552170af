"""Annotate a classifier's "predictions" grid: each cell scaled up, framed green (right) or red (wrong),
with the predicted (and, when wrong, the true) label underneath. Pure QPainter on a QImage."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

RIGHT = QColor(46, 160, 67)
WRONG = QColor(220, 38, 38)
BG = QColor(250, 250, 250)


def grid_layout(h: int, w: int, n: int, extra: dict[str, Any] | None = None,
                grid: Any = None) -> tuple[int, int, int, int, int]:
    """(rows, cols, cell_h, cell_w, padding) of an ``n``-cell grid image of size ``h`` x ``w``.

    ``grid`` (the event's :class:`engine.train.events.GridGeometry`) is the truth when the engine sends
    it and it fits the image; older events fall back to ``extra["nrow"]``/``extra["padding"]``, then to
    a guess (near-square, the padding that fits).
    """
    if grid is not None:
        gh, gw = grid.image_size()
        if (gh, gw) == (h, w) and grid.cell_h > 0 and grid.cell_w > 0:
            return grid.rows, grid.cols, grid.cell_h, grid.cell_w, grid.padding
    extra = extra or {}
    if n < 1:
        raise ValueError("a predictions grid needs at least one cell")
    cols = int(extra.get("nrow") or extra.get("cols") or math.ceil(math.sqrt(n)))
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    pads = [int(extra["padding"])] if "padding" in extra else [2, 0, 1, 3, 4]
    for pad in pads:
        if (h - pad) % rows == 0 and (w - pad) % cols == 0:
            ch, cw = (h - pad) // rows - pad, (w - pad) // cols - pad
            if ch > 0 and cw > 0 and (ch == cw or "padding" in extra):
                return rows, cols, ch, cw, pad
    return rows, cols, h // rows, w // cols, 0


@dataclass(frozen=True)
class TileMetrics:
    """Where :func:`render_predictions` draws each tile: the cell image scaled to ``px_h`` x ``px_w``
    (longer side ``cell_px``), one or two ``line_h`` text lines under it, boxes ``box_w`` x ``box_h``."""

    px_h: int
    px_w: int
    line_h: int
    gap: int
    box_w: int
    box_h: int

    def image_origin(self, i: int, cols: int) -> tuple[int, int]:
        """(x, y) of tile ``i``'s image in the rendered picture."""
        r, c = divmod(i, cols)
        bx, by = self.gap + c * self.box_w, self.gap + r * self.box_h
        return bx + (self.box_w - self.gap - self.px_w) // 2, by


def tile_metrics(cell_h: int, cell_w: int, cell_px: int = 64, two_lines: bool = False) -> TileMetrics:
    scale = cell_px / max(cell_h, cell_w)
    px_h, px_w = max(1, round(cell_h * scale)), max(1, round(cell_w * scale))
    line_h = max(13, cell_px // 5)
    gap = 6
    text_h = line_h * (2 if two_lines else 1)
    return TileMetrics(px_h, px_w, line_h, gap, max(px_w, 48) + gap, px_h + text_h + gap)


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a (H, W) or (H, W, 3) image, got shape {image.shape}")
    return np.ascontiguousarray(image.astype(np.uint8, copy=False))


def _qimage(rgb: np.ndarray) -> QImage:
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def render_predictions(
    image: np.ndarray,
    labels: Sequence[int],
    predicted: Sequence[int],
    class_names: Sequence[str] | None = None,
    extra: dict[str, Any] | None = None,
    cell_px: int = 64,
    grid: Any = None,
) -> np.ndarray:
    """An RGB uint8 array: the grid's cells enlarged to ``cell_px`` (longer side, aspect kept), framed,
    and labelled underneath: the prediction, and on a second line the true label when it is wrong."""
    n = min(len(labels), len(predicted))
    if n == 0:
        return _to_rgb(image)
    rgb = _to_rgb(image)
    rows, cols, ch, cw, pad = grid_layout(rgb.shape[0], rgb.shape[1], n, extra, grid)
    if grid is not None:
        n = min(n, grid.n)
    names = [str(c) for c in (class_names or (extra or {}).get("classes") or (extra or {}).get("class_names") or [])]
    any_wrong = any(int(labels[i]) != int(predicted[i]) for i in range(n))
    m = tile_metrics(ch, cw, cell_px, two_lines=any_wrong)
    px_h, px_w, line_h, gap, box_w, box_h = m.px_h, m.px_w, m.line_h, m.gap, m.box_w, m.box_h
    out = QImage(cols * box_w + gap, rows * box_h + gap, QImage.Format.Format_RGB888)
    out.fill(BG)
    painter = QPainter(out)
    try:
        font = QFont()
        font.setPixelSize(max(9, line_h - 3))
        font.setBold(True)
        painter.setFont(font)
        for i in range(n):
            r, c = divmod(i, cols)
            y0, x0 = pad + r * (ch + pad), pad + c * (cw + pad)
            cell = rgb[y0 : y0 + ch, x0 : x0 + cw]
            if cell.size == 0:
                continue
            qcell = _qimage(np.ascontiguousarray(cell))
            bx, by = gap + c * box_w, gap + r * box_h
            tx, ty = m.image_origin(i, cols)
            target = QRect(tx, ty, px_w, px_h)
            painter.drawImage(target, qcell.scaled(px_w, px_h, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                   Qt.TransformationMode.FastTransformation))
            ok = int(labels[i]) == int(predicted[i])
            color = RIGHT if ok else WRONG
            pen = QPen(color)
            pen.setWidth(3)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(target.adjusted(1, 1, -2, -2))

            def name(k: int) -> str:
                return names[k] if 0 <= k < len(names) else str(k)

            painter.setPen(color)
            lines = [name(int(predicted[i]))] + ([] if ok else [f"true {name(int(labels[i]))}"])
            for j, text in enumerate(lines):
                rect = QRect(bx - gap // 2, by + px_h + j * line_h, box_w, line_h)
                text = painter.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, rect.width())
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    finally:
        painter.end()
    ptr = out.constBits()
    arr = np.frombuffer(ptr, dtype=np.uint8).reshape(out.height(), out.bytesPerLine())
    return arr[:, : out.width() * 3].reshape(out.height(), out.width(), 3).copy()
