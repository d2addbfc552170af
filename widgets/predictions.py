"""Annotate a classifier's "predictions" grid: each cell scaled up, framed green (right) or red (wrong),
with the predicted (and, when wrong, the true) label underneath. Pure QPainter on a QImage."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

RIGHT = QColor(46, 160, 67)
WRONG = QColor(220, 38, 38)
BG = QColor(250, 250, 250)


def grid_layout(h: int, w: int, n: int, extra: dict[str, Any] | None = None) -> tuple[int, int, int, int, int]:
    """(rows, cols, cell_h, cell_w, padding) of an ``n``-cell grid image of size ``h`` x ``w``.

    Uses ``extra["nrow"]`` (cells per row, torchvision ``make_grid`` sense) and ``extra["padding"]``
    when the engine gives them, else infers a near-square layout and the padding that fits.
    """
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
) -> np.ndarray:
    """An RGB uint8 array: the grid's cells enlarged to ``cell_px``, framed and labelled."""
    n = min(len(labels), len(predicted))
    if n == 0:
        return _to_rgb(image)
    rgb = _to_rgb(image)
    rows, cols, ch, cw, pad = grid_layout(rgb.shape[0], rgb.shape[1], n, extra)
    names = [str(c) for c in (class_names or (extra or {}).get("classes") or (extra or {}).get("class_names") or [])]
    text_h = max(14, cell_px // 4)
    gap = 6
    box_w, box_h = cell_px + gap, cell_px + text_h + gap
    out = QImage(cols * box_w + gap, rows * box_h + gap, QImage.Format.Format_RGB888)
    out.fill(BG)
    painter = QPainter(out)
    try:
        font = QFont()
        font.setPixelSize(max(9, text_h - 4))
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
            target = QRect(bx, by, cell_px, cell_px)
            painter.drawImage(target, qcell.scaled(cell_px, cell_px, Qt.AspectRatioMode.IgnoreAspectRatio,
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

            text = name(int(predicted[i])) if ok else f"{name(int(predicted[i]))} (true {name(int(labels[i]))})"
            painter.setPen(color)
            rect = QRect(bx - gap // 2, by + cell_px, cell_px + gap, text_h)
            text = painter.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, rect.width())
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    finally:
        painter.end()
    ptr = out.constBits()
    arr = np.frombuffer(ptr, dtype=np.uint8).reshape(out.height(), out.bytesPerLine())
    return arr[:, : out.width() * 3].reshape(out.height(), out.width(), 3).copy()
