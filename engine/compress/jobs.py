"""Runner jobs for compression and export (picklable: paths and plain values, no modules).

Each job opens the trained run itself (``open_run(checkpoint, project)``), does its work, and returns
a result dict with what it wrote and ``variants``: comparison rows, the original first. The studio
runs them in the runner's child process; the CLI runs the same jobs inline (``run_job``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..train.jobs import JobContext, run_job


def _open(checkpoint: str, project: str | None) -> Any:
    from ..runs import open_run

    return open_run(checkpoint, project)


def _progress(ctx: JobContext, lo: float, hi: float) -> Any:
    return lambda stage, f: ctx.progress(stage, lo + (hi - lo) * f)


def _compare(ctx: JobContext, run: Any, paths: list[str], lo: float = 0.7, repeats: tuple[int, int] = (40, 15)) -> list[dict[str, Any]]:
    from .compare import compare_paths

    rows = compare_paths(run, paths, progress=_progress(ctx, lo, 1.0), repeats_b1=repeats[0], repeats_b64=repeats[1])
    return [r.to_json() for r in rows]


@dataclass
class _RunJob:
    checkpoint: str
    project: str | None = None
    compare: bool = True
    repeats: tuple[int, int] = (40, 15)

    def run(self, emit: Any, control: Any = None) -> Any:
        return run_job(self, emit, control)


@dataclass
class ExportJob(_RunJob):
    format: str = "onnx"
    out: str = "model"
    force: bool = False  # replace an existing file (never the run's own files)
    kind: str = field(default="export", init=False)

    def execute(self, ctx: JobContext) -> dict[str, Any]:
        from ..export import export_run

        run = _open(self.checkpoint, self.project)
        results = export_run(run, self.format, self.out, force=self.force, progress=_progress(ctx, 0.0, 0.7))
        out: dict[str, Any] = {"exports": [r.to_json() for r in results], "files": [f for r in results for f in r.files]}
        if self.compare and run.task == "classification":
            onnx = [r.path for r in results] if self.format == "onnx" else []
            rows = _compare(ctx, run, onnx, repeats=self.repeats)
            if self.format != "onnx":  # same float weights in torch: the original's speed, the file's size
                for r in results:
                    row = dict(rows[0])
                    row.update(name=f"{Path(r.path).name}", path=r.path, size_bytes=Path(r.path).stat().st_size,
                               agreement=r.verification.get("agreement"), note="same weights as the original")
                    rows.append(row)
            out["variants"] = rows
        return out


@dataclass
class QuantizeJob(_RunJob):
    method: str = "static-int8"
    out: str = "model_int8.onnx"
    force: bool = False  # replace an existing file (never the run's own files)
    kind: str = field(default="quantize", init=False)

    def execute(self, ctx: JobContext) -> dict[str, Any]:
        from .quantize import quantize_run

        run = _open(self.checkpoint, self.project)
        q = quantize_run(run, self.method, self.out, force=self.force, progress=_progress(ctx, 0.0, 0.6))
        out: dict[str, Any] = {"quantized": q, "files": [q["path"], q["card"]]}
        if self.compare:
            out["variants"] = _compare(ctx, run, [q["path"]], 0.6, self.repeats)
        return out


@dataclass
class PruneJob(_RunJob):
    method: str = "global"
    amount: float = 0.5
    rounds: int = 1
    finetune_epochs: int = 0
    out: str = "pruned"
    kind: str = field(default="prune", init=False)

    def execute(self, ctx: JobContext) -> dict[str, Any]:
        from .prune import prune_run

        run = _open(self.checkpoint, self.project)
        rep = prune_run(run, self.method, self.amount, self.out, rounds=self.rounds,
                        finetune_epochs=self.finetune_epochs, ctx=ctx)
        out: dict[str, Any] = {"pruned": rep, "files": [rep["project"], rep["model"]]}
        if self.compare and not ctx.stopped:
            out["variants"] = _compare(ctx, run, [self.out], 0.8, self.repeats)
        return out


@dataclass
class DistillJob(_RunJob):
    student: str = ""
    out: str = "student"
    epochs: int | None = None
    temperature: float = 4.0
    alpha: float = 0.7
    baseline: bool = False  # also train the same student from scratch, for the comparison
    augment: str = "teacher"  # "shift": also shift/scale/rotate the student's (and the baseline's) images
    kind: str = field(default="distill", init=False)

    def execute(self, ctx: JobContext) -> dict[str, Any]:
        from .distill import distill_run

        run = _open(self.checkpoint, self.project)
        rep = distill_run(run, self.student, self.out, epochs=self.epochs, temperature=self.temperature,
                          alpha=self.alpha, baseline=self.baseline, augment=self.augment, ctx=ctx)
        out: dict[str, Any] = {"distilled": rep, "files": [rep["project"], rep["model"]]}
        if self.compare and not ctx.stopped:
            paths = [self.out] + ([rep["baseline"]] if rep.get("baseline") else [])
            out["variants"] = _compare(ctx, run, paths, 0.85, self.repeats)
        return out


@dataclass
class CompareJob(_RunJob):
    variants: list[str] = field(default_factory=list)
    kind: str = field(default="compare", init=False)

    def execute(self, ctx: JobContext) -> dict[str, Any]:
        run = _open(self.checkpoint, self.project)
        return {"variants": _compare(ctx, run, list(self.variants), 0.0, self.repeats)}


def job_fields(job: Any) -> dict[str, Any]:
    return {f.name: getattr(job, f.name) for f in dataclasses.fields(job)}
