"""The one training loop. It drives any ``Trainer`` (supervised, GAN, VAE) the same way:

device, seeding, data on device (or streamed), augmentation, AMP dtype, commands (pause / resume /
stop / snapshot), progress a few times a second, callbacks (history, checkpoints, early stopping,
samples, diagnostics), exact resume, and errors turned into events.

The hot path per step is: a flag check for commands, optional augmentation, ``trainer.train_step``,
appending its on-device logs to a list, and a ``perf_counter`` read. Logs are summed and synced
(one ``.tolist()``) at most ``SYNC_INTERVAL`` apart and at epoch end; NaN/Inf is checked there.
"""

from __future__ import annotations

import collections
import math
import queue
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..project import Project, ProjectError, dumps_project, parse_project
from .callbacks import (
    Callback,
    CheckpointCallback,
    DiagnosticsCallback,
    EarlyStopping,
    HistoryCallback,
    SamplesCallback,
    resolve_mode,
)
from .checkpoint import CheckpointError, CheckpointWriteError, load_checkpoint, save_checkpoint
from .device import capture_rng, resolve_amp_dtype, resolve_device, restore_rng, seed_everything, synchronize
from .events import (
    CheckpointSaved,
    Diagnostic,
    EpochEnd,
    Error,
    Event,
    Finished,
    Log,
    Paused,
    Progress,
    Resumed,
    Started,
)
from .trainer import StepContext, TrainContext

SYNC_INTERVAL = 0.2  # seconds between device syncs / Progress events (5 Hz)


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or Inf."""

    def __init__(self, key: str, first_step: int, last_step: int, lr: float):
        self.key, self.first_step, self.last_step, self.lr = key, first_step, last_step, lr
        where = f"step {last_step}" if first_step >= last_step else f"steps {first_step}-{last_step}"
        super().__init__(f"the {key} became NaN/Inf at {where} (learning rate {lr:.3g})")


class RunFolderError(ValueError):
    """A run folder that already holds another run's results (bad input: a new run would replace them)."""


RUN_OUTPUTS = ("checkpoints/last.pt", "checkpoints/best.pt", "model.pt")


def used_run_folder(run_dir: str | Path) -> str | None:
    """The first result file of an earlier run in ``run_dir`` (None: the folder is free for a new run)."""
    for rel in RUN_OUTPUTS:
        if (Path(run_dir) / rel).is_file():
            return rel
    return None


def check_run_folder(run_dir: str | Path, resume: str | None = None) -> None:
    """A new run never replaces another run's results: a used folder is refused (``RunFolderError``)
    unless this is a resume of a checkpoint from that same folder. Checked by ``train_project`` (the
    CLI, the API) and the studio's runs; jobs that train on purpose into their own folder (compress's
    fine-tuning) drive ``TrainLoop`` directly."""
    run_dir = Path(run_dir)
    used = used_run_folder(run_dir)
    if used is None:
        return
    if resume:
        ck = Path(resume).resolve()
        home = ck.parent.parent if ck.parent.name == "checkpoints" else ck.parent
        if home == run_dir.resolve():
            return
        raise RunFolderError(
            f"{run_dir} already holds another run ({used}); resuming {resume} there would replace its results: "
            f"continue in the checkpoint's own folder ({home}) or choose a new output folder")
    raise RunFolderError(
        f"{run_dir} already holds a run ({used}); a new run there would replace its checkpoints. Choose a new "
        f"output folder, or continue that run with --resume {run_dir / 'checkpoints' / 'last.pt'}")


def first_nonfinite(named: Any) -> str | None:
    """The name of the first floating tensor in ``named`` ((name, tensor) pairs) holding NaN/Inf."""
    for name, t in named:
        if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
            return name
    return None


