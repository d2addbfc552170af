"""Callbacks hook into the one loop (Lightning style). Hooks:

- ``on_train_start(loop)``
- ``on_step_end(loop, logs)``: only at sync points (a few times a second), with float logs
- ``on_epoch_end(loop, epoch, metrics)``: after validation; ``metrics`` are floats
- ``on_train_end(loop, status)``: status is "completed" | "stopped" | "early_stopped"
- ``state_dict()`` / ``load_state_dict()``: saved in checkpoints for exact resume
- ``close()``: always called (also after a failure)

The loop object offers: ``emit(event)``, ``log(msg, level)``, ``trainer``, ``project``, ``run_dir``,
``history``, ``epoch``, ``global_step``, ``request_stop(status)``, ``save_checkpoint(kind)``,
``monitor``/``monitor_mode`` and ``checkpoint_paths``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .events import Diagnostic
from .history import TensorBoardWriter, write_history_csv


def higher_is_better(metric: str) -> bool:
    m = metric.lower()
    return any(k in m for k in ("acc", "f1", "precision", "recall", "auc", "d_x"))


def resolve_mode(metric: str, mode: str) -> str:
    return mode if mode in ("min", "max") else ("max" if higher_is_better(metric) else "min")


class Monitor:
    """Tracks the best value of one metric (``min``/``max``) with a minimum improvement."""

    def __init__(self, name: str, mode: str = "auto", min_delta: float = 0.0):
        self.name = name
        self.mode = resolve_mode(name, mode)
        self.min_delta = float(min_delta)
        self.best: float | None = None
        self.best_epoch: int | None = None

    def is_improvement(self, value: float) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float, epoch: int) -> bool:
        if self.is_improvement(value):
            self.best, self.best_epoch = float(value), int(epoch)
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.best, self.best_epoch = s.get("best"), s.get("best_epoch")


class Callback:
    name = "callback"

    def on_train_start(self, loop: Any) -> None: ...

    def on_step_end(self, loop: Any, logs: dict[str, float]) -> None: ...

    def on_epoch_end(self, loop: Any, epoch: int, metrics: dict[str, float]) -> None: ...

    def on_train_end(self, loop: Any, status: str) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class SamplesCallback(Callback):
    """Emits the trainer's sample grids (classifier predictions, GAN/VAE images) at each epoch end."""

    name = "samples"

    def on_epoch_end(self, loop, epoch, metrics):
        for s in loop.trainer.samples(epoch, loop.global_step):
            loop.emit(s)
            loop.last_samples[s.kind] = s


class HistoryCallback(Callback):
    """history.csv after every epoch; TensorBoard scalars when available."""

    name = "history"

    def __init__(self, tensorboard: bool = True):
        self.tensorboard = tensorboard
        self.tb: TensorBoardWriter | None = None

    def on_train_start(self, loop):
        if self.tensorboard:
            self.tb = TensorBoardWriter(Path(loop.run_dir) / "tensorboard")
            if not self.tb.available:
                loop.log(self.tb.reason, "debug")

    def on_step_end(self, loop, logs):
        if self.tb is not None:
            self.tb.scalars(logs, loop.global_step, "step/")

    def on_epoch_end(self, loop, epoch, metrics):
        write_history_csv(Path(loop.run_dir) / "history.csv", loop.history)
        if self.tb is not None:
            self.tb.scalars({**metrics, "lr": loop.trainer.current_lr()}, epoch + 1, "epoch/")
            self.tb.flush()

    def close(self):
        if self.tb is not None:
            self.tb.close()


class EarlyStopping(Callback):
    """Stops when the monitored metric has not improved by ``min_delta`` for ``patience`` epochs;
    optionally restores the best weights at the end (kept in memory; from best.pt after a resume)."""

    name = "early_stopping"

    def __init__(self, monitor: str, mode: str = "auto", patience: int = 3, min_delta: float = 0.0,
                 restore_best: bool = True):
        self.m = Monitor(monitor, mode, min_delta)
        self.patience = int(patience)
        self.restore_best = restore_best
        self.wait = 0
        self.best_state: dict[str, dict[str, Any]] | None = None
        self._warned = False

    def on_epoch_end(self, loop, epoch, metrics):
        value = metrics.get(self.m.name)
        if value is None:
            if not self._warned:
                loop.log(f"early stopping: metric {self.m.name!r} is not reported "
                         f"(have: {', '.join(sorted(metrics))}); early stopping is off", "warning")
                self._warned = True
            return
        if self.m.update(value, epoch):
            self.wait = 0
            if self.restore_best:
                self.best_state = {n: {k: v.detach().clone() for k, v in m.state_dict().items()}
                                   for n, m in loop.trainer.modules().items()}
            return
        self.wait += 1
        if self.wait >= max(1, self.patience):
            loop.log(f"early stopping: {self.m.name} has not improved for {self.wait} epoch(s) "
                     f"(best {self.m.best:.6g} at epoch {self.m.best_epoch + 1})")
            loop.request_stop("early_stopped")

    def on_train_end(self, loop, status):
        if not self.restore_best or self.m.best_epoch is None or status not in ("completed", "early_stopped"):
            return
        if loop.history and self.m.best_epoch == loop.history[-1].get("epoch"):
            return  # the last epoch is the best: nothing to restore
        state = self.best_state
        if state is None:  # resumed run: the best weights are in best.pt
            best = loop.checkpoint_paths.get("best")
            if not best or not Path(best).is_file():
                return
            from .checkpoint import load_checkpoint

            state = load_checkpoint(best)["trainer"].get("models")
            if not state:
                return
        for n, m in loop.trainer.modules().items():
            if n in state:
                m.load_state_dict(state[n])
        loop.restored_epoch = self.m.best_epoch
        loop.log(f"restored the best weights (epoch {self.m.best_epoch + 1}, {self.m.name}={self.m.best:.6g})")

    def state_dict(self):
        return {**self.m.state_dict(), "wait": self.wait}

    def load_state_dict(self, s):
        self.m.load_state_dict(s)
        self.wait = int(s.get("wait", 0))


