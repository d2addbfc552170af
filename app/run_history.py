"""A run's plotted history on disk, so a resumed or reopened run shows its whole curve.

The engine writes per-epoch rows (``history.csv``, and the checkpoint's ``history``) but not the
per-step points the studio plots. The studio appends what it plots to ``<run_dir>/studio_plot.jsonl``
(one JSON object per Progress/EpochEnd, flushed once per bridge tick) and reads it back:

- on "Resume from checkpoint", the earlier points are replayed and the file is cut at the
  checkpoint's step (a resume from an older checkpoint drops the points after it);
- on opening a project, its latest run (remembered per project file, else the newest folder under
  ``runs/`` beside it) is shown: curves, checkpoints, and the Resume dialog starts there.

Runs made by the CLI have no such file: their ``history.csv`` gives the per-epoch points.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

PLOT_LOG = "studio_plot.jsonl"
MAX_REMEMBERED = 50


@dataclass
class Point:
    kind: str  # "p" (Progress) | "e" (EpochEnd)
    step: int
    epoch: int
    lr: float
    metrics: dict[str, float] = field(default_factory=dict)


def _clean(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        out[str(k)] = f if math.isfinite(f) else None  # JSON null for NaN/Inf
    return out


class PlotLog:
    """Appends plotted points to ``<run_dir>/studio_plot.jsonl``; never raises (a log, not the run)."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self._fh: IO[str] | None = None

    def open(self, run_dir: str | os.PathLike) -> None:
        self.close()
        self.path = Path(run_dir) / PLOT_LOG
        try:
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
        except OSError:
            self._fh = None

    def _write(self, obj: dict[str, Any]) -> None:
        if self._fh is not None:
            try:
                self._fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
            except (OSError, ValueError):
                self.close()

    def progress(self, events) -> None:
        for ev in events:
            self._write({"k": "p", "s": int(ev.global_step), "e": int(ev.epoch), "lr": float(ev.lr),
                         "m": _clean(ev.metrics)})
        self.flush()

    def epoch(self, ev) -> None:
        self._write({"k": "e", "s": int(ev.global_step), "e": int(ev.epoch), "lr": float(ev.lr),
                     "m": _clean(ev.metrics)})
        self.flush()

    def flush(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError, ValueError):
                self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError, ValueError):
                self._fh.close()
        self._fh = None


def read_plot_log(run_dir: str | os.PathLike) -> list[Point]:
    """The points of ``<run_dir>/studio_plot.jsonl`` (bad lines skipped; [] if there is none)."""
    out: list[Point] = []
    try:
        fh = open(Path(run_dir) / PLOT_LOG, encoding="utf-8")  # noqa: SIM115
    except OSError:
        return out
    with fh:
        for line in fh:
            try:
                d = json.loads(line)
                m = {k: (float("nan") if v is None else float(v)) for k, v in d.get("m", {}).items()}
                out.append(Point(str(d["k"]), int(d["s"]), int(d.get("e", 0)), float(d.get("lr", "nan")), m))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
    return out