def _module_state(modules: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for mname, m in modules.items():
        prefix = f"{mname}." if len(modules) > 1 else ""
        out += [(prefix + k, v) for k, v in m.state_dict().items()]
    return out


# ---------------------------------------------------------------------------------------------
# commands


class Control:
    """Commands for a running loop: a thread-safe queue plus a flag the loop reads once per step."""

    COMMANDS = ("pause", "resume", "stop", "snapshot")

    def __init__(self) -> None:
        self._q: queue.Queue[str] = queue.Queue()
        self._from_signal: collections.deque[str] = collections.deque()  # lock-free: safe in a signal handler
        self.pending = False

    def put(self, cmd: str) -> None:
        if cmd not in self.COMMANDS:
            raise ValueError(f"unknown command {cmd!r} (known: {', '.join(self.COMMANDS)})")
        self._q.put(cmd)
        self.pending = True

    def put_from_signal(self, cmd: str) -> None:
        """``put`` for a signal handler (Ctrl+C): takes no lock, so it cannot deadlock with the loop
        when the signal lands while the loop's own thread holds the queue's lock."""
        self._from_signal.append(cmd)
        self.pending = True

    def drain(self) -> list[str]:
        self.pending = False
        out = []
        while self._from_signal:
            out.append(self._from_signal.popleft())
        while True:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                return out

    def wait(self, timeout: float) -> str | None:
        if self._from_signal:
            return self._from_signal.popleft()
        try:
            cmd = self._q.get(timeout=timeout)
        except queue.Empty:
            return self._from_signal.popleft() if self._from_signal else None
        self.pending = not self._q.empty() or bool(self._from_signal)
        return cmd


# ---------------------------------------------------------------------------------------------
# project preparation


def _set_path(d: dict[str, Any], dotted: str, value: Any) -> None:
    """One path syntax everywhere: ``train.epochs``, ``model.nodes[c1].params.out_channels``."""
    from ..edits import set_path

    try:
        set_path(d, dotted, value)
    except ValueError as exc:
        raise ProjectError(f"overrides: {exc}") from None


def prepare_project(project: Project | dict[str, Any], overrides: dict[str, Any] | None = None) -> Project:
    """A validated private copy of ``project`` with ``overrides`` ({"train.epochs": 3, ...}) applied."""
    if isinstance(project, dict):
        raw = dict(project)
        full_check = True
    elif isinstance(project, Project):
        raw = project.to_dict()
        full_check = False
    else:
        raise ProjectError(f"expected a Project or a dict, got {type(project).__name__}")
    if not overrides:
        return parse_project(raw) if full_check else Project.model_validate(raw)
    for k, v in overrides.items():
        if not isinstance(k, str) or not k:
            raise ProjectError(f"overrides: bad path {k!r}")
        _set_path(raw, k, v)
    if full_check:
        return parse_project(raw)
    from pydantic import ValidationError

    try:
        return Project.model_validate(raw)
    except ValidationError as exc:
        msgs = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise ProjectError("; ".join(msgs), "overrides") from None


def _bad_input_types() -> tuple[type[BaseException], ...]:
    from ..data.augment import AugmentError
    from ..data.datasets import DatasetError
    from .device import DeviceError
    from .optim import TrainConfigError
    from .supervised import ModelOutputError

    types: list[type[BaseException]] = [ProjectError, DatasetError, AugmentError, DeviceError, TrainConfigError,
                                        ModelOutputError, CheckpointError, RunFolderError]
    try:
        from ..graph import CompileError

        types.append(CompileError)
    except ImportError:
        pass
    return tuple(types)


bad_input_types = _bad_input_types  # the public name (jobs classify their errors the same way)


# ---------------------------------------------------------------------------------------------
# the loop


class TrainLoop:
    """Run one training to the end (or a stop/failure) and emit events through ``emit``."""

    def __init__(self, project: Project | dict[str, Any], run_dir: str | Path, *,
                 emit: Callable[[Event], None] | None = None, control: Control | None = None,
                 resume: str | None = None, overrides: dict[str, Any] | None = None,
                 trainer: Any = None, sync_interval: float = SYNC_INTERVAL, threads: int | None = None):
        self._project_in = project
        self._overrides = overrides
        self.run_dir = Path(run_dir)
        self._emit = emit or (lambda ev: None)
        self.control = control or Control()
        self.resume_path = resume
        self.trainer = trainer
        self.sync_interval = sync_interval
        self.default_threads = threads
        self.history: list[dict[str, float]] = []
        self.callbacks: list[Callback] = []
        self.last_samples: dict[str, Any] = {}
        self.checkpoint_paths: dict[str, str] = {}
        self.epoch = 0
        self.step_in_epoch = 0
        self.global_step = 0
        self.stop_status: str | None = None
        self.restored_epoch: int | None = None
        self.train_time = 0.0
        self.train_cpu_time = 0.0  # process CPU seconds in the step loop (robust to a busy machine)
        self.train_steps = 0
        self._ep_sums: dict[str, float] = {}
        self._ep_count = 0
        self._last_saved_step = -1
        self._pending: list[dict[str, Any]] = []
        self._last_sync_step = 0

    # -- small services for callbacks ---------------------------------------------------------
    def emit(self, ev: Event) -> None:
        self._emit(ev)

    def log(self, message: str, level: str = "info") -> None:
        self._emit(Log(message=message, level=level))

    def request_stop(self, status: str = "stopped") -> None:
        if self.stop_status is None:
            self.stop_status = status

    def ckpt_path(self, kind: str) -> Path:
        return self.run_dir / "checkpoints" / f"{kind}.pt"

    def save_checkpoint(self, kind: str, mid_epoch: bool = False) -> str:
        """Save the full training state; ``mid_epoch`` when called inside an epoch (snapshot / stop).
        A model holding NaN/Inf (weights or buffers) is never saved: it raises ``NonFiniteLoss``."""
        self._check_finite_state()
        payload = {
            "kind": kind,
            "trainer": self.trainer.state_dict(),
            "rng": capture_rng(),
            "data": self.batches.state_dict(mid_epoch),
            "epoch": self.epoch if mid_epoch else self.epoch + 1,
            "step_in_epoch": self.step_in_epoch if mid_epoch else 0,
            "global_step": self.global_step,
            "history": [dict(r) for r in self.history],
            "callbacks": {cb.name: cb.state_dict() for cb in self.callbacks},
            "partial": {"sums": dict(self._ep_sums), "count": self._ep_count} if mid_epoch else None,
            "project": dumps_project(self.project),
            "device": str(self.device),
            "saved_at": time.time(),
        }
        path = self.ckpt_path(kind)
        save_checkpoint(path, payload)
        self.checkpoint_paths[kind] = str(path)
        self._last_saved_step = self.global_step
        self.emit(CheckpointSaved(path=str(path), epoch=self.epoch, global_step=self.global_step, kind=kind))
        return str(path)

    def _check_finite_state(self) -> None:
        bad = first_nonfinite(_module_state(self.trainer.modules()))
        if bad is not None:
            raise NonFiniteLoss(f"model tensor {bad}", self.global_step, self.global_step, self.trainer.current_lr())

    def _buffers(self) -> list[tuple[str, torch.Tensor]]:
        mods = self.trainer.modules()
        out = []
        for mname, m in mods.items():
            prefix = f"{mname}." if len(mods) > 1 else ""
            out += [(prefix + n, b) for n, b in m.named_buffers() if b.is_floating_point() and b.numel()]
        return out

    # -- setup --------------------------------------------------------------------------------
    def _setup(self) -> None:
        from ..data import load_bundle
        from ..data.augment import build_augment, build_normalize
        from ..data.datasets import DataBundle
        from ..data.loader import SourceBatches, make_batches

        self.project = prepare_project(self._project_in, self._overrides)
        p, t = self.project, self.project.train
        _refuse_what_cannot_fit(p)
        self.device = resolve_device(t.device)
        threads = t.threads or self.default_threads
        if threads:
            torch.set_num_threads(int(threads))  # process-wide
        seed_everything(t.seed)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        from ..fsutil import remove_stale_temps

        for folder in (self.run_dir, self.run_dir / "checkpoints"):  # left by a run that was killed mid-write
            remove_stale_temps(folder)
        bundle = load_bundle(p.data, task=t.task, stream=p.data.stream)
        if bundle.skipped:
            shown = "; ".join(f"{path}: {why}" for path, why in bundle.skipped[:5])
            more = f" (and {len(bundle.skipped) - 5} more)" if len(bundle.skipped) > 5 else ""
            from ..data.sources import skipped_noun

            self.log(f"data: skipped {len(bundle.skipped)} {skipped_noun(bundle.skipped)}: {shown}{more}", "warning")
        if self.trainer is None:  # the project's own graphs: the same model-vs-data rules as `check`
            from ..graph.datacheck import DataFacts, check_model_against_data
            from .optim import check_task_loss

            if t.task not in ("gan", "vae"):
                check_task_loss(t.task, t.loss)  # a loss that does not fit the task is the first thing to fix
            check_model_against_data(p, DataFacts(tuple(bundle.input_shape), bundle.num_classes, p.data.dataset))
        image_data = len(bundle.input_shape) == 3
        channels = bundle.input_shape[0] if image_data else 1
        self.augment = build_augment(p.data.augment, channels) if p.data.augment and image_data else None
        norm = build_normalize(p.data.augment, channels) if p.data.augment and image_data else None
        self.normalize, denormalize = norm if norm else (None, None)
        if p.data.augment and not image_data:
            self.log("data.augment is ignored: the data is not images", "warning")
        if bundle.streamed:
            self.batches = SourceBatches(bundle.train_x.dataset, p.data.batch_size, self.device, seed=t.seed,
                                         num_workers=p.data.num_workers, on_skip=self._skipped_while_streaming)
        else:
            self.batches = make_batches(bundle.train_x, bundle.train_y, p.data.batch_size, self.device,
                                        seed=t.seed, num_workers=p.data.num_workers)
        if self.batches.streaming:
            how = {"main": "in the training process (data.num_workers > 0 fetches in parallel)",
                   "processes": f"in {p.data.num_workers} worker process(es) through a DataLoader",
                   "threads": f"in {p.data.num_workers} thread(s) (this process may not start worker processes)",
                   }[self.batches.workers]
            if bundle.streamed:
                self.log(f"data: streaming the {len(bundle.train_x):,} training samples from {p.data.dataset} "
                         f"({bundle.stream_reason}): each batch is decoded {how}")
            else:
                self.log(f"data: streaming the decoded training data from CPU memory: each batch is gathered {how}")
        val_x = bundle.val_x.to(self.device)
        if self.normalize is not None:
            val_x = self.normalize(val_x)
        train_x = getattr(self.batches, "x", bundle.train_x)  # a streamed split: a lazy view, decoded on use
        train_y = getattr(self.batches, "y", bundle.train_y)
        if bundle.streamed:
            train_x, train_y = bundle.train_x.to(self.device), bundle.train_y.to(self.device)
        data = DataBundle(train_x, train_y, val_x, bundle.val_y.to(self.device), bundle.classes, bundle.input_shape)
        self.amp_dtype = resolve_amp_dtype(self.device, t.amp, t.amp_dtype)
        if t.amp and self.device.type == "cpu" and t.amp_dtype == "fp16":
            self.log("fp16 autocast is not supported on CPU; using bf16", "warning")
        self.steps_per_epoch = self.batches.steps_per_epoch
        ctx = TrainContext(
            project=p, device=self.device, data=data, run_dir=str(self.run_dir), amp_dtype=self.amp_dtype,
            compile=t.compile,
            extras={"steps_per_epoch": self.steps_per_epoch, "log": self.log, "emit": self.emit,
                    "normalize": self.normalize, "denormalize": denormalize, "classes": bundle.classes},
        )
        if self.trainer is None:
            from . import make_trainer

            self.trainer = make_trainer(p)
        self.trainer.setup(ctx)
        self.total_params = sum(int(q.numel()) for m in self.trainer.modules().values() for q in m.parameters())
        es = t.early_stopping
        monitor = es.monitor if es.enabled else getattr(self.trainer, "monitor_default", "val_loss")
        self.monitor = monitor
        self.monitor_mode = resolve_mode(monitor, es.mode if es.enabled else "auto")
        self.callbacks = [SamplesCallback(), HistoryCallback()]
        if es.enabled:
            self.callbacks.append(EarlyStopping(es.monitor, es.mode, es.patience, es.min_delta, es.restore_best))
        min_delta = es.min_delta if es.enabled else 0.0  # so best.pt is the epoch early stopping restores
        fallback = getattr(self.trainer, "monitor_default", None)
        self.callbacks += [CheckpointCallback(monitor, self.monitor_mode, t.checkpoint_every, min_delta, fallback),
                           DiagnosticsCallback()]
        max_steps = t.max_steps if t.max_steps is not None else math.inf
        self.total_steps = int(min(t.epochs * self.steps_per_epoch, max_steps))
        self.start_epoch, self.start_step = 0, 0
        if self.resume_path:
            self._load_resume(self.resume_path)

    def _skipped_while_streaming(self, path: str, reason: str) -> None:
        from ..data.loader import skipped_while_streaming

        self.log(skipped_while_streaming(path, reason), "warning")

    def _load_resume(self, path: str) -> None:
        ck = load_checkpoint(path)
        bad_state = (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError)
        try:
            self._check_resume_fits(ck, path)
        except CheckpointError:
            raise
        except bad_state as exc:
            raise CheckpointError(f"{path}: the checkpoint is malformed ({type(exc).__name__}: {str(exc)[:120]})") from None
        try:
            self.trainer.load_state_dict(ck["trainer"])
        except bad_state as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"{path}: the checkpoint does not fit this project's model ({first})") from None
        try:
            self._restore_loop_state(ck, path)
        except CheckpointError:
            raise
        except bad_state as exc:
            raise CheckpointError(f"{path}: the checkpoint's training state is incomplete or malformed "
                                  f"({type(exc).__name__}: {str(exc)[:120]})") from None
        self.log(f"resumed from {path} at epoch {self.start_epoch + 1}, step {self.global_step}")
        if self.start_epoch >= self.project.train.epochs:
            self.log(f"nothing left to train: the checkpoint has done {self.start_epoch} epoch(s) and train.epochs "
                     f"is {self.project.train.epochs} (raise train.epochs, or pass --epochs, to continue)", "warning")

    def _restore_loop_state(self, ck: dict[str, Any], path: str) -> None:
        self.batches.load_state_dict(ck["data"])
        self.start_epoch = int(ck["epoch"])
        self.start_step = int(ck["step_in_epoch"])
        if not 0 <= self.start_step <= self.steps_per_epoch:
            raise CheckpointError(f"{path}: the checkpoint stopped at step {self.start_step} of an epoch, but this "
                                  f"project has {self.steps_per_epoch} steps per epoch (the data or batch size "
                                  "changed); exact resume needs the same data settings")
        self.global_step = int(ck["global_step"])
        self.history = [dict(r) for r in ck.get("history", [])]
        partial = ck.get("partial")
        if partial:
            self._ep_sums = dict(partial["sums"])
            self._ep_count = int(partial["count"])
        cbs = ck.get("callbacks", {})
        for cb in self.callbacks:
            if cb.name in cbs:
                cb.load_state_dict(cbs[cb.name])
        for kind in ("best", "last"):
            if self.ckpt_path(kind).is_file():
                self.checkpoint_paths[kind] = str(self.ckpt_path(kind))
        if "best" not in self.checkpoint_paths:
            src_best = Path(path).parent / "best.pt"
            if src_best.is_file():
                self.checkpoint_paths["best"] = str(src_best)
        restore_rng(ck["rng"])

    def _check_resume_fits(self, ck: dict[str, Any], path: str) -> None:
        """Refuse, in one plain line, a checkpoint from another kind of run or another architecture."""
        import json

        try:
            saved = json.loads(ck.get("project") or "{}")
        except (TypeError, ValueError):
            saved = {}
        saved = saved if isinstance(saved, dict) else {}
        name = saved.get("name") or "?"
        st = saved.get("train") if isinstance(saved.get("train"), dict) else {}
        t = self.project.train
        task = st.get("task", "classification")
        if saved and task != t.task:
            raise CheckpointError(f"{path}: the checkpoint is from a {task} run (project {name!r}); this project "
                                  f"trains {t.task}: start a new run without --resume")
        opt = st.get("optimizer", {}).get("name") if isinstance(st.get("optimizer"), dict) else None
        if opt and opt != t.optimizer.name:
            raise CheckpointError(f"{path}: the checkpoint was trained with optimizer {opt!r} (project {name!r}); "
                                  f"this project uses {t.optimizer.name!r}: resume needs the same optimizer")
        models = ck.get("trainer", {}).get("models") if isinstance(ck.get("trainer"), dict) else None
        if isinstance(models, dict):
            from .checkpoint import state_mismatch

            why = state_mismatch(models, self.trainer.modules())
            if why:
                raise CheckpointError(f"{path}: the checkpoint does not fit this project's model (it was saved from "
                                      f"project {name!r}, a different architecture): {why}")
        now_train = self.project.to_dict().get("train", {})
        changed_t = sorted(f"train.{k}" for k in ("optimizer", "schedule", "loss", "l1", "grad_clip", "label_smoothing")
                           if k in st and st.get(k) != now_train.get(k))
        if changed_t:
            verb = "differs" if len(changed_t) == 1 else "differ"
            self.log(f"{', '.join(changed_t)} {verb} from the checkpoint's: the optimizer and schedule state saved "
                     "in the checkpoint (learning rate included) are what training continues with", "warning")
        horizon = [k for k in ("epochs", "max_steps") if st.get(k) != now_train.get(k)]
        if t.schedule.name in ("cosine", "onecycle") and horizon and st:
            self.log(f"train.{' and train.'.join(horizon)} changed since the checkpoint: the {t.schedule.name} "
                     "schedule keeps the length it was given when the run started", "warning")
        sd = saved.get("data") if isinstance(saved.get("data"), dict) else None
        if sd is not None:
            now = self.project.to_dict().get("data", {})
            same_batches = ("num_workers", "stream")  # how batches are fetched, not which: resume stays exact
            changed = sorted(k for k in set(sd) | set(now) if k not in same_batches and sd.get(k) != now.get(k))
            if changed:
                self.log(f"the data settings differ from the checkpoint's ({', '.join('data.' + k for k in changed)}): "
                         "training continues, but not exactly as the original run would have", "warning")
        if saved and name != self.project.name:
            self.log(f"resuming from a checkpoint of project {name!r} (same architecture)", "warning")

    # -- commands -----------------------------------------------------------------------------
    def _commands(self) -> None:
        for cmd in self.control.drain():
            self._command(cmd)

    def _command(self, cmd: str) -> None:
        if cmd == "stop":
            self.request_stop("stopped")
        elif cmd == "snapshot":
            self._snapshot_now()
        elif cmd == "pause":
            self._pause()

    def _pause(self) -> None:
        t0 = time.perf_counter()
        self.emit(Paused(global_step=self.global_step))
        while True:
            cmd = self.control.wait(0.25)
            if cmd is None:
                continue
            if cmd == "resume":
                break
            if cmd == "stop":
                self.request_stop("stopped")
                break
            if cmd == "snapshot":
                self._snapshot_now()
        self._paused_s += time.perf_counter() - t0
        self.emit(Resumed(global_step=self.global_step))

    def _snapshot_now(self) -> None:
        """Save ``last.pt`` at this step boundary (mid-epoch state; resumes exactly)."""
        self._sync(self._pending, self._last_sync_step)
        self.save_checkpoint("last", mid_epoch=True)

    # -- the loop -----------------------------------------------------------------------------
    def _sync(self, pending: list[dict[str, Any]], since_step: int) -> dict[str, float]:
        """Sum the on-device logs since the last sync (one device sync); raise on NaN/Inf."""
        if not pending:
            return {}
        keys = list(pending[0])
        sums = torch.stack([torch.stack([d[k].detach().float().reshape(()) for d in pending]).sum() for k in keys])
        bufs = self._buffers()  # BatchNorm running stats can blow up while the loss still looks finite
        if bufs:
            flags = torch.stack([torch.isfinite(b).all().to(sums.device) for _, b in bufs]).float()
            vals = torch.cat([sums, flags]).tolist()  # one device sync for both
            vals, flag_vals = vals[: len(keys)], vals[len(keys):]
            for (bname, _), ok in zip(bufs, flag_vals):
                if not ok:
                    pending.clear()
                    raise NonFiniteLoss(f"model buffer {bname}", since_step + 1, self.global_step,
                                        self.trainer.current_lr())
        else:
            vals = sums.tolist()
        n = len(pending)
        pending.clear()
        out = {}
        for k, v in zip(keys, vals):
            if not math.isfinite(v):
                raise NonFiniteLoss(k, since_step + 1, self.global_step, self.trainer.current_lr())
            self._ep_sums[k] = self._ep_sums.get(k, 0.0) + v
            out[k] = v / n
        self._ep_count += n
        return out

    def _train(self) -> str:
        t = self.project.train
        trainer, batches, control = self.trainer, self.batches, self.control
        augment, normalize = self.augment, self.normalize
        spe, total = self.steps_per_epoch, self.total_steps
        self._paused_s = 0.0
        for cb in self.callbacks:
            cb.on_train_start(self)
        wants_samples = getattr(trainer, "wants_samples", None)  # optional: mid-epoch sample grids (GAN/VAE)
        epoch = self.start_epoch
        run_t0 = time.perf_counter()
        steps_at_start = self.global_step
        while epoch < t.epochs and self.global_step < total and self.stop_status is None:
            self.epoch = epoch
            ep_t0 = time.perf_counter()
            for m in trainer.modules().values():
                m.train()
            start_step = self.start_step if epoch == self.start_epoch else 0
            if start_step == 0:
                self._ep_sums, self._ep_count = {}, 0
            step = start_step
            self.step_in_epoch = step
            pending: list[dict[str, Any]] = []
            self._pending = pending
            self._last_sync_step = last_sync_step = self.global_step
            last_sync_t = time.perf_counter()
            samples = 0
            next_sync = last_sync_t + self.sync_interval
            paused_before = self._paused_s
            loop_t0 = last_sync_t
            cpu_t0 = time.process_time()
            for batch in batches.epoch(start_step):
                if control.pending:
                    self.step_in_epoch = step
                    self._commands()
                    if self.stop_status is not None:
                        break
                if augment is not None:
                    batch = (augment(batch[0]), batch[1])
                if normalize is not None:
                    batch = (normalize(batch[0]), batch[1])
                step += 1
                sc = StepContext(epoch, step, self.global_step, spe)
                logs = trainer.train_step(batch, sc)
                self.global_step += 1
                pending.append(logs)
                if wants_samples is not None and wants_samples(sc):
                    for ev in trainer.samples(epoch, self.global_step):
                        self.emit(ev)
                        self.last_samples[ev.kind] = ev
                samples += len(batch[0])
                if self.global_step >= total:
                    break
                now = time.perf_counter()
                if now >= next_sync:
                    self.step_in_epoch = step
                    self._progress(pending, last_sync_step, now - last_sync_t, samples, run_t0, steps_at_start)
                    last_sync_step, last_sync_t, samples = self.global_step, time.perf_counter(), 0
                    self._last_sync_step = last_sync_step
                    next_sync = last_sync_t + self.sync_interval
            self.step_in_epoch = step
            if pending:
                synchronize(self.device)
                now = time.perf_counter()
                self._progress(pending, last_sync_step, now - last_sync_t, samples, run_t0, steps_at_start)
            synchronize(self.device)
            self.train_time += time.perf_counter() - loop_t0 - (self._paused_s - paused_before)
            self.train_cpu_time += time.process_time() - cpu_t0
            self.train_steps += step - start_step
            if self.stop_status == "stopped" and step < spe and self.global_step < total:
                break  # stopped mid-epoch: no validation for a partial epoch
            self._end_epoch(epoch, time.perf_counter() - ep_t0 - (self._paused_s - paused_before))
            epoch += 1
        return self.stop_status or "completed"

    def _progress(self, pending, last_sync_step, dt, samples, run_t0, steps_at_start) -> None:
        logs = self._sync(pending, last_sync_step)
        elapsed = max(time.perf_counter() - run_t0 - self._paused_s, 1e-9)
        rate = (self.global_step - steps_at_start) / elapsed
        eta = (self.total_steps - self.global_step) / rate if rate > 0 else float("inf")
        self.emit(Progress(
            epoch=self.epoch, step=self.step_in_epoch, global_step=self.global_step, total_steps=self.total_steps,
            lr=self.trainer.current_lr(), samples_per_sec=samples / max(dt, 1e-9), eta_s=eta, metrics=logs,
        ))
        self._trainer_diagnostics()
        for cb in self.callbacks:
            cb.on_step_end(self, logs)

    def _trainer_diagnostics(self) -> None:
        diag = getattr(self.trainer, "diagnostics", None)  # optional: problems the trainer saw since last call
        if diag is not None:
            for d in diag():
                self.emit(d)

    def _end_epoch(self, epoch: int, wall_s: float) -> None:
        n = max(self._ep_count, 1)
        train = {("train_loss" if k == "loss" else k): v / n for k, v in self._ep_sums.items()}
        val = self.trainer.end_epoch(epoch)
        metrics = {**train, **val}
        lr = self.trainer.current_lr()
        row = {"epoch": epoch, **metrics, "lr": lr, "wall_s": wall_s}
        self.history.append(row)
        self.emit(EpochEnd(epoch=epoch, global_step=self.global_step, lr=lr, wall_s=wall_s, metrics=dict(metrics)))
        self._ep_sums, self._ep_count = {}, 0
        for cb in self.callbacks:
            cb.on_epoch_end(self, epoch, metrics)
        self._trainer_diagnostics()

    def _emit_oom(self, exc: BaseException) -> None:
        """The same explanation for out of memory on any device (CPU included)."""
        dev = getattr(self, "device", None)
        self.emit(Diagnostic(code="oom", severity="error", global_step=self.global_step,
                             message="The device ran out of memory.",
                             suggestion="Lower data.batch_size, use a smaller model, or enable train.amp."))
        self.emit(Error(message=f"Out of memory on {dev if dev is not None else 'this machine'}: lower the batch "
                                "size or the model size.",
                        details=f"{exc}\n{traceback.format_exc()}", kind="oom"))
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # -- the end ------------------------------------------------------------------------------
    def _write_outputs(self, status: str) -> None:
        if self._last_saved_step != self.global_step:
            if self.history and self.history[-1]["epoch"] == self.epoch:  # the epoch was completed
                self.save_checkpoint("last")
            elif status == "stopped":  # stopped inside an epoch (even before its first step)
                self.save_checkpoint("last", mid_epoch=True)
        for cb in self.callbacks:  # after the last checkpoint: early stopping may restore the best weights
            cb.on_train_end(self, status)
        from ..fsutil import atomic_write_text, atomic_write_with
        from .history import write_history_csv

        mods = self.trainer.modules()
        if len(mods) == 1:
            state = next(iter(mods.values())).state_dict()
            named = list(state.items())
        else:  # GAN/VAE: {role: state_dict}, including a GAN's weight-averaged generator when there is one
            state = self.trainer.state_dict().get("models") or {n: m.state_dict() for n, m in mods.items()}
            named = [(f"{r}.{k}", v) for r, sd in state.items() for k, v in sd.items()]
        bad = first_nonfinite(named)
        if bad is not None:  # never hand out a NaN model as the result
            raise NonFiniteLoss(f"model tensor {bad}", self.global_step, self.global_step, self.trainer.current_lr())
        atomic_write_with(self.run_dir / "model.pt", lambda fh: torch.save(state, fh))
        atomic_write_text(self.run_dir / "project.json", dumps_project(self.project))
        write_history_csv(self.run_dir / "history.csv", self.history)

    def _final_metrics(self) -> dict[str, float]:
        final: dict[str, float] = {}
        if self.history:
            row = self.history[-1]
            if self.restored_epoch is not None:
                row = next((r for r in self.history if r["epoch"] == self.restored_epoch), row)
            final = {k: float(v) for k, v in row.items() if k not in ("epoch", "lr", "wall_s")}
        if self.train_time > 0 and self.train_steps:
            final["train_steps_per_s"] = self.train_steps / self.train_time
        if self.train_cpu_time > 0 and self.train_steps:
            final["train_steps_per_cpu_s"] = self.train_steps / self.train_cpu_time
        return final

    def run(self) -> Finished:
        """Train; every outcome ends with one ``Finished`` event (also returned)."""
        t0 = time.time()
        status = "failed"
        started = False
        try:
            self._setup()
            self.emit(Started(
                run_dir=str(self.run_dir), device=str(self.device), trainer=getattr(self.trainer, "name", "?"),
                epochs=self.project.train.epochs, steps_per_epoch=self.steps_per_epoch,
                start_epoch=self.start_epoch, start_step=self.global_step, total_params=self.total_params,
            ))
            started = True
            status = self._train()
            self._write_outputs(status)
        except NonFiniteLoss as exc:
            self.emit(Diagnostic(
                code="nan_loss", severity="error", global_step=exc.last_step,
                message=f"The {exc.key} became NaN/Inf around step {exc.last_step} with learning rate {exc.lr:.3g}.",
                suggestion="Lower the learning rate or enable gradient clipping (train.grad_clip); "
                           "check the data for extreme values.",
            ))
            kept = self.checkpoint_paths.get("last")
            self.emit(Error(message=f"Training stopped: {exc}. "
                                    + (f"The last good checkpoint is kept: {kept}" if kept else "No checkpoint was saved yet."),
                            details=traceback.format_exc(), kind="nan"))
        except CheckpointWriteError as exc:
            self.emit(Error(message=f"Training stopped: {exc}.", details=traceback.format_exc(), kind="disk"))
        except (torch.OutOfMemoryError, MemoryError) as exc:
            self._emit_oom(exc)
        except Exception as exc:
            from ..fsutil import full_reason, is_disk_full

            bad = _bad_input_types()
            if is_out_of_memory(exc):
                self._emit_oom(exc)
            elif is_disk_full(exc):
                where = f" {exc.filename}" if getattr(exc, "filename", None) else f" into {self.run_dir}"
                kept = self.checkpoint_paths.get("last")
                self.emit(Error(message=f"Training stopped: cannot write{where}: {full_reason(exc)}. "
                                        + (f"The last checkpoint is intact: {kept}" if kept else
                                           "No checkpoint was saved yet."),
                                details=traceback.format_exc(), kind="disk"))
            elif isinstance(exc, bad):
                self.emit(Error(message=_plain_message(exc), details=traceback.format_exc(), kind="bad_project"))
            else:
                where = "while training" if started else "while setting up training"
                self.emit(Error(message=f"{type(exc).__name__} {where}: {exc}", details=traceback.format_exc(),
                                kind="exception"))
        finally:
            for cb in self.callbacks:
                try:
                    cb.close()
                except Exception:  # closing a log writer must not mask the real outcome
                    pass
            batches = getattr(self, "batches", None)
            if batches is not None:
                try:
                    batches.close()  # worker processes of a streamed dataset
                except Exception:
                    pass
        best_epoch = None
        for cb in self.callbacks:
            if isinstance(cb, CheckpointCallback):
                best_epoch = cb.m.best_epoch
        if self.restored_epoch is not None:
            best_epoch = self.restored_epoch
        fin = Finished(
            status=status, epochs_run=len(self.history), global_step=self.global_step, wall_s=time.time() - t0,
            best_epoch=best_epoch, final=self._final_metrics(),
            checkpoints={k: v for k, v in self.checkpoint_paths.items() if Path(v).is_file()},
            history=tuple(dict(r) for r in self.history),
        )
        self.emit(fin)
        return fin


