"""The supervised trainer: classification, regression and binary tasks on one graph.

Targets by task (labels come from the dataset as class indices):

- ``classification``: the class index; the model outputs one logit per class.
- ``regression``: the label as a float (for digits: the digit's value 0..9); the model outputs 1 value.
- ``binary``: with a 2-class dataset, the class index (0/1); with more classes, ``label is odd``
  (digits: 1, 3, 5, 7, 9 -> 1). The model outputs 1 logit.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
from torch import nn

from .events import Samples
from .gridutil import images_geometry
from .metrics import (
    acc_dtype,
    binary_scores,
    confusion_matrix,
    regression_scores,
    scores_from_confusion,
    to_floats,
)
from .optim import LRSchedule, build_loss, build_optimizer, check_task_loss, l1_penalty
from .trainer import StepContext, TrainContext

GRID = 4  # predictions grid: GRID x GRID validation images
GRID_PAD = 2


class ModelOutputError(ValueError):
    """The model's output does not fit the task (wrong number of outputs)."""


def image_grid(images: torch.Tensor, nrow: int, pad: int = 2) -> np.ndarray:
    """(N, C, H, W) float in [0, 1] -> uint8 (H, W) grey or (H, W, 3) RGB grid."""
    from torchvision.utils import make_grid

    g = make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=nrow, padding=pad, pad_value=0.25)
    arr = (g * 255 + 0.5).to(torch.uint8).numpy()
    if images.shape[1] == 1:
        return np.ascontiguousarray(arr[0])
    return np.ascontiguousarray(arr.transpose(1, 2, 0))


