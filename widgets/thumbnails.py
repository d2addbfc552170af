"""A thumbnail grid that stays smooth over 100,000 images: one ``QListView`` over a list model, never a
widget per image.

The model knows only how many rows there are and how to ask for row ``r``'s pixels (``fetch(index) ->
uint8 array | None``). ``data()`` for a row not yet cached queues a request and returns a placeholder;
background threads decode newest-first (the rows on screen now, not the ones scrolled past) and pause
while the view is being scrolled (painting gets the CPU and the GIL; what is on screen when scrolling
stops is decoded at once), a timer
on the Qt thread turns finished arrays into ``QImage``s (an LRU cache) and announces them with one
``dataChanged`` per batch. The view uses uniform item sizes and batched layout, so Qt never measures
100,000 items. Rows (source indices, kept sorted) may be filtered (``set_rows``) without touching the cache.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

ThumbFetch = Callable[[int], "np.ndarray | None"]

INDEX_ROLE = Qt.ItemDataRole.UserRole + 1  # the source index of a row
LABEL_ROLE = Qt.ItemDataRole.UserRole + 2  # the class name
STATE_ROLE = Qt.ItemDataRole.UserRole + 3  # "ready" | "loading" | "failed"
MAX_PENDING = 1024  # older requests (rows scrolled past) are dropped first
SCROLL_HOLD_S = 0.06  # decoding resumes this long after the last scroll step
DRAIN_BUDGET_S = 0.006  # per timer tick, turning decoded arrays into QImages


def to_qimage(a: np.ndarray) -> QImage:
    """A deep-copied QImage of a uint8 (H, W) or (H, W, 3) array."""
    a = np.ascontiguousarray(a)
    h, w = a.shape[:2]
    if a.ndim == 2:
        return QImage(a.data, w, h, a.strides[0], QImage.Format.Format_Grayscale8).copy()
    if a.shape[2] == 4:
        a = np.ascontiguousarray(a[:, :, :3])
    return QImage(a.data, w, h, a.strides[0], QImage.Format.Format_RGB888).copy()


class _Decoder:
    """Worker threads that run ``fetch`` newest-request-first; results wait in ``done`` for the Qt thread."""

    def __init__(self, fetch: ThumbFetch, workers: int = 2):
        self.fetch = fetch
        self.pending: deque[int] = deque()
        self.queued: set[int] = set()
        self.done: deque[tuple[int, np.ndarray | None]] = deque()
        self.cv = threading.Condition()
        self.stopped = False
        self.hold_until = 0.0  # while the user scrolls, decoding waits: painting gets the CPU (and the GIL)
        self.threads = [threading.Thread(target=self._run, name=f"layerlab-thumbs-{k}", daemon=True)
                        for k in range(workers)]
        for t in self.threads:
            t.start()

    def request(self, index: int) -> None:
        with self.cv:
            if index in self.queued:
                return
            self.queued.add(index)
            self.pending.append(index)
            while len(self.pending) > MAX_PENDING:
                self.queued.discard(self.pending.popleft())
            self.cv.notify()

    def hold(self, seconds: float) -> None:
        self.hold_until = time.monotonic() + seconds

    def forget_pending(self) -> None:
        with self.cv:
            self.pending.clear()
            self.queued.clear()

    def _run(self) -> None:
        while True:
            with self.cv:
                while not self.pending and not self.stopped:
                    self.cv.wait()
                if self.stopped:
                    return
                wait = self.hold_until - time.monotonic()
                if wait > 0:
                    self.cv.wait(wait)
                    continue
                index = self.pending.pop()  # newest first: what is on screen now
            try:
                arr = self.fetch(index)
            except Exception:  # noqa: BLE001 - a file that cannot be read shows as "failed", never kills the grid
                arr = None
            with self.cv:
                self.queued.discard(index)
            self.done.append((index, arr))

    def stop(self) -> None:
        with self.cv:
            self.stopped = True
            self.pending.clear()
            self.cv.notify_all()


class ThumbnailModel(QAbstractListModel):
    """Rows are source indices (``set_rows``); thumbnails come from ``fetch`` in the background."""

    thumbnailsReady = Signal(int)  # how many arrived in the last batch

    def __init__(self, fetch: ThumbFetch | None = None, *, labels: Sequence[str] | None = None,
                 cache_size: int = 4000, workers: int = 2, parent=None):
        super().__init__(parent)
        self._rows = np.zeros(0, dtype=np.int64)
        self._labels: Sequence[str] = labels or ()
        self._cache: OrderedDict[int, QImage | None] = OrderedDict()
        self.cache_size = cache_size
        self._workers = workers
        self._decoder: _Decoder | None = None
        self._fetch = fetch
        self._timer = QTimer(self)
        self._timer.setInterval(33)
        self._timer.timeout.connect(self._drain)
        if fetch is not None:
            self.set_source(fetch, labels)

    # -- configuration --------------------------------------------------------------------
    def set_source(self, fetch: ThumbFetch | None, labels: Sequence[str] | None = None,
                   rows: np.ndarray | None = None) -> None:
        """A new dataset: the cache is dropped and the old decoder stops."""
        self.beginResetModel()
        if self._decoder is not None:
            self._decoder.stop()
            self._decoder = None
        self._fetch = fetch
        self._labels = labels or ()
        self._cache.clear()
        self._rows = np.sort(np.asarray(rows if rows is not None else np.zeros(0, dtype=np.int64), dtype=np.int64))
        if fetch is not None:
            self._decoder = _Decoder(fetch, self._workers)
            self._timer.start()
        else:
            self._timer.stop()
        self.endResetModel()

    def set_rows(self, rows: np.ndarray) -> None:
        """Show these source indices (a filter); cached thumbnails are kept."""
        self.beginResetModel()
        self._rows = np.sort(np.asarray(rows, dtype=np.int64))
        if self._decoder is not None:
            self._decoder.forget_pending()
        self.endResetModel()

    def rows(self) -> np.ndarray:
        return self._rows

    def hold_decoding(self, seconds: float = SCROLL_HOLD_S) -> None:
        """Pause background decoding briefly (called while the view scrolls)."""
        if self._decoder is not None:
            self._decoder.hold(seconds)

    def shutdown(self) -> None:
        self._timer.stop()
        if self._decoder is not None:
            self._decoder.stop()
            self._decoder = None

    # -- Qt model API ---------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        src = int(self._rows[index.row()])
        if role == Qt.ItemDataRole.DecorationRole:
            if src in self._cache:
                self._cache.move_to_end(src)
                return self._cache[src]
            if self._decoder is not None:
                self._decoder.request(src)
            return None
        if role == INDEX_ROLE:
            return src
        if role in (LABEL_ROLE, Qt.ItemDataRole.DisplayRole):
            return self._labels[src] if src < len(self._labels) else ""
        if role == Qt.ItemDataRole.ToolTipRole:
            lab = self._labels[src] if src < len(self._labels) else ""
            return f"#{src}  {lab}"
        if role == STATE_ROLE:
            if src not in self._cache:
                return "loading"
            return "failed" if self._cache[src] is None else "ready"
        return None

    # -- background results -----------------------------------------------------------------
    def _drain(self) -> None:
        dec = self._decoder
        if dec is None or not dec.done:
            return
        t_end = time.perf_counter() + DRAIN_BUDGET_S  # leave the rest of the frame to painting
        srcs = []
        while dec.done and time.perf_counter() < t_end:
            src, arr = dec.done.popleft()
            self._cache[src] = to_qimage(arr) if arr is not None else None
            srcs.append(src)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        if srcs:
            rows = self._rows_of(np.asarray(srcs, dtype=np.int64))
            if len(rows):
                self.dataChanged.emit(self.index(int(rows.min())), self.index(int(rows.max())),
                                      [Qt.ItemDataRole.DecorationRole])
        self.thumbnailsReady.emit(len(srcs))

    def _rows_of(self, srcs: np.ndarray) -> np.ndarray:
        """Rows showing these source indices (rows are kept sorted, so a binary search; no 100k-entry dict)."""
        r = self._rows
        if not len(r):
            return np.zeros(0, dtype=np.int64)
        pos = np.searchsorted(r, srcs)
        pos = np.clip(pos, 0, len(r) - 1)
        return pos[r[pos] == srcs]

    def cached(self, src: int) -> bool:
        return src in self._cache


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints a cached thumbnail (or a grey placeholder) and its class name; no per-item widgets."""

    def __init__(self, cell: int, parent=None):
        super().__init__(parent)
        self.cell = cell

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802 - Qt API
        return QSize(self.cell + 8, self.cell + 22)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        r = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            p.fillRect(r, option.palette.highlight())
        img = index.data(Qt.ItemDataRole.DecorationRole)
        box = QRect(r.x() + 4, r.y() + 4, self.cell, self.cell)
        if isinstance(img, QImage) and not img.isNull():
            scaled = img.size().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, scaled.width(), scaled.height())
            target.moveCenter(box.center())
            p.drawImage(target, img)
        else:
            state = index.data(STATE_ROLE)
            p.fillRect(box, QColor(60, 60, 60) if state != "failed" else QColor(110, 40, 40))
            if state == "failed":
                p.setPen(QPen(QColor(240, 200, 200)))
                p.drawText(box, Qt.AlignmentFlag.AlignCenter, "unreadable")
        p.setPen(option.palette.highlightedText().color() if selected else option.palette.text().color())
        p.drawText(QRect(r.x() + 2, r.y() + self.cell + 5, r.width() - 4, 16),
                   Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter,
                   p.fontMetrics().elidedText(str(index.data(LABEL_ROLE) or ""), Qt.TextElideMode.ElideRight,
                                              r.width() - 4))


class ThumbnailGrid(QListView):
    """The grid: list mode flowing left-to-right with wrapping and uniform item sizes (Qt then computes
    positions arithmetically), batched layout, and a delegate that paints from the model's cache."""

    sampleActivated = Signal(int)  # the source index of a clicked thumbnail

    def __init__(self, model: ThumbnailModel | None = None, cell: int = 64, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        self.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.delegate = ThumbnailDelegate(cell, self)
        self.setItemDelegate(self.delegate)
        self.setGridSize(QSize(cell + 8, cell + 22))
        self.setMovement(QListView.Movement.Static)
        self.thumbs = model or ThumbnailModel(parent=self)
        self.setModel(self.thumbs)
        self.clicked.connect(self._clicked)
        self.verticalScrollBar().valueChanged.connect(lambda _v: self.thumbs.hold_decoding())

    def _clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.sampleActivated.emit(int(index.data(INDEX_ROLE)))
