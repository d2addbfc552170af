"""The contract between the one training loop and the trainers (supervised, GAN, VAE).

The loop (``engine.train.loop``) is written once: device, seeding, AMP, epochs, batching over the
training tensors, commands (pause/stop), progress events, callbacks (checkpoints, early
stopping, metric logging, samples, diagnostics). A trainer only knows its own maths.

Lifecycle, driven by the loop::

    trainer = make_trainer(project)                 # picks by project.train.task
    trainer.setup(ctx)                              # build models/optimizers/schedulers on ctx.device
    for epoch ...:
        for batch in ctx.batches(...):              # tuples of tensors already on the device
            logs = trainer.train_step(batch, step_ctx)   # dict of *detached on-device* scalar tensors
        metrics = trainer.end_epoch(epoch)          # validation etc.: dict[str, float] (syncs once)
        samples = trainer.samples(epoch, global_step)   # list[events.Samples] (may be empty)
    state = trainer.state_dict()                    # for checkpoints: models, optimizers, schedulers, scaler
    trainer.load_state_dict(state)                  # exact resume

Trainers must never call ``.item()`` per step (no device sync on the hot path): they return
tensors; the loop accumulates and syncs a few times a second.

Optional hooks the loop calls when a trainer has them (duck-typed):
``wants_samples(sc) -> bool`` after each step (True: the loop emits ``samples()`` mid-epoch) and
``diagnostics() -> list[Diagnostic]`` at each sync and epoch end. ``TrainContext.extras`` holds
``steps_per_epoch``, ``log(msg, level)``, ``emit(event)``, ``normalize`` / ``denormalize`` (or None;
validation tensors in ``ctx.data`` are already normalised) and ``classes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .events import Samples


@dataclass
class StepContext:
    epoch: int  # 0-based
    step: int  # 1-based within the epoch
    global_step: int  # optimizer steps done before this one
    steps_per_epoch: int


@dataclass
class TrainContext:
    """What the loop hands a trainer at setup (filled by the loop)."""

    project: Any  # engine.project.Project
    device: Any  # torch.device
    data: Any  # engine.data.DataBundle: train/val tensors on device, num_classes, shapes
    run_dir: str
    amp_dtype: Any = None  # torch.dtype or None
    compile: bool = False
    extras: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Trainer(Protocol):
    name: str  # "supervised" | "gan" | "vae"
    monitor_default: str  # metric that "best" checkpoints and early stopping watch, e.g. "val_loss"

    def setup(self, ctx: TrainContext) -> None: ...

    def train_step(self, batch: tuple[Any, ...], sc: StepContext) -> dict[str, Any]: ...

    def current_lr(self) -> float: ...

    def end_epoch(self, epoch: int) -> dict[str, float]: ...

    def samples(self, epoch: int, global_step: int) -> list[Samples]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def modules(self) -> dict[str, Any]:
        """Named ``nn.Module``s (``{"model": m}`` or ``{"generator": g, "discriminator": d}``)."""
        ...
