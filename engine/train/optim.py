"""Optimizers, learning-rate schedules (with linear warm-up) and losses, built from the project document.

Schedules run per optimizer step (epoch-based settings are converted to steps), except ``plateau``,
which steps at each epoch end on the monitored metric. Warm-up is ``LinearLR`` chained with
``SequentialLR``; ``onecycle`` has its own warm-up phase (``pct_start`` = warm-up fraction).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch.optim import lr_scheduler as sched


class TrainConfigError(ValueError):
    """A training setting that cannot work; the message starts with the document path."""


TASK_LOSSES: dict[str, tuple[str, ...]] = {
    "classification": ("cross_entropy",),
    "regression": ("mse", "l1", "huber"),
    "binary": ("bce_with_logits",),
}


def check_task_loss(task: str, loss: str) -> None:
    """Raise ``TrainConfigError`` if ``loss`` does not fit ``task``."""
    allowed = TASK_LOSSES.get(task)
    if allowed is None:
        raise TrainConfigError(f"train.task: {task!r} is not a supervised task (expected {', '.join(TASK_LOSSES)})")
    if loss not in allowed:
        raise TrainConfigError(
            f"train.loss: {loss!r} does not fit task {task!r}; use {' or '.join(allowed)}"
        )


def build_loss(task: str, loss: str, *, label_smoothing: float = 0.0, huber_delta: float = 1.0) -> nn.Module:
    """The loss module for ``task``/``loss`` (validated)."""
    check_task_loss(task, loss)
    if loss == "cross_entropy":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if loss == "mse":
        return nn.MSELoss()
    if loss == "l1":
        return nn.L1Loss()
    if loss == "huber":
        return nn.HuberLoss(delta=huber_delta)
    return nn.BCEWithLogitsLoss()


def build_optimizer(params: Iterable[Any], spec: Any) -> torch.optim.Optimizer:
    """SGD (momentum, nesterov) | Adam | AdamW | RMSprop from an ``OptimizerSpec``."""
    params = list(params)
    if not params:
        raise TrainConfigError("model: the model has no trainable parameters")
    name = spec.name
    if name == "sgd":
        if spec.nesterov and spec.momentum <= 0:
            raise TrainConfigError("train.optimizer.nesterov: Nesterov momentum needs momentum > 0")
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, nesterov=spec.nesterov,
                               weight_decay=spec.weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=spec.lr, betas=tuple(spec.betas), weight_decay=spec.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=spec.lr, betas=tuple(spec.betas), weight_decay=spec.weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=spec.lr, alpha=spec.alpha, momentum=spec.momentum,
                                   weight_decay=spec.weight_decay)
    raise TrainConfigError(f"train.optimizer.name: unknown optimizer {name!r}")


def l1_penalty(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """Sum of |w| over weight tensors (ndim > 1: biases and norm scales are left out)."""
    terms = [p.abs().sum() for p in params if p.ndim > 1]
    return torch.stack(terms).sum() if terms else torch.zeros(())


class LRSchedule:
    """One object for every schedule: ``step_batch()`` after each optimizer step, ``step_epoch(metric)``
    at each epoch end. ``state_dict``/``load_state_dict`` for exact resume."""

    def __init__(self, optimizer: torch.optim.Optimizer, spec: Any, *, steps_per_epoch: int, epochs: int,
                 max_steps: int | None = None):
        self.optimizer = optimizer
        self.name = spec.name
        spe = max(1, int(steps_per_epoch))
        total = spe * int(epochs)
        if max_steps is not None:
            total = min(total, int(max_steps))
        self.total_steps = max(1, total)
        self.warmup_steps = min(int(round(spec.warmup_epochs * spe)), self.total_steps)
        self.steps = 0
        self.plateau: sched.ReduceLROnPlateau | None = None
        self.per_step: sched.LRScheduler | None = None
        warm = self.warmup_steps
        main: sched.LRScheduler | None = None
        if self.name == "onecycle":
            base = optimizer.param_groups[0]["lr"]
            max_lr = spec.max_lr or base
            pct = warm / self.total_steps if warm else 0.3
            pct = min(max(pct, 1.0 / self.total_steps), 0.99)
            cyc = any("betas" in g for g in optimizer.param_groups) or any(
                g.get("momentum", 0.0) > 0 for g in optimizer.param_groups)
            self.per_step = sched.OneCycleLR(optimizer, max_lr=max_lr, total_steps=self.total_steps,
                                             pct_start=pct, cycle_momentum=cyc)
            return
        if self.name == "step":
            main = sched.StepLR(optimizer, step_size=spec.step_size * spe, gamma=spec.gamma)
        elif self.name == "cosine":
            main = sched.CosineAnnealingLR(optimizer, T_max=max(1, self.total_steps - warm), eta_min=spec.min_lr)
        elif self.name == "plateau":
            self.plateau = sched.ReduceLROnPlateau(optimizer, mode="min", factor=spec.factor,
                                                   patience=spec.patience)
        elif self.name != "constant":
            raise TrainConfigError(f"train.schedule.name: unknown schedule {self.name!r}")
        if warm > 0:
            linear = sched.LinearLR(optimizer, start_factor=1.0 / (warm + 1), end_factor=1.0, total_iters=warm)
            if main is None:
                self.per_step = linear
            else:
                self.per_step = sched.SequentialLR(optimizer, [linear, main], milestones=[warm])
        else:
            self.per_step = main

    @property
    def has_step_work(self) -> bool:
        return self.per_step is not None

    def step_batch(self) -> None:
        if self.per_step is None:
            return
        self.steps += 1
        if self.name == "onecycle" and self.steps >= self.total_steps:
            return  # OneCycleLR refuses to step past its end
        if self.name == "plateau" and self.steps > self.warmup_steps:
            return  # warm-up done: plateau only acts at epoch ends
        self.per_step.step()

    def step_epoch(self, metric: float | None, sign: float = 1.0) -> None:
        """Plateau: reduce on the monitored metric (``sign=-1`` for metrics that should rise)."""
        if self.plateau is not None and metric is not None and self.steps >= self.warmup_steps:
            self.plateau.step(sign * metric)

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "per_step": self.per_step.state_dict() if self.per_step is not None else None,
            "plateau": self.plateau.state_dict() if self.plateau is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state.get("steps", 0))
        if self.per_step is not None and state.get("per_step") is not None:
            self.per_step.load_state_dict(state["per_step"])
        if self.plateau is not None and state.get("plateau") is not None:
            self.plateau.load_state_dict(state["plateau"])
