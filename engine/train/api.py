"""Headless training: ``train_project`` (the function behind ``layerlab train`` and the studio's Train
view) and the CLI handler (``add_train_arguments`` / ``run_train_cli``, wired by ``engine.cli``).

Exit codes of ``layerlab train``: 0 finished (completed or early-stopped), 2 bad input (project file,
model that does not compile, bad option or checkpoint), 1 failure while training (NaN loss, out of
memory, crash), 130 stopped with Ctrl+C (a resumable ``checkpoints/last.pt`` is written first).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .events import (
    CheckpointSaved,
    Diagnostic,
    EpochEnd,
    Error,
    Event,
    Finished,
    Log,
    Progress,
    Samples,
    Started,
)


class _Report:
    """Collects events into the report dict (and forwards them to ``on_event``)."""

    def __init__(self, on_event: Callable[[Event], None] | None):
        self.on_event = on_event
        self.started: Started | None = None
        self.epochs: list[dict[str, Any]] = []
        self.errors: list[Error] = []
        self.diagnostics: list[Diagnostic] = []
        self.predictions: Samples | None = None
        self.finished: Finished | None = None

    def __call__(self, ev: Event) -> None:
        if isinstance(ev, Started):
            self.started = ev
        elif isinstance(ev, EpochEnd):
            self.epochs.append({"epoch": ev.epoch, **ev.metrics, "lr": ev.lr, "wall_s": ev.wall_s})
        elif isinstance(ev, Error):
            self.errors.append(ev)
        elif isinstance(ev, Diagnostic):
            self.diagnostics.append(ev)
        elif isinstance(ev, Samples) and ev.kind == "predictions":
            self.predictions = ev
        elif isinstance(ev, Finished):
            self.finished = ev
        if self.on_event is not None:
            self.on_event(ev)

    def report(self, out_dir: Path, project_name: str) -> dict[str, Any]:
        fin = self.finished
        history = [dict(r) for r in fin.history] if fin is not None and fin.history else self.epochs
        final = dict(fin.final) if fin is not None else {}
        rep: dict[str, Any] = {
            "project": project_name,
            "out_dir": str(out_dir),
            "status": fin.status if fin is not None else "failed",
            "device": self.started.device if self.started else None,
            "epochs": history,
            "final": final,
            "steps_per_second": final.get("train_steps_per_s"),
            "best_epoch": fin.best_epoch if fin is not None else None,
            "checkpoints": dict(fin.checkpoints) if fin is not None else {},
            "global_step": fin.global_step if fin is not None else 0,
            "wall_s": fin.wall_s if fin is not None else 0.0,
            "model": str(out_dir / "model.pt") if (out_dir / "model.pt").is_file() and fin and fin.status != "failed"
            else None,
            "diagnostics": [{"code": d.code, "message": d.message, "suggestion": d.suggestion} for d in self.diagnostics],
            "error": ({"message": self.errors[-1].message, "kind": self.errors[-1].kind} if self.errors else None),
        }
        p = self.predictions
        if p is not None and "confusion" in p.extra:
            rep["confusion_matrix"] = [[int(v) for v in row] for row in p.extra["confusion"]]
            rep["classes"] = list(p.extra.get("classes", ()))
        return rep


def train_project(project: Any, out_dir: str | Path, *, resume: str | None = None,
                  overrides: dict[str, Any] | None = None, on_event: Callable[[Event], None] | None = None,
                  runner_mode: str = "inline", trainer: Any = None, control: Any = None) -> dict[str, Any]:
    """Train ``project`` (a Project, a dict, or a path to a project file) into ``out_dir``; return the report.

    ``runner_mode``: "inline" (this thread; ``control`` may be a ``loop.Control`` to stop it),
    "thread" or "process" (through a ``Runner``). Writes model.pt, project.json, history.csv and
    checkpoints/{last,best}.pt under ``out_dir``.
    """
    from ..project import load_project

    if isinstance(project, (str, Path)):
        project = load_project(project)
    name = getattr(project, "name", None) or (project.get("name") if isinstance(project, dict) else None) or "project"
    out = Path(out_dir)
    rep = _Report(on_event)
    if runner_mode == "inline":
        from ..threads import choose_threads
        from .loop import TrainLoop

        # the free cores, not torch's default of every core: beside a busy process that collapsed 15x
        TrainLoop(project, out, emit=rep, control=control, resume=resume, overrides=overrides, trainer=trainer,
                  threads=choose_threads()).run()
    else:
        from .runner import make_runner

        runner = make_runner(runner_mode)
        try:
            runner.start(project, str(out), resume=resume, overrides=overrides, trainer=trainer)
            while rep.finished is None:
                ev = runner.wait_event(0.5)
                if ev is not None:
                    rep(ev)
                elif not runner.running and rep.finished is None:
                    for ev in runner.poll():
                        rep(ev)
                    if rep.finished is None and not runner.running:
                        break
        finally:
            runner.close()
    return rep.report(out, name)


# ---------------------------------------------------------------------------------------------
# CLI


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``layerlab train``."""
    p.epilog = ("Progress goes to stderr: a bar per epoch on a terminal, one line per epoch otherwise (CI logs, "
                "pipes). Writes model.pt, project.json, history.csv and checkpoints/{last,best}.pt under --out. "
                "Exit codes: 0 finished, 2 bad input (project, option, checkpoint, device), 1 failure while "
                "training (NaN loss, out of memory, crash), 130 stopped with Ctrl+C (checkpoints/last.pt resumes).")
    p.add_argument("project", metavar="FILE.json", help="the project file to train")
    p.add_argument("--epochs", type=_positive_int, help="override train.epochs")
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/<project-name>-<timestamp>)")
    p.add_argument("--resume", metavar="CKPT", help="continue exactly from a checkpoint (e.g. DIR/checkpoints/last.pt)")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps (override train.device)")
    p.add_argument("--amp", action="store_true", help="mixed precision (bf16 on CPU, fp16 on CUDA)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (falls back if it fails)")
    p.add_argument("--batch-size", type=_positive_int, help="override data.batch_size")
    p.add_argument("--lr", type=_positive_float, help="override train.optimizer.lr")
    p.add_argument("--max-steps", type=_positive_int, help="stop after N optimizer steps")
    p.add_argument("--seed", type=_seed, help="override train.seed (0 to 2**63-1)")
    p.add_argument("--report", metavar="R.json", help="write a JSON report here")
    p.add_argument("--quiet", action="store_true", help="print only errors")