def cut_plot_log(run_dir: str | os.PathLike, max_step: int) -> list[Point]:
    """Keep the points at or before ``max_step`` (rewrites the file only if something goes); returns them."""
    pts = read_plot_log(run_dir)
    kept = [p for p in pts if p.step <= max_step]
    if len(kept) != len(pts):
        path = Path(run_dir) / PLOT_LOG
        tmp = path.with_suffix(".jsonl.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                for p in kept:
                    m = {k: (v if math.isfinite(v) else None) for k, v in p.metrics.items()}
                    fh.write(json.dumps({"k": p.kind, "s": p.step, "e": p.epoch, "lr": p.lr, "m": m},
                                        separators=(",", ":")) + "\n")
            os.replace(tmp, path)
        except OSError:
            pass
    return kept


def read_history_points(run_dir: str | os.PathLike, steps_per_epoch: int = 0) -> list[Point]:
    """Per-epoch points from the engine's ``history.csv`` (runs without a plot log, e.g. from the CLI).
    The step of an epoch's end is ``(epoch + 1) * steps_per_epoch`` when that is known."""
    out: list[Point] = []
    try:
        with open(Path(run_dir) / "history.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, csv.Error):
        return out
    for r in rows:
        try:
            ep = int(float(r.get("epoch", "")))
        except ValueError:
            continue
        vals = {}
        for k, v in r.items():
            if k in ("epoch", "lr", "wall_s") or v in ("", None):
                continue
            try:
                vals[k] = float(v)
            except ValueError:
                pass
        try:
            lr = float(r.get("lr") or "nan")
        except ValueError:
            lr = float("nan")
        out.append(Point("e", (ep + 1) * steps_per_epoch, ep, lr, vals))
    return out


def checkpoints_of(run_dir: str | os.PathLike) -> list[Path]:
    """The run's checkpoint files, newest first."""
    d = Path(run_dir) / "checkpoints"
    try:
        files = [p for p in d.iterdir() if p.suffix in (".pt", ".pth", ".ckpt") and p.is_file()]
    except OSError:
        return []
    return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)


# -- which run belongs to which project file --------------------------------------------------
def _settings():
    from .settings import settings

    return settings()


def _runs_map() -> dict[str, str]:
    raw = _settings().value("runs/byProject", "")
    try:
        d = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        d = {}
    return {str(k): str(v) for k, v in d.items()} if isinstance(d, dict) else {}


def remember_run(project_path: str | os.PathLike, run_dir: str | os.PathLike) -> None:
    """Remember ``run_dir`` as the latest run of the project saved at ``project_path``."""
    key = str(Path(project_path).resolve())
    d = {k: v for k, v in _runs_map().items() if k != key}
    d[key] = str(run_dir)
    if len(d) > MAX_REMEMBERED:
        d = dict(list(d.items())[-MAX_REMEMBERED:])
    s = _settings()
    s.setValue("runs/byProject", json.dumps(d))
    s.sync()


def safe_stem(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "run"


def latest_run(project_path: str | os.PathLike) -> Path | None:
    """The project's latest run with checkpoints: the remembered one, else the newest
    ``runs/<stem>-*`` folder beside the file."""
    path = Path(project_path).resolve()
    known = _runs_map().get(str(path))
    if known and checkpoints_of(known):
        return Path(known)
    root = path.parent / "runs"
    prefix = safe_stem(path.stem) + "-"
    try:
        cands = [d for d in root.iterdir() if d.is_dir() and d.name.startswith(prefix) and checkpoints_of(d)]
    except OSError:
        return None
    return max(cands, key=lambda d: d.stat().st_mtime) if cands else None


def sample_frames(run_dir: str | os.PathLike, max_step: int | None = None) -> list[tuple[int, int, Path]]:
    """(epoch, global_step, png) of the run's on-disk sample timeline (``samples/index.json``, written by
    the GAN/VAE trainers), oldest first; read without the engine (which would import torch)."""
    d = Path(run_dir) / "samples"
    try:
        doc = json.loads((d / "index.json").read_text(encoding="utf-8"))
        frames = doc["frames"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    out = []
    for f in frames if isinstance(frames, list) else []:
        try:
            ep, step, path = int(f["epoch"]), int(f["global_step"]), d / str(f["file"])
        except (KeyError, TypeError, ValueError):
            continue
        if (max_step is None or step <= max_step) and path.is_file():
            out.append((ep, step, path))
    return out


# -- the sample grids that are not on disk (classifier predictions, VAE reconstructions) ---------------

SAMPLE_LOG = "studio_samples.jsonl"
SAMPLE_DIR = "studio_samples"
SAMPLE_CAP = 200  # frames kept per kind; the oldest file goes first


def _jsonable(v: Any) -> bool:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return True
    if isinstance(v, (list, tuple)):
        return all(isinstance(x, (str, int, float, bool)) for x in v)
    return False


class SampleLog:
    """Keeps the grids a run shows but does not write itself (``Samples`` without ``path``) in
    ``<run_dir>/studio_samples/`` (one ``.npz`` each, read back with ``allow_pickle=False``) and an
    index ``studio_samples.jsonl``, so reopening or resuming the run brings its timeline back.
    Never raises (a record, not the run)."""

    def __init__(self, cap: int = SAMPLE_CAP) -> None:
        self.run_dir: Path | None = None
        self.cap = cap
        self._files: dict[str, list[Path]] = {}

    def open(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self._files = {}
        for s in read_sample_log(run_dir):
            name = _sample_name(s.kind, s.epoch, s.global_step)
            self._files.setdefault(s.kind, []).append(self.run_dir / SAMPLE_DIR / name)

    def close(self) -> None:
        self.run_dir = None

    def add(self, ev) -> None:
        if self.run_dir is None or ev.path is not None:
            return
        import numpy as np

        d = self.run_dir / SAMPLE_DIR
        name = _sample_name(ev.kind, ev.epoch, ev.global_step)
        arrays = {"image": np.asarray(ev.image), "labels": np.asarray(ev.labels, dtype=np.int64),
                  "predicted": np.asarray(ev.predicted, dtype=np.int64)}
        extra = {}
        for k, v in (ev.extra or {}).items():
            if isinstance(v, np.ndarray) and v.dtype != object:
                arrays[f"extra__{k}"] = v
            elif _jsonable(v):
                extra[str(k)] = list(v) if isinstance(v, tuple) else v
        grid = ev.grid
        line = {"kind": ev.kind, "e": int(ev.epoch), "s": int(ev.global_step), "file": f"{SAMPLE_DIR}/{name}",
                "extra": extra,
                "grid": None if grid is None else [grid.rows, grid.cols, grid.cell_h, grid.cell_w, grid.padding, grid.n]}
        try:
            d.mkdir(parents=True, exist_ok=True)
            tmp = d / (name + ".tmp")
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)
            os.replace(tmp, d / name)
            with open(self.run_dir / SAMPLE_LOG, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line, separators=(",", ":")) + "\n")
        except (OSError, ValueError):
            return
        files = self._files.setdefault(ev.kind, [])
        files.append(d / name)
        while len(files) > self.cap:
            with contextlib.suppress(OSError):
                files.pop(0).unlink()


def read_sample_log(run_dir: str | os.PathLike, max_step: int | None = None) -> list:
    """The run's logged ``Samples`` (oldest first; at or before ``max_step``; missing files skipped)."""
    import numpy as np

    from engine.train.events import GridGeometry, Samples

    run_dir = Path(run_dir)
    out = []
    try:
        fh = open(run_dir / SAMPLE_LOG, encoding="utf-8")  # noqa: SIM115
    except OSError:
        return out
    with fh:
        for raw in fh:
            try:
                d = json.loads(raw)
                step = int(d["s"])
                if max_step is not None and step > max_step:
                    continue
                path = run_dir / str(d["file"])
                if SAMPLE_DIR not in path.parts or not path.is_file():
                    continue
                with np.load(path, allow_pickle=False) as z:
                    extra = dict(d.get("extra") or {})
                    extra.update({k[len("extra__"):]: z[k] for k in z.files if k.startswith("extra__")})
                    if isinstance(extra.get("classes"), list):
                        extra["classes"] = tuple(extra["classes"])
                    g = d.get("grid")
                    grid = GridGeometry(*(int(v) for v in g)) if isinstance(g, list) and len(g) == 6 else None
                    out.append(Samples(kind=str(d["kind"]), epoch=int(d.get("e", 0)), global_step=step,
                                       image=z["image"], labels=tuple(int(v) for v in z["labels"]),
                                       predicted=tuple(int(v) for v in z["predicted"]), extra=extra, grid=grid,
                                       path=None))
            except (ValueError, KeyError, TypeError, OSError, AttributeError):
                continue
    return out


def _sample_name(kind: str, epoch: int, step: int) -> str:
    return f"{safe_stem(kind)}_epoch_{int(epoch):03d}_step_{int(step):06d}.npz"


def cut_sample_log(run_dir: str | os.PathLike, max_step: int) -> None:
    """Drop the logged grids after ``max_step`` (a resume from an earlier checkpoint), files and lines."""
    run_dir = Path(run_dir)
    path = run_dir / SAMPLE_LOG
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    kept = []
    for raw in lines:
        try:
            d = json.loads(raw)
            if int(d["s"]) <= max_step:
                kept.append(raw)
                continue
            f = run_dir / str(d["file"])
            if SAMPLE_DIR in f.parts:
                with contextlib.suppress(OSError):
                    f.unlink()
        except (ValueError, KeyError, TypeError):
            continue
    if len(kept) != len(lines):
        tmp = path.with_suffix(".jsonl.tmp")
        try:
            tmp.write_text("".join(k + "\n" for k in kept), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass
