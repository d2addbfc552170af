"""Knowledge distillation: a smaller student learns from a trained teacher's soft targets.

Loss per batch (Hinton et al.): ``alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
+ (1 - alpha) * cross_entropy(student, labels)``. No library is needed: it is the supervised trainer
with a second term, run through the engine's one training loop (live plots, checkpoints, stop). The
student is an ordinary project (a template or any graph from the designer); it trains on the
teacher's data settings, so both see the same split and preprocessing. ``baseline=True`` also trains
the same student from scratch for the same epochs, so the comparison shows what the teacher added.

The teacher scores the very batch the student sees, after augmentation, so its soft targets always
describe the image the student is looking at (a "consistent" teacher). ``augment="shift"`` adds
small random shifts, scalings and rotations to the student's training images (the from-scratch
baseline gets the same): the teacher then labels images it never trained on, which is where its soft
targets carry what the hard labels cannot. On the digits that is what made distillation beat the
same student from scratch for a student nearly as good as its teacher (see the README).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .errors import CompressError
from .names import DISTILL_AUGMENTS

# ``augment="shift"``: what the student's training images get on top of the teacher's data settings
SHIFT = {"type": "affine", "params": {"degrees": 10.0, "translate": [0.1, 0.1], "scale": [0.9, 1.1]}}


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, temperature: float,
                 alpha: float) -> torch.Tensor:
    t = float(temperature)
    soft = F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1), log_target=True,
                    reduction="batchmean") * (t * t)
    return alpha * soft + (1.0 - alpha) * F.cross_entropy(student, labels)


def make_distill_trainer(project: Any, teacher: torch.nn.Module, temperature: float, alpha: float) -> Any:
    from ..train.supervised import SupervisedTrainer

    class DistillTrainer(SupervisedTrainer):
        """The supervised trainer whose loss adds the teacher's soft targets (validation is unchanged)."""

        def setup(self, ctx: Any) -> None:
            super().setup(ctx)
            self.teacher = teacher.to(self.device).eval().requires_grad_(False)

        def training_loss(self, out: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                soft = self.teacher(x).float()  # the teacher scores the very (augmented) batch the student sees
            return distill_loss(out.float(), soft, y, temperature, alpha)

    return DistillTrainer(project)


def load_student(student: Any, teacher_run: Any, epochs: int | None, augment: str = "teacher") -> Any:
    from ..project import AugmentSpec, Project, ProjectError, load_project

    if isinstance(student, (str, os.PathLike)):
        try:
            p = load_project(student)
        except ProjectError as exc:
            raise CompressError(str(exc)) from None
    elif isinstance(student, Project):
        p = student.copy_deep()
    else:
        raise CompressError("--student: give a project file")
    if p.model is None or p.train.task != "classification":
        raise CompressError(f"--student: {student}: needs a classification project with one model graph")
    p.data = teacher_run.project.data.model_copy(deep=True)  # the teacher's split and preprocessing
    if augment == "shift":
        inp = next((n for n in p.model.nodes if n.type == "Input"), None)
        if inp is None or len(inp.params.get("shape") or []) != 3:
            raise CompressError("--augment shift: needs an image model (an Input of shape [C, H, W])")
        p.data.augment.append(AugmentSpec.model_validate(SHIFT))
    if epochs is not None:
        p.train.epochs = int(epochs)
    p.train.max_steps = None
    return p


def distill_run(run: Any, student: Any, out_dir: str | os.PathLike, *, epochs: int | None = None,
                temperature: float = 4.0, alpha: float = 0.7, baseline: bool = False, which: str = "final",
                augment: str = "teacher", ctx: Any = None) -> dict[str, Any]:
    """Distill ``run``'s model into ``student`` (a project file); the student's run folder is ``out_dir``."""
    from ..train.loop import TrainLoop
    from ..train.supervised import SupervisedTrainer

    if run.task != "classification" or run.project.model is None:
        raise CompressError("distill needs a trained classification teacher")
    if not temperature > 0:
        raise CompressError(f"--temperature: must be > 0, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise CompressError(f"--alpha: must be between 0 and 1, got {alpha}")
    if augment not in DISTILL_AUGMENTS:
        raise CompressError(f"--augment: unknown choice {augment!r} (choose {', '.join(DISTILL_AUGMENTS)})")
    if ctx is None:
        from ..train.jobs import JobContext

        ctx = JobContext("distill", lambda ev: None, None)
    from .prune import refuse_existing_run

    sp = load_student(student, run, epochs, augment)
    teacher = run.module("model", which)
    out = Path(out_dir)
    refuse_existing_run(out)
    if baseline:
        refuse_existing_run(out.with_name(out.name + "-scratch"))
    ctx.progress(f"distilling into the student ({sp.train.epochs} epochs, T={temperature:g}, alpha={alpha:g})", 0.0)
    fin = TrainLoop(sp, out, emit=ctx.training_emit(), control=ctx.control,
                    trainer=make_distill_trainer(sp, teacher, temperature, alpha)).run()
    if fin.status == "failed":
        raise RuntimeError("distillation failed (see the log)")
    from ..runs import write_lineage

    write_lineage(out, run)  # the student is a variant of the teacher's run
    rep: dict[str, Any] = {"out": str(out), "project": str(out / "project.json"), "model": str(out / "model.pt"),
                           "epochs": sp.train.epochs, "temperature": temperature, "alpha": alpha,
                           "augment": augment,
                           "distilled": {k: v for k, v in fin.final.items() if k.startswith("val_")}}
    from ..runs import open_run

    rep["student_params"] = sum(p.numel() for p in open_run(out).module().parameters())
    rep["teacher_params"] = sum(p.numel() for p in teacher.parameters())
    if baseline and not ctx.stopped:
        base = out.with_name(out.name + "-scratch")
        ctx.progress("training the same student from scratch (baseline)", 0.5)
        fin_b = TrainLoop(sp, base, emit=ctx.training_emit(), control=ctx.control,
                          trainer=SupervisedTrainer(sp)).run()
        if fin_b.status == "failed":
            raise RuntimeError("the from-scratch baseline failed (see the log)")
        write_lineage(base, run)
        rep["baseline"] = str(base)
        rep["scratch"] = {k: v for k, v in fin_b.final.items() if k.startswith("val_")}
    ctx.progress("distilled", 1.0)
    return rep
