"""Live sample grid: the newest image per kind (GAN samples, VAE reconstructions, classifier
predictions), a timeline slider to scrub back through earlier grids (bounded in memory), and
"Export as GIF…" via imageio."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from engine.train.events import Samples

from .predictions import render_predictions

KIND_TITLES = {
    "predictions": "Predictions (validation)",
    "gan": "Generator samples",
    "vae_recon": "Reconstructions",
    "vae_samples": "Samples from the prior",
    "vae_latent_map": "Latent map",
}


@dataclass(frozen=True)
class Frame:
    epoch: int
    global_step: int
    image: np.ndarray  # what is shown: uint8 (H, W) or (H, W, 3)


class SampleTimeline:
    """Frames per kind, each kind a deque bounded by ``max_frames`` and ``max_bytes``."""

    def __init__(self, max_frames: int = 200, max_bytes: int = 64 * 1024 * 1024):
        self.max_frames = max(2, int(max_frames))
        self.max_bytes = int(max_bytes)
        self.kinds: dict[str, deque[Frame]] = {}

    def add(self, kind: str, frame: Frame) -> deque[Frame]:
        dq = self.kinds.get(kind)
        per_frame = max(1, frame.image.nbytes)
        cap = max(2, min(self.max_frames, self.max_bytes // per_frame))
        if dq is None or dq.maxlen != cap:
            dq = deque(dq or (), maxlen=cap)
            self.kinds[kind] = dq
        dq.append(frame)
        return dq

    def frames(self, kind: str) -> list[Frame]:
        return list(self.kinds.get(kind, ()))

    def clear(self) -> None:
        self.kinds.clear()

    def nbytes(self) -> int:
        return sum(f.image.nbytes for dq in self.kinds.values() for f in dq)


def export_gif(frames: list[Frame], path: str | Path, fps: float = 4.0) -> Path:
    """Write ``frames`` (same-shaped images) as a looping GIF; returns the path."""
    import imageio.v3 as iio

    if not frames:
        raise ValueError("there are no sample grids to export yet")
    shape = frames[-1].image.shape
    imgs = [f.image for f in frames if f.image.shape == shape]
    path = Path(path)
    if path.suffix.lower() != ".gif":
        path = path.with_suffix(".gif")
    iio.imwrite(path, np.stack(imgs), extension=".gif", duration=int(1000 / fps), loop=0)
    return path


class SampleGrid(QWidget):
    """Shows Samples events; ``exportRequested(kind)`` asks the app for a GIF path."""

    exportRequested = Signal(str)
    frameShown = Signal(str, int)  # kind, index

    def __init__(self, parent: QWidget | None = None, max_frames: int = 200):
        super().__init__(parent)
        self.timeline = SampleTimeline(max_frames)
        self.class_names: list[str] = []
        self.kind_box = QComboBox()
        self.kind_box.setToolTip("Which kind of image grid to show")
        self.kind_box.currentIndexChanged.connect(self._kind_changed)
        self.title = QLabel("No samples yet — they appear here while training.")
        self.title.setWordWrap(True)
        self.view = pg.GraphicsLayoutWidget()
        self.view.ci.setContentsMargins(0, 0, 0, 0)
        self.vb = self.view.addViewBox(lockAspect=True, invertY=True, enableMouse=True)
        self.vb.setMenuEnabled(False)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.image_item)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setEnabled(False)
        self.slider.setToolTip("Scrub back through earlier grids")
        self.slider.valueChanged.connect(self._slider_moved)
        self.pos_label = QLabel("")
        self.export_btn = QPushButton("Export as GIF…")
        self.export_btn.setEnabled(False)
        self.export_btn.clicked.connect(lambda: self.exportRequested.emit(self.current_kind() or ""))
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.kind_box)
        bottom = QHBoxLayout()
        bottom.addWidget(self.pos_label, 1)
        bottom.addWidget(self.export_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.slider)
        lay.addLayout(bottom)
        self.kind_box.setVisible(False)
        self.slider.setVisible(False)
        self._follow = True  # keep showing the newest frame unless the user scrubbed back

    # -- feeding ---------------------------------------------------------------------------
    def add_samples(self, ev: Samples, show: bool = True) -> None:
        """Add a grid to its kind's timeline; ``show=False`` stores it without drawing (bursts)."""
        img = ev.image
        if ev.kind == "predictions" and ev.labels and ev.predicted:
            img = render_predictions(img, ev.labels, ev.predicted, self.class_names, ev.extra,
                                     grid=getattr(ev, "grid", None))
        elif img.dtype != np.uint8:
            img = np.clip(img, 0, 255).astype(np.uint8)
        dq = self.timeline.add(ev.kind, Frame(ev.epoch, ev.global_step, np.ascontiguousarray(img)))
        if self.kind_box.findData(ev.kind) < 0:
            self.kind_box.blockSignals(True)
            self.kind_box.addItem(KIND_TITLES.get(ev.kind, ev.kind), ev.kind)
            self.kind_box.blockSignals(False)
            self.kind_box.setVisible(self.kind_box.count() > 1)
            if self.kind_box.count() == 1:
                self.kind_box.setCurrentIndex(0)
        if ev.kind != self.current_kind() or not show:
            return
        follow = self._follow or self.slider.value() >= self.slider.maximum()
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(dq) - 1)
        if follow:
            self.slider.setValue(len(dq) - 1)
        self.slider.blockSignals(False)
        self.slider.setEnabled(len(dq) > 1)
        self.slider.setVisible(True)
        self.export_btn.setEnabled(True)
        self._show(self.slider.value())

    def clear(self) -> None:
        self.timeline.clear()
        self.kind_box.clear()
        self.kind_box.setVisible(False)
        self.slider.setRange(0, 0)
        self.slider.setEnabled(False)
        self.slider.setVisible(False)
        self.export_btn.setEnabled(False)
        self.image_item.clear()
        self.title.setText("No samples yet — they appear here while training.")
        self.pos_label.setText("")
        self._follow = True

    # -- view ------------------------------------------------------------------------------
    def current_kind(self) -> str | None:
        return self.kind_box.currentData()

    def frames(self, kind: str | None = None) -> list[Frame]:
        kind = kind or self.current_kind()
        return self.timeline.frames(kind) if kind else []

    def _kind_changed(self, _i: int) -> None:
        frames = self.frames()
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(frames) - 1))
        self.slider.setValue(max(0, len(frames) - 1))
        self.slider.blockSignals(False)
        self.slider.setEnabled(len(frames) > 1)
        self._follow = True
        if frames:
            self._show(len(frames) - 1)

    def _slider_moved(self, v: int) -> None:
        self._follow = v >= self.slider.maximum()
        self._show(v)

    def _show(self, index: int) -> None:
        kind = self.current_kind()
        frames = self.timeline.kinds.get(kind or "", ())
        if not frames:
            return
        index = max(0, min(index, len(frames) - 1))
        f = frames[index]
        first = self.image_item.image is None
        shape_changed = not first and self.image_item.image.shape[:2] != f.image.shape[:2]
        self.image_item.setImage(f.image, levels=(0, 255), autoLevels=False)
        if first or shape_changed:
            self.vb.autoRange(padding=0.01)
        # with several kinds the selector names the one shown; the title then stays generic
        many = self.kind_box.count() > 1
        self.title.setText("<b>Samples</b>" if many else f"<b>{KIND_TITLES.get(kind, kind)}</b>")
        self.pos_label.setText(f"{index + 1}/{len(frames)} · epoch {f.epoch + 1} · step {f.global_step:,}")
        self.frameShown.emit(kind or "", index)

    def export_gif(self, path: str | Path, kind: str | None = None, fps: float = 4.0) -> Path:
        return export_gif(self.frames(kind), path, fps)