MAX_COUNT = 10**12  # epochs, steps, batch size: anything beyond is a typo, and would overflow later


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text[:40]}")
    if v > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_COUNT:,}, got {text[:40]}")
    return v


def _seed(text: str) -> int:
    from ..project import MAX_SEED

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}") from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_SEED} (2**63-1), got {text[:40]}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return v


def _overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    o: dict[str, Any] = {}
    for attr, path in (("epochs", "train.epochs"), ("device", "train.device"), ("batch_size", "data.batch_size"),
                       ("lr", "train.optimizer.lr"), ("max_steps", "train.max_steps"), ("seed", "train.seed")):
        v = getattr(args, attr, None)
        if v is not None:
            o[path] = v
    if getattr(args, "amp", False):
        o["train.amp"] = True
    if getattr(args, "compile", False):
        o["train.compile"] = True
    return o


def default_out_dir(name: str) -> Path:
    """``runs/<name>-<timestamp>``, with ``-2``, ``-3``... when a run of the same second has it."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:60] or "project"
    base = Path("runs") / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}"
    d, k = base, 1
    while d.exists():
        k += 1
        d = base.with_name(f"{base.name}-{k}")
    return d


def _fmt_metrics(m: dict[str, float]) -> str:
    parts = []
    for k, v in m.items():
        parts.append(f"{k}={v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{k}={v:.3e}")
    return " ".join(parts)


class CliProgress:
    """Human progress on stderr: on a terminal a tqdm bar per epoch (loss, metric, LR, samples/s, ETA)
    and a line per epoch; elsewhere (CI logs, pipes, files) only the line per epoch, with the last
    samples/s and the ETA in it, so logs hold no carriage-return spam."""

    def __init__(self, quiet: bool = False, stream: Any = None, bar: bool | None = None):
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.use_bar = _is_terminal(self.stream) if bar is None else bool(bar)
        self.bar: Any = None
        self.bar_epoch = -1
        self.epochs = 0
        self.spe = 0
        self.started = False
        self.rate: float | None = None
        self.eta: float | None = None

    def _print(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __call__(self, ev: Event) -> None:
        if isinstance(ev, Error):
            self._close_bar()
            print(f"error: {ev.message}", file=self.stream, flush=True)
            return
        if isinstance(ev, Started):
            self.started = True
        if self.quiet:
            return
        if isinstance(ev, Started):
            self.epochs, self.spe = ev.epochs, ev.steps_per_epoch
            where = f" (resuming at epoch {ev.start_epoch + 1})" if ev.start_epoch or ev.start_step else ""
            self._print(f"training on {ev.device}: {ev.epochs} epochs x {ev.steps_per_epoch} steps, "
                        f"{ev.total_params:,} parameters{where}")
        elif isinstance(ev, Progress):
            self.rate, self.eta = ev.samples_per_sec, ev.eta_s
            if not self.use_bar:
                return
            from tqdm import tqdm

            if self.bar is None or self.bar_epoch != ev.epoch:
                self._close_bar()
                self.bar = tqdm(total=self.spe, desc=f"epoch {ev.epoch + 1}/{self.epochs}", unit="step",
                                file=self.stream, leave=False, dynamic_ncols=True, initial=ev.step)
                self.bar_epoch = ev.epoch
            self.bar.update(max(0, ev.step - self.bar.n))
            post = {k: f"{v:.4f}" for k, v in ev.metrics.items()}
            post.update(lr=f"{ev.lr:.2e}", samples_s=f"{ev.samples_per_sec:,.0f}", eta=f"{ev.eta_s:.0f}s")
            self.bar.set_postfix(post, refresh=True)
        elif isinstance(ev, EpochEnd):
            self._close_bar()
            speed = f", {self.rate:,.0f} samples/s" if self.rate else ""
            eta = f", ETA {_fmt_duration(self.eta)}" if self.eta is not None and ev.epoch + 1 < self.epochs else ""
            self._print(f"epoch {ev.epoch + 1}/{self.epochs}  {_fmt_metrics(ev.metrics)}  lr={ev.lr:.2e}  "
                        f"({ev.wall_s:.1f}s{speed}{eta})")
        elif isinstance(ev, Log) and ev.level != "debug":
            self._print(f"{ev.level}: {ev.message}" if ev.level != "info" else ev.message)
        elif isinstance(ev, Diagnostic):
            self._print(f"hint: {ev.message} -> {ev.suggestion}")
        elif isinstance(ev, CheckpointSaved):
            pass
        elif isinstance(ev, Finished):
            self._close_bar()
            if not self.started:  # failed while setting up: the error line already says it all
                return
            best = f", best epoch {ev.best_epoch + 1}" if ev.best_epoch is not None else ""
            self._print(f"{ev.status} after {ev.epochs_run} epoch(s), {ev.global_step} steps in {ev.wall_s:.1f}s{best}")


def _is_terminal(stream: Any) -> bool:
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        if not stream.isatty():
            return False
    except (AttributeError, ValueError, OSError):
        return False
    try:  # a pseudo-terminal with no size (some CI runners) would show an empty bar
        return os.get_terminal_size(stream.fileno()).columns > 0
    except (AttributeError, ValueError, OSError):
        return True


def _fmt_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


RUN_FILES = ("project.json", "model.pt", "history.csv", "checkpoints/last.pt", "checkpoints/best.pt")


def _check_output_paths(out: Path, report: str | None, inputs: tuple[str | None, ...] = ()) -> str | None:
    """A problem with ``--out``/``--report`` found before training starts (None when fine).
    ``inputs[0]`` is the project file: a run never writes it (``--out`` may not be its folder)."""
    from ..fsutil import output_dir_problem, output_file_problem, same_file
    from .loop import RunFolderError, check_run_folder

    problem = output_dir_problem(out)
    if problem:
        return f"--out: {problem}"
    project_file = inputs[0] if inputs else None
    if project_file:
        hit = next((rel for rel in RUN_FILES if same_file(out / rel, project_file)), None)
        if hit:
            return (f"--out: {out} would overwrite the project file {project_file} (a run writes {out / hit}); "
                    "choose another output folder")
    resume = inputs[1] if len(inputs) > 1 else None
    try:
        check_run_folder(out, resume)
    except RunFolderError as exc:
        return f"--out: {exc}"
    if report and any(same_file(report, i) for i in inputs if i):
        return f"--report: {report} is an input of this run; writing the report there would overwrite it"
    problem = output_file_problem(report) if report else None
    return f"--report: {problem}" if problem else None


def run_train_cli(args: argparse.Namespace) -> int:
    """``layerlab train``: 0 ok, 2 bad input, 1 failure while training, 130 interrupted."""
    from ..fsutil import atomic_write_text
    from ..project import ProjectError, load_project
    from .loop import Control

    try:
        project = load_project(args.project)
    except ProjectError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    if args.resume and not Path(args.resume).is_file():
        what = "is a folder, not a checkpoint file" if Path(args.resume).is_dir() else "checkpoint file not found"
        print(f"error: --resume: {args.resume}: {what}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else default_out_dir(project.name)
    problem = _check_output_paths(out, args.report, (args.project, args.resume))
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    control = Control()
    prev = None
    with_signal = True
    hits = [0]

    def on_sigint(*_: Any) -> None:
        # The first Ctrl+C stops cleanly (last.pt written); a second aborts at once. Atomic writes keep
        # every file whole either way, and cli.main turns the KeyboardInterrupt into exit 130.
        hits[0] += 1
        if hits[0] > 1:
            raise KeyboardInterrupt
        control.put_from_signal("stop")

    try:
        prev = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not in the main thread
        with_signal = False
    try:
        report = train_project(project, out, resume=args.resume, overrides=_overrides_from_args(args),
                               on_event=CliProgress(quiet=args.quiet), control=control)
    finally:
        if with_signal and prev is not None:
            signal.signal(signal.SIGINT, prev)
    if args.report:
        try:
            atomic_write_text(args.report, json.dumps(report, indent=2, default=str) + "\n")
        except OSError as exc:
            print(f"error: --report: cannot write {args.report}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    if not args.quiet and report.get("model"):
        print(f"wrote {report['model']}", file=sys.stderr)
    status = report["status"]
    if status in ("completed", "early_stopped"):
        return 0
    if status == "stopped":
        return 130
    err = report.get("error") or {}
    return 2 if err.get("kind") == "bad_project" else 1