class SupervisedTrainer:
    """One model, one optimizer, one LR schedule; loss and metrics by ``train.task``."""

    name = "supervised"

    def __init__(self, project: Any, model: nn.Module | None = None):
        self.project = project
        self._given_model = model
        self.task = project.train.task
        self.monitor_default = "val_loss"
        self.last_confusion: np.ndarray | None = None
        self._preview: dict[str, Any] = {}

    # -- setup ---------------------------------------------------------------------------------
    def setup(self, ctx: TrainContext) -> None:
        t = self.project.train
        check_task_loss(t.task, t.loss)
        self.ctx = ctx
        self.device = ctx.device
        self.data = ctx.data
        self._log = ctx.extras.get("log") or (lambda msg, level="info": None)
        if self._given_model is not None:
            model = self._given_model
        else:
            from ..graph import compile_graph

            model, _ = compile_graph(self.project.model, graph_path="model", blocks=self.project.blocks)
        self.model = model.to(self.device)
        self.num_classes = self.data.num_classes
        self._check_output()
        self.loss_fn = build_loss(t.task, t.loss, label_smoothing=t.label_smoothing, huber_delta=t.huber_delta)
        self.optimizer = build_optimizer((p for p in self.model.parameters() if p.requires_grad), t.optimizer)
        spe = int(ctx.extras.get("steps_per_epoch", 1))
        self.schedule = LRSchedule(self.optimizer, t.schedule, steps_per_epoch=spe, epochs=t.epochs,
                                   max_steps=t.max_steps)
        self.amp_dtype = ctx.amp_dtype
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self._use_scaler = self.scaler.is_enabled()
        self.l1 = float(t.l1)
        self._l1_params = [p for p in self.model.parameters() if p.requires_grad and p.ndim > 1]
        self.grad_clip = t.grad_clip
        self._params = [p for p in self.model.parameters() if p.requires_grad]
        self.forward = self.model
        if ctx.compile:
            try:
                self.forward = torch.compile(self.model)
                self.train_step = self._first_compiled_step  # type: ignore[method-assign]
            except Exception as exc:  # torch.compile unsupported here (platform, python version...)
                self._log(f"torch.compile is not available ({exc}); training without it", "warning")
        es = t.early_stopping
        mon = es.monitor
        self._plateau_monitor = mon
        self._plateau_sign = -1.0 if (es.mode == "max" or (es.mode == "auto" and _higher_is_better(mon))) else 1.0

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _check_output(self) -> None:
        """Run two validation samples through the model and check its output fits the task."""
        x = self.data.val_x[:2]
        sample = [int(v) for v in x.shape[1:]]
        declared = getattr(self.model, "input_shapes", None)
        ids = getattr(self.model, "input_ids", None) or ["input"]
        if declared is not None and len(declared) != 1:
            raise ModelOutputError(f"a supervised model takes one Input node; this one has {len(declared)} "
                                   f"({', '.join(ids)})")
        if declared is not None and list(declared[0]) != sample:
            raise ModelOutputError(
                f"the data's samples have shape {sample}, but the model's Input node {ids[0]!r} declares "
                f"{list(declared[0])}: set model.nodes[{ids[0]}].params.shape to {sample}")
        was = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                out = self.model(x)
        except (RuntimeError, TypeError, ValueError, IndexError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise ModelOutputError(f"the model cannot run on this data's samples (shape {sample}): {first}") from None
        finally:
            self.model.train(was)
        if not isinstance(out, torch.Tensor):
            raise ModelOutputError("the model must output a single tensor")
        per = out[0].numel()
        if self.task == "classification":
            if out.ndim != 2 or out.shape[1] != self.num_classes:
                raise ModelOutputError(
                    f"the model outputs shape {list(out.shape[1:])} per sample, but classification on this dataset "
                    f"needs {self.num_classes} values (one per class): set the last layer's size to {self.num_classes}")
        elif per != 1:
            raise ModelOutputError(
                f"the model outputs {per} values per sample, but a {self.task} task needs exactly 1: "
                "set the last layer's size to 1")

    # -- targets ------------------------------------------------------------------------------
    def target(self, y: torch.Tensor) -> torch.Tensor:
        if self.task == "classification":
            return y
        if self.task == "regression":
            return y.float()
        return (y if self.num_classes == 2 else y.remainder(2)).float()

    def training_loss(self, out: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss the optimizer steps on (a subclass may add terms: distillation adds the teacher's)."""
        return self.loss_fn(out, y)

    # -- the hot path -------------------------------------------------------------------------
    def train_step(self, batch: tuple[Any, ...], sc: StepContext) -> dict[str, Any]:
        x, y = batch[0], batch[1]
        y = self.target(y)
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            out = self.forward(x)
            if self.task != "classification":
                out = out.reshape(y.shape)
            loss = self.training_loss(out, x, y)
            if self.l1:
                loss = loss + self.l1 * l1_penalty(self._l1_params)
        if self._use_scaler:
            self.scaler.scale(loss).backward()
            if self.grad_clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self._params, self.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            if self.grad_clip:
                torch.nn.utils.clip_grad_norm_(self._params, self.grad_clip)
            self.optimizer.step()
        self.schedule.step_batch()
        return {"loss": loss.detach()}

    def _first_compiled_step(self, batch: tuple[Any, ...], sc: StepContext) -> dict[str, Any]:
        del self.train_step  # back to the class method for every later step
        try:
            return self.train_step(batch, sc)
        except Exception as exc:
            self._log(f"torch.compile failed ({type(exc).__name__}: {str(exc)[:200]}); training without it",
                      "warning")
            self.forward = self.model
            return self.train_step(batch, sc)

    def current_lr(self) -> float:
        return self.schedule.current_lr()

    # -- validation ---------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, x_all: torch.Tensor, y_all: torch.Tensor, batch_size: int = 1024) -> dict[str, float]:
        """Loss and metrics on (x_all, y_all) (tensors on the device); one sync at the end."""
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device, dtype=acc_dtype(self.device))
        outs = []
        n = len(x_all)
        for i in range(0, n, batch_size):
            xb, yb = x_all[i:i + batch_size], self.target(y_all[i:i + batch_size])
            with self._autocast():
                out = self.model(xb)
                if self.task != "classification":
                    out = out.reshape(yb.shape)
                loss = self.loss_fn(out, yb)
            loss_sum += loss.to(loss_sum.dtype) * len(xb)
            outs.append(out.float())
        self.model.train()
        out = torch.cat(outs)
        target = self.target(y_all)
        vals: dict[str, torch.Tensor] = {"loss": loss_sum / max(n, 1)}
        if self.task == "classification":
            pred = out.argmax(1)
            cm = confusion_matrix(pred, target, self.num_classes)
            vals.update(scores_from_confusion(cm))
            vals["_cm"] = cm
        elif self.task == "binary":
            pred = (out > 0).long()
            vals.update(binary_scores(pred, target))
        else:
            pred = out
            vals.update(regression_scores(out, target))
        self._preview = {"pred": pred[: GRID * GRID]}
        cm = vals.pop("_cm", None)
        floats = to_floats(vals, "val_")
        if cm is not None:
            self.last_confusion = cm.cpu().numpy()
        return floats

    def end_epoch(self, epoch: int) -> dict[str, float]:
        m = self.evaluate(self.data.val_x, self.data.val_y)
        mon = m.get(self._plateau_monitor, m.get("val_loss"))
        sign = self._plateau_sign if self._plateau_monitor in m else 1.0
        self.schedule.step_epoch(mon, sign)
        return m

    def samples(self, epoch: int, global_step: int) -> list[Samples]:
        if "pred" not in self._preview:
            return []
        k = min(GRID * GRID, len(self.data.val_x))
        imgs = self.data.val_x[:k]
        denorm = self.ctx.extras.get("denormalize")
        if denorm is not None:
            imgs = denorm(imgs)
        if imgs.dim() == 3:  # (N, H, W) grey images
            imgs = imgs.unsqueeze(1)
        if imgs.dim() != 4 or k == 0:
            return []  # not images (feature vectors, sequences): nothing to draw
        if imgs.shape[1] not in (1, 3):
            imgs = imgs[:, :1]  # 2 or 4+ channels have no colour meaning: show the first one in grey
        pred = self._preview["pred"][:k].reshape(-1)
        if self.task == "regression":
            pred = pred.round()
        labels = self.data.val_y[:k] if self.task != "binary" else self.target(self.data.val_y[:k])
        classes = tuple(self.data.classes)
        if self.task == "binary" and self.num_classes != 2:
            classes = ("even", "odd")  # the binary target on a multi-class dataset is "label is odd"
        extra: dict[str, Any] = {"task": self.task, "classes": classes}
        if self.last_confusion is not None:
            extra["confusion"] = self.last_confusion.copy()
        return [Samples(
            kind="predictions", epoch=epoch, global_step=global_step, image=image_grid(imgs, GRID, GRID_PAD),
            grid=images_geometry(imgs, GRID, GRID_PAD),
            labels=tuple(int(v) for v in labels.cpu().tolist()),
            predicted=tuple(int(v) for v in pred.cpu().tolist()), extra=extra,
        )]

    # -- state --------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def state_dict(self) -> dict[str, Any]:
        return {
            "models": {"model": self.model.state_dict()},
            "optimizers": {"model": self.optimizer.state_dict()},
            "schedules": {"model": self.schedule.state_dict()},
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["models"]["model"])
        self.optimizer.load_state_dict(state["optimizers"]["model"])
        self.schedule.load_state_dict(state["schedules"]["model"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


def _higher_is_better(metric: str) -> bool:
    m = metric.lower()
    return any(k in m for k in ("acc", "f1", "precision", "recall", "auc"))