def _refuse_what_cannot_fit(project: Project) -> None:
    """Memory estimated from shapes (``analyze``) before any tensor exists: a model or batch that cannot
    fit is bad input, named by node and figure, instead of a crash in the allocator minutes later."""
    from ..graph import CompileError, analyze_project, problems_of

    mem = [e for e in problems_of(analyze_project(project)) if e.kind == "memory"]
    if mem:
        raise CompileError(mem, mem[0].graph)


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, Python's MemoryError, or the CPU allocator's RuntimeError."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "not enough memory" in text
                                              or "DefaultCPUAllocator" in text)


def _plain_message(exc: BaseException) -> str:
    """The exception text, plus each listed error (a CompileError's ``errors``) when not already in it."""
    msg = str(exc)
    items = getattr(exc, "errors", None)
    if isinstance(items, (list, tuple)) and items:
        lines = [str(e) for e in items if getattr(e, "level", "error") == "error" and str(e) not in msg]
        if lines:
            msg = (msg + "\n" if msg else "") + "\n".join(f"  - {line}" for line in lines)
    return msg


def run_training(project: Project | dict[str, Any], run_dir: str | Path, **kw: Any) -> Finished:
    """Convenience: ``TrainLoop(project, run_dir, **kw).run()``."""
    return TrainLoop(project, run_dir, **kw).run()