class CheckpointCallback(Callback):
    """``last.pt`` every ``every`` epochs (and at the end), ``best.pt`` when the monitored metric improves."""

    name = "checkpoint"

    def __init__(self, monitor: str, mode: str = "auto", every: int = 1, min_delta: float = 0.0,
                 fallback: str | None = None):
        self.m = Monitor(monitor, mode, min_delta)
        self.every = max(1, int(every))
        self.fallback = fallback  # the trainer's default metric, if ``monitor`` is never reported

    def on_epoch_end(self, loop, epoch, metrics):
        value = metrics.get(self.m.name)
        if value is None and self.fallback and self.fallback in metrics and self.m.best is None:
            loop.log(f"best checkpoint: {self.m.name!r} is not reported; watching {self.fallback!r} instead",
                     "warning")
            self.m = Monitor(self.fallback, "auto", self.m.min_delta)
            value = metrics[self.fallback]
        if value is not None and self.m.update(value, epoch):
            loop.save_checkpoint("best")
        if (epoch + 1) % self.every == 0:
            loop.save_checkpoint("last")

    def state_dict(self):
        return {**self.m.state_dict(), "name": self.m.name, "mode": self.m.mode}

    def load_state_dict(self, s):
        if s.get("name") and s["name"] != self.m.name:
            self.m = Monitor(s["name"], s.get("mode", "auto"), self.m.min_delta)
        self.m.load_state_dict(s)


class DiagnosticsCallback(Callback):
    """Plain-language hints from the epoch metrics (each emitted once per run)."""

    name = "diagnostics"

    def __init__(self):
        self.sent: set[str] = set()

    def _send(self, loop, code: str, message: str, suggestion: str, severity: str = "warning") -> None:
        if code in self.sent:
            return
        self.sent.add(code)
        loop.emit(Diagnostic(code=code, message=message, suggestion=suggestion, severity=severity,
                             global_step=loop.global_step))

    def on_epoch_end(self, loop, epoch, metrics):
        h = loop.history
        if len(h) >= 2 and "train_loss" in h[-1] and "train_loss" in h[-2]:
            a, b = h[-2]["train_loss"], h[-1]["train_loss"]
            if b > a * 1.5 and b - a > 1e-3:
                self._send(loop, "lr_too_high", f"the training loss rose from {a:.4g} to {b:.4g} in epoch {epoch + 1}",
                           "lower the learning rate, add warm-up, or enable gradient clipping")
        if len(h) >= 4 and all("val_loss" in r and "train_loss" in r for r in h[-4:]):
            v = [r["val_loss"] for r in h[-4:]]
            t = [r["train_loss"] for r in h[-4:]]
            if v[0] < v[1] < v[2] < v[3] and t[0] > t[1] > t[2] > t[3]:
                self._send(loop, "overfitting",
                           "the validation loss has risen for 3 epochs while the training loss keeps falling",
                           "enable early stopping, add augmentation, dropout or weight decay", "info")
        nc = getattr(getattr(loop.trainer, "data", None), "num_classes", 0)
        if len(h) >= 3 and nc and "val_accuracy" in metrics and loop.project.train.task == "classification":
            if metrics["val_accuracy"] <= 1.5 / nc:
                self._send(loop, "stuck_at_chance",
                           f"after {len(h)} epochs the validation accuracy ({metrics['val_accuracy']:.1%}) is "
                           "about what guessing gives",
                           "check the learning rate (try 1e-3 with Adam), the model's output size and the data")

    def state_dict(self):
        return {"sent": sorted(self.sent)}

    def load_state_dict(self, s):
        self.sent = set(s.get("sent", []))
