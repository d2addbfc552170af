"""Events the runner emits: small, immutable, picklable (they cross a process pipe).

Consumers (CLI progress, the studio's bridge, tests) switch on the class. Arrays are numpy,
never tensors, so no consumer needs torch to read an event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Event:
    t: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True)
class Started(Event):
    run_dir: str
    device: str
    trainer: str  # "supervised" | "gan" | "vae"
    epochs: int
    steps_per_epoch: int
    start_epoch: int = 0  # > 0 when resuming
    start_step: int = 0
    total_params: int = 0


@dataclass(frozen=True)
class Progress(Event):
    """Emitted a few times a second (not every step): values averaged since the last one."""

    epoch: int  # 0-based
    step: int  # step within epoch, 1-based
    global_step: int
    total_steps: int
    lr: float
    samples_per_sec: float
    eta_s: float
    metrics: dict[str, float]  # e.g. {"loss": ...} or {"d_loss":..,"g_loss":..,"d_x":..,"d_gz":..}


@dataclass(frozen=True)
class EpochEnd(Event):
    epoch: int
    global_step: int
    lr: float
    wall_s: float
    metrics: dict[str, float]  # train_loss, val_loss, val_accuracy, val_f1, ... / recon, kl / d_loss, g_loss


@dataclass(frozen=True)
class GridGeometry:
    """How a grid image is laid out, so a viewer never guesses: ``n`` cells in ``rows`` x ``cols``
    (row-major, the last row may be short), each ``cell_h`` x ``cell_w`` pixels, with ``padding``
    pixels before every cell and after the last one on both axes (torchvision ``make_grid``)."""

    rows: int
    cols: int
    cell_h: int
    cell_w: int
    padding: int
    n: int

    def cell_box(self, i: int) -> tuple[int, int, int, int]:
        """(y0, x0, h, w) of cell ``i`` in the grid image."""
        r, c = divmod(i, self.cols)
        return (self.padding + r * (self.cell_h + self.padding), self.padding + c * (self.cell_w + self.padding),
                self.cell_h, self.cell_w)

    def image_size(self) -> tuple[int, int]:
        """(H, W) of the grid image this geometry describes."""
        p = self.padding
        return self.rows * (self.cell_h + p) + p, self.cols * (self.cell_w + p) + p


@dataclass(frozen=True)
class Samples(Event):
    """An image grid to show: GAN samples, VAE reconstructions/samples, classifier predictions."""

    kind: str  # "gan" | "vae_recon" | "vae_samples" | "vae_latent_map" | "predictions"
    epoch: int
    global_step: int
    image: np.ndarray  # uint8, (H, W) grey or (H, W, 3) RGB
    path: str | None = None  # where it was written on disk, if it was
    # for "predictions": per-cell labels so the view can annotate
    labels: tuple[int, ...] = ()
    predicted: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. latent scatter {"xy": ndarray, "y": ndarray}
    grid: GridGeometry | None = None  # the image's layout, when it is a grid of cells


@dataclass(frozen=True)
class Log(Event):
    message: str
    level: str = "info"  # "debug" | "info" | "warning" | "error"


@dataclass(frozen=True)
class CheckpointSaved(Event):
    path: str
    epoch: int
    global_step: int
    kind: str  # "last" | "best" | "periodic"


@dataclass(frozen=True)
class Diagnostic(Event):
    code: str  # "nan_loss" | "mode_collapse" | "d_overpowering" | "lr_too_high" | ...
    message: str  # plain language: what happened
    suggestion: str  # plain language: what to try
    severity: str = "warning"  # "info" | "warning" | "error"
    global_step: int = 0


@dataclass(frozen=True)
class Error(Event):
    message: str  # one plain sentence for the user
    details: str = ""  # traceback text, for the "details" expander and the log file
    kind: str = "exception"  # "exception" | "nan" | "oom" | "bad_project"


@dataclass(frozen=True)
class Paused(Event):
    global_step: int


@dataclass(frozen=True)
class Resumed(Event):
    global_step: int


@dataclass(frozen=True)
class Finished(Event):
    status: str  # "completed" | "stopped" | "early_stopped" | "failed"
    epochs_run: int
    global_step: int
    wall_s: float
    best_epoch: int | None = None
    final: dict[str, float] = field(default_factory=dict)
    checkpoints: dict[str, str] = field(default_factory=dict)  # {"last": path, "best": path}
    history: tuple[dict[str, float], ...] = ()  # per-epoch metrics (what EpochEnd carried, plus "epoch", "lr", "wall_s")


@dataclass(frozen=True)
class JobProgress(Event):
    """Progress of a job that is not a training loop (export, quantize, compare, ...)."""

    job: str  # the job's kind: "export", "quantize", "prune", ...
    stage: str  # what it is doing now, in a few words
    fraction: float  # 0..1 of the whole job
    message: str = ""


@dataclass(frozen=True)
class JobResult(Event):
    """What a job produced (files, comparison rows), emitted just before its ``Finished``."""

    job: str
    result: dict[str, Any]
