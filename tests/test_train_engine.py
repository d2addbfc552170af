"""The training engine without runners: loop, trainer, optimizers, schedules, losses, metrics,
checkpoints, resume, early stopping, devices."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from engine.project import Project, ProjectError
from engine.train import checkpoint as ckpt_mod
from engine.train import device as device_mod
from engine.train.callbacks import EarlyStopping
from engine.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from engine.train.events import (
    CheckpointSaved,
    Diagnostic,
    EpochEnd,
    Error,
    Finished,
    Log,
    Progress,
    Samples,
    Started,
)
from engine.train.history import read_history_csv
from engine.train.loop import Control, TrainLoop, prepare_project
from engine.train.metrics import binary_scores, confusion_matrix, scores_from_confusion
from engine.train.optim import LRSchedule, TrainConfigError, build_loss, check_task_loss
from engine.train.supervised import SupervisedTrainer


def graph(out: int = 10, hidden: int = 16) -> dict:
    nodes = [
        {"id": "input", "type": "Input", "params": {"shape": [1, 28, 28]}},
        {"id": "flat", "type": "Flatten", "params": {}},
        {"id": "fc1", "type": "Linear", "params": {"out_features": hidden}},
        {"id": "act", "type": "ReLU", "params": {}},
        {"id": "fc2", "type": "Linear", "params": {"out_features": out}},
        {"id": "output", "type": "Output", "params": {}},
    ]
    return {"nodes": nodes, "edges": [[a["id"], b["id"]] for a, b in zip(nodes, nodes[1:])]}


def project(train: dict | None = None, data: dict | None = None, out: int = 10) -> Project:
    d = {
        "name": "t",
        "data": {"limit": 300, "batch_size": 32, **(data or {})},
        "model": graph(out),
        "train": {"device": "cpu", "epochs": 1, **(train or {})},
    }
    return Project.model_validate(d)


def mlp(out: int = 10, seed: int = 0, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, out))


def run(p: Project, tmp_path, name: str = "run", **kw) -> tuple[Finished, list, TrainLoop]:
    events: list = []
    loop = TrainLoop(p, tmp_path / name, emit=events.append, **kw)
    fin = loop.run()
    return fin, events, loop


def of(events, cls):
    return [e for e in events if isinstance(e, cls)]


# ---------------------------------------------------------------------------------------------
# end to end through compile_graph


def test_classification_run_emits_events_and_writes_outputs(tmp_path):
    fin, ev, loop = run(project({"epochs": 2}), tmp_path)
    assert fin.status == "completed", of(ev, Error)
    assert isinstance(ev[0], Started) and ev[0].trainer == "supervised" and ev[0].device == "cpu"
    assert ev[-1] is fin
    ends = of(ev, EpochEnd)
    assert [e.epoch for e in ends] == [0, 1]
    for e in ends:
        for k in ("train_loss", "val_loss", "val_accuracy", "val_precision", "val_recall", "val_f1"):
            assert math.isfinite(e.metrics[k]), k
        assert e.lr == pytest.approx(1e-3)
    assert of(ev, Progress) and all(p.lr == pytest.approx(1e-3) for p in of(ev, Progress))
    grid = of(ev, Samples)[-1]
    assert grid.kind == "predictions" and grid.image.dtype == np.uint8 and grid.image.ndim == 2
    assert len(grid.labels) == len(grid.predicted) == 16
    assert grid.extra["confusion"].shape == (10, 10)
    assert grid.extra["confusion"].sum() == len(loop.trainer.data.val_y) > 20  # every validation sample
    assert {c.kind for c in of(ev, CheckpointSaved)} == {"last", "best"}
    for f in ("model.pt", "project.json", "history.csv", "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (tmp_path / "run" / f).is_file(), f
    rows = read_history_csv(tmp_path / "run" / "history.csv")
    assert [r["epoch"] for r in rows] == [0, 1]
    sd = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert set(sd) >= {"fc1.weight", "fc2.bias"}
    assert fin.final["val_accuracy"] == ends[-1].metrics["val_accuracy"]
    assert fin.final["train_steps_per_s"] > 0


def test_compile_error_becomes_bad_project_error(tmp_path):
    p = project()
    bad = p.to_dict()
    bad["model"]["edges"] = bad["model"]["edges"][:-1]  # the Output is cut off
    fin, ev, _ = run(Project.model_validate(bad), tmp_path)
    assert fin.status == "failed"
    err = of(ev, Error)[0]
    assert err.kind == "bad_project" and err.message


def test_output_size_must_fit_the_task(tmp_path):
    fin, ev, _ = run(project(out=7), tmp_path)
    err = of(ev, Error)[0]
    assert fin.status == "failed" and err.kind == "bad_project"
    assert "10" in err.message and "class" in err.message


@pytest.mark.parametrize("task,loss", [("classification", "mse"), ("regression", "cross_entropy"),
                                       ("binary", "huber")])
def test_task_and_loss_must_fit(task, loss, tmp_path):
    with pytest.raises(TrainConfigError, match="train.loss"):
        check_task_loss(task, loss)
    fin, ev, _ = run(project({"task": task, "loss": loss}, out=1), tmp_path)
    assert fin.status == "failed" and of(ev, Error)[0].kind == "bad_project"
    assert "train.loss" in of(ev, Error)[0].message


# ---------------------------------------------------------------------------------------------
# optimizers, schedules, losses, regularisation, AMP (a few steps each)


@pytest.mark.parametrize("opt", [
    {"name": "sgd", "lr": 0.05},
    {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4},
    {"name": "adam", "lr": 1e-3, "weight_decay": 1e-4},
    {"name": "adamw", "lr": 1e-3, "weight_decay": 0.01},
    {"name": "rmsprop", "lr": 1e-3, "momentum": 0.5},
])
def test_optimizers_train(opt, tmp_path):
    p = project({"optimizer": opt, "max_steps": 4})
    model = mlp()
    before = [q.detach().clone() for q in model.parameters()]
    fin, ev, _ = run(p, tmp_path, trainer=SupervisedTrainer(p, model))
    assert fin.status == "completed", of(ev, Error)
    assert fin.global_step == 4
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_nesterov_needs_momentum(tmp_path):
    fin, ev, _ = run(project({"optimizer": {"name": "sgd", "nesterov": True}}), tmp_path, trainer=None)
    assert of(ev, Error)[0].kind == "bad_project" and "momentum" in of(ev, Error)[0].message


@pytest.mark.parametrize("task,loss,extra", [
    ("regression", "mse", {}), ("regression", "l1", {}), ("regression", "huber", {"huber_delta": 0.5}),
    ("binary", "bce_with_logits", {}), ("classification", "cross_entropy", {"label_smoothing": 0.1}),
])
def test_losses(task, loss, extra, tmp_path):
    out = 10 if task == "classification" else 1
    p = project({"task": task, "loss": loss, "max_steps": 3, **extra}, out=out)
    fin, ev, _ = run(p, tmp_path, trainer=SupervisedTrainer(p, mlp(out)))
    assert fin.status == "completed", of(ev, Error)
    m = of(ev, EpochEnd)[-1].metrics
    if task == "regression":
        assert {"val_mse", "val_mae", "val_loss"} <= set(m)
    else:
        assert {"val_accuracy", "val_f1"} <= set(m)
    if task == "binary":  # digits: target = label is odd
        s = of(ev, Samples)[-1]
        assert set(s.labels) <= {0, 1} and set(s.predicted) <= {0, 1}
        assert s.extra["classes"] == ("even", "odd")


def test_build_loss_settings():
    assert build_loss("classification", "cross_entropy", label_smoothing=0.2).label_smoothing == 0.2
    assert build_loss("regression", "huber", huber_delta=0.3).delta == 0.3


def test_l1_grad_clip_and_amp_run(tmp_path):
    p = project({"l1": 1e-4, "grad_clip": 0.5, "amp": True, "max_steps": 3})
    fin, ev, loop = run(p, tmp_path, trainer=SupervisedTrainer(p, mlp()))
    assert fin.status == "completed", of(ev, Error)
    assert loop.amp_dtype == torch.bfloat16


def _sched(spec: dict, spe: int = 10, epochs: int = 4, lr: float = 0.1):
    from engine.project import ScheduleSpec

    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)
    s = LRSchedule(opt, ScheduleSpec(**spec), steps_per_epoch=spe, epochs=epochs)
    lrs = []
    for _ in range(spe * epochs):
        lrs.append(s.current_lr())
        opt.step()
        s.step_batch()
    return s, lrs


def test_schedule_constant_and_warmup():
    _, lrs = _sched({"name": "constant"})
    assert lrs == [pytest.approx(0.1)] * 40
    _, lrs = _sched({"name": "constant", "warmup_epochs": 0.5})  # 5 warm-up steps, per step
    assert lrs[0] == pytest.approx(0.1 / 6)
    assert all(a < b for a, b in zip(lrs[:5], lrs[1:6]))
    assert lrs[5:] == [pytest.approx(0.1)] * 35


def test_schedule_step_cosine_onecycle():
    _, lrs = _sched({"name": "step", "step_size": 1, "gamma": 0.5})
    assert lrs[9] == pytest.approx(0.1) and lrs[10] == pytest.approx(0.05) and lrs[20] == pytest.approx(0.025)
    _, lrs = _sched({"name": "cosine", "min_lr": 0.001, "warmup_epochs": 1})
    assert lrs[0] < lrs[9] < 0.1 + 1e-9
    assert lrs[10] == pytest.approx(0.1)
    assert lrs[-1] < 0.01 and lrs[-1] >= 0.001 - 1e-12
    assert all(a >= b - 1e-12 for a, b in zip(lrs[10:], lrs[11:]))
    _, lrs = _sched({"name": "onecycle", "max_lr": 0.5, "warmup_epochs": 1})
    peak = int(np.argmax(lrs))
    assert 8 <= peak <= 11 and max(lrs) == pytest.approx(0.5, rel=0.05)
    assert lrs[-1] < 0.01


def test_schedule_plateau_reduces_on_the_monitored_metric():
    s, _ = _sched({"name": "plateau", "patience": 1, "factor": 0.5}, epochs=1)
    for v in (1.0, 0.9, 0.95, 0.97):
        s.step_epoch(v)
    assert s.current_lr() == pytest.approx(0.05)


@pytest.mark.parametrize("name", ["constant", "step", "cosine", "onecycle", "plateau"])
def test_every_schedule_in_the_loop(name, tmp_path):
    p = project({"epochs": 2, "max_steps": 12, "schedule": {"name": name, "warmup_epochs": 0.5}})
    fin, ev, _ = run(p, tmp_path, trainer=SupervisedTrainer(p, mlp()))
    assert fin.status == "completed", of(ev, Error)
    lrs = [e.lr for e in of(ev, Progress) + of(ev, EpochEnd)]
    assert lrs and all(math.isfinite(v) and v >= 0 for v in lrs)


# ---------------------------------------------------------------------------------------------
# NaN, exact resume, atomic checkpoints, early stopping


def test_nan_loss_becomes_error_with_advice_and_keeps_last_checkpoint(tmp_path):
    p = project({"task": "regression", "loss": "mse", "epochs": 3,
                 "optimizer": {"name": "sgd", "lr": 10.0, "momentum": 0.9}}, out=1)
    fin, ev, loop = run(p, tmp_path, trainer=SupervisedTrainer(p, mlp(1)))
    assert fin.status == "failed"
    diag = [d for d in of(ev, Diagnostic) if d.code == "nan_loss"]
    assert diag and "learning rate" in diag[0].suggestion.lower() and "clipping" in diag[0].suggestion
    err = of(ev, Error)[-1]
    assert err.kind == "nan" and "NaN" in err.message and "learning rate" in err.message
    assert not (tmp_path / "run" / "model.pt").exists()
    for path in fin.checkpoints.values():  # whatever was saved before the blow-up still loads
        load_checkpoint(path)


def _stop_after(control: Control, n: int):
    """A trainer wrapper that asks the loop to stop after n steps (as a GUI thread would)."""

    class Stopping(SupervisedTrainer):
        def train_step(self, batch, sc):
            out = super().train_step(batch, sc)
            if sc.global_step + 1 == n:
                control.put("stop")
            return out

    return Stopping


@pytest.mark.parametrize("mid_epoch", [False, True])
def test_resume_is_exact(mid_epoch, tmp_path):
    train = {"epochs": 2, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
             "schedule": {"name": "step", "step_size": 1, "gamma": 0.5, "warmup_epochs": 0.5}}
    data = {"augment": [{"type": "random_rotation", "params": {"degrees": 10}}, {"type": "normalize"}]}
    p = project(train, data)
    fa, _, a = run(p, tmp_path, "straight", trainer=SupervisedTrainer(p, mlp(dropout=0.2)))
    assert fa.status == "completed"
    if mid_epoch:
        control = Control()
        cls = _stop_after(control, 13)  # 9 steps per epoch: stop inside epoch 2
        fb, _, _ = run(p, tmp_path, "first", trainer=cls(p, mlp(dropout=0.2)), control=control)
        assert fb.status == "stopped" and fb.global_step == 13
    else:
        p1 = project({**train, "epochs": 1}, data)
        fb, _, _ = run(p1, tmp_path, "first", trainer=SupervisedTrainer(p1, mlp(dropout=0.2)))
    fc, ev, c = run(p, tmp_path, "resumed", trainer=SupervisedTrainer(p, mlp(seed=5, dropout=0.2)),
                    resume=str(tmp_path / "first" / "checkpoints" / "last.pt"))
    assert fc.status == "completed"
    assert of(ev, Started)[0].start_epoch == 1
    for (k, va), (_, vc) in zip(a.trainer.model.state_dict().items(), c.trainer.model.state_dict().items()):
        assert torch.equal(va, vc), k
    assert fc.history[-1]["val_loss"] == fa.history[-1]["val_loss"]
    assert fc.history[-1]["train_loss"] == pytest.approx(fa.history[-1]["train_loss"], rel=1e-6)


def test_resume_with_a_different_model_is_a_clear_error(tmp_path):
    p = project({"max_steps": 2})
    run(p, tmp_path, "a", trainer=SupervisedTrainer(p, mlp()))
    other = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    fin, ev, _ = run(p, tmp_path, "b", trainer=SupervisedTrainer(p, other),
                     resume=str(tmp_path / "a" / "checkpoints" / "last.pt"))
    err = of(ev, Error)[0]
    assert fin.status == "failed" and err.kind == "bad_project" and "does not fit" in err.message


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"trainer": {"w": torch.ones(3)}, "epoch": 1})

    def broken_save(obj, fh):
        fh.write(b"PK\x03\x04 half a file")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(ckpt_mod.torch, "save", broken_save)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(path, {"trainer": {"w": torch.zeros(3)}, "epoch": 2})
    monkeypatch.undo()
    data = load_checkpoint(path)
    assert data["epoch"] == 1 and torch.equal(data["trainer"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"a": 1}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a LayerLab checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")


class _FakeLoop:
    def __init__(self, model):
        self.model = model
        self.history: list = []
        self.stopped = None
        self.restored_epoch = None
        self.checkpoint_paths: dict = {}
        self.logs: list = []
        self.trainer = self

    def modules(self):
        return {"model": self.model}

    def request_stop(self, status):
        self.stopped = status

    def log(self, msg, level="info"):
        self.logs.append(msg)


def test_early_stopping_stops_and_restores_best_weights():
    model = nn.Linear(2, 1)
    loop = _FakeLoop(model)
    es = EarlyStopping("val_loss", "auto", patience=2, min_delta=0.01)
    for epoch, v in enumerate([1.0, 0.5, 0.495, 0.7]):  # 0.495 is not better by min_delta
        with torch.no_grad():
            model.weight.fill_(epoch)
        loop.history.append({"epoch": epoch, "val_loss": v})
        es.on_epoch_end(loop, epoch, {"val_loss": v})
        if loop.stopped:
            break
    assert loop.stopped == "early_stopped" and epoch == 3
    es.on_train_end(loop, "early_stopped")
    assert loop.restored_epoch == 1
    assert torch.all(model.weight == 1)


def test_early_stopping_in_the_loop(tmp_path):
    es = {"enabled": True, "monitor": "val_accuracy", "mode": "max", "patience": 1, "min_delta": 1.0}
    p = project({"epochs": 5, "early_stopping": es})
    fin, ev, loop = run(p, tmp_path, trainer=SupervisedTrainer(p, mlp()))
    assert fin.status == "early_stopped" and fin.epochs_run == 2 and fin.best_epoch == 0
    best = load_checkpoint(fin.checkpoints["best"])["trainer"]["models"]["model"]
    final = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert all(torch.equal(best[k], final[k]) for k in best)
    assert fin.final["val_accuracy"] == fin.history[0]["val_accuracy"]


# ---------------------------------------------------------------------------------------------
# devices, metrics, compile fallback, overrides


def test_device_selection(monkeypatch):
    monkeypatch.setattr(device_mod, "_cuda_available", lambda: False)
    monkeypatch.setattr(device_mod, "_mps_available", lambda: False)
    assert device_mod.resolve_device("auto").type == "cpu"
    with pytest.raises(device_mod.DeviceError, match="CUDA is not available"):
        device_mod.resolve_device("cuda")
    with pytest.raises(device_mod.DeviceError, match="MPS"):
        device_mod.resolve_device("mps")
    monkeypatch.setattr(device_mod, "_mps_available", lambda: True)
    assert device_mod.resolve_device("auto").type == "mps"
    monkeypatch.setattr(device_mod, "_cuda_available", lambda: True)
    assert device_mod.resolve_device("auto").type == "cuda"
    assert device_mod.resolve_device("cpu").type == "cpu"
    assert device_mod.resolve_amp_dtype(torch.device("cpu"), True, "fp16") == torch.bfloat16
    assert device_mod.resolve_amp_dtype(torch.device("cuda"), True, "auto") == torch.float16
    assert device_mod.resolve_amp_dtype(torch.device("cuda"), True, "bf16") == torch.bfloat16
    assert device_mod.resolve_amp_dtype(torch.device("cuda"), False, "bf16") is None


def test_rng_capture_restore_roundtrip():
    import random

    device_mod.seed_everything(3)
    st = device_mod.capture_rng()
    a = (torch.rand(3), np.random.rand(), random.random())
    device_mod.restore_rng(st)
    b = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]


def test_macro_metrics_match_torchmetrics():
    from torchmetrics.functional.classification import (
        multiclass_f1_score,
        multiclass_precision,
        multiclass_recall,
    )

    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (200,), generator=g)
    pred = torch.where(torch.rand(200, generator=g) < 0.6, target, torch.randint(0, 6, (200,), generator=g))
    pred[pred == 5] = 0  # class 5 never appears: excluded from the macro average
    cm = confusion_matrix(pred, target, 6)
    s = scores_from_confusion(cm)
    kw = {"num_classes": 6, "average": "macro"}
    assert float(s["precision"]) == pytest.approx(float(multiclass_precision(pred, target, **kw)), abs=1e-6)
    assert float(s["recall"]) == pytest.approx(float(multiclass_recall(pred, target, **kw)), abs=1e-6)
    assert float(s["f1"]) == pytest.approx(float(multiclass_f1_score(pred, target, **kw)), abs=1e-6)
    assert float(s["accuracy"]) == pytest.approx(float((pred == target).float().mean()))
    b = binary_scores(torch.tensor([1, 1, 0, 0]), torch.tensor([1, 0, 1, 0]))
    assert float(b["precision"]) == 0.5 and float(b["recall"]) == 0.5 and float(b["accuracy"]) == 0.5


def test_compile_failure_falls_back_with_a_warning(tmp_path, monkeypatch):
    def broken_compile(model, **kw):
        def fwd(*a, **k):
            raise RuntimeError("no compiler here (simulated)")

        return fwd

    monkeypatch.setattr(torch, "compile", broken_compile)
    p = project({"compile": True, "max_steps": 3})
    fin, ev, _ = run(p, tmp_path, trainer=SupervisedTrainer(p, mlp()))
    assert fin.status == "completed", of(ev, Error)
    assert any(e.level == "warning" and "torch.compile" in e.message for e in of(ev, Log))


def test_overrides_apply_and_are_validated():
    p = project()
    q = prepare_project(p, {"train.epochs": 7, "train.optimizer.lr": 0.5, "data.batch_size": 8})
    assert (q.train.epochs, q.train.optimizer.lr, q.data.batch_size) == (7, 0.5, 8)
    assert p.train.epochs == 1  # the caller's document is not touched
    with pytest.raises(ProjectError, match="train.epochs"):
        prepare_project(p, {"train.epochs": 0})
    with pytest.raises(ProjectError, match="nonsense"):
        prepare_project(p, {"train.nonsense": 1})


def test_max_steps_and_partial_epoch(tmp_path):
    p = project({"epochs": 3, "max_steps": 11})
    fin, ev, _ = run(p, tmp_path, trainer=SupervisedTrainer(p, mlp()))
    assert fin.status == "completed" and fin.global_step == 11 and fin.epochs_run == 2
    assert of(ev, Progress)[-1].total_steps == 11


def test_project_copy_is_private(tmp_path):
    p = project({"max_steps": 2})
    d = copy.deepcopy(p.to_dict())
    run(p, tmp_path, trainer=SupervisedTrainer(p, mlp()))
    assert p.to_dict() == d


@pytest.mark.parametrize("exc,kind,words", [
    (torch.OutOfMemoryError("CUDA out of memory (simulated)"), "oom", "batch size"),
    (RuntimeError("boom (simulated)"), "exception", "boom"),
])
def test_exceptions_in_a_step_become_error_events(exc, kind, words, tmp_path):
    class Failing(SupervisedTrainer):
        def train_step(self, batch, sc):
            if sc.global_step == 2:
                raise exc
            return super().train_step(batch, sc)

    p = project({"epochs": 2})
    fin, ev, _ = run(p, tmp_path, trainer=Failing(p, mlp()))
    err = of(ev, Error)[-1]
    assert fin.status == "failed" and err.kind == kind and words in err.message
    assert "Traceback" in err.details and fin.global_step == 2


def test_tensorboard_missing_is_a_quiet_log(tmp_path):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("tensorboard is installed here")
    fin, ev, _ = run(project({"max_steps": 2}), tmp_path, trainer=SupervisedTrainer(project(), mlp()))
    assert fin.status == "completed"
    assert any("TensorBoard" in e.message and e.level == "debug" for e in of(ev, Log))


def test_same_seed_same_weights_other_seed_differs(tmp_path):
    def weights(seed: int, name: str):
        p = project({"seed": seed, "max_steps": 5}, {"augment": [{"type": "affine", "params": {"degrees": 5}}]})
        _, _, loop = run(p, tmp_path, name)  # the model is built from the document, seeded by train.seed
        return loop.trainer.model.state_dict()

    a, b, c = weights(1, "a"), weights(1, "b"), weights(2, "c")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_streaming_loader_in_the_loop(tmp_path):
    p = project({"max_steps": 3}, {"num_workers": 1})
    fin, ev, loop = run(p, tmp_path, trainer=SupervisedTrainer(p, mlp()))
    assert fin.status == "completed", of(ev, Error)
    assert loop.batches.streaming and any("DataLoader" in e.message for e in of(ev, Log))


def test_best_checkpoint_falls_back_to_the_trainers_metric(tmp_path):
    es = {"enabled": True, "monitor": "val_nonexistent", "patience": 5}
    p = project({"epochs": 2, "early_stopping": es})
    fin, ev, _ = run(p, tmp_path, trainer=SupervisedTrainer(p, mlp()))
    assert fin.status == "completed"
    assert "best" in fin.checkpoints  # watched val_loss instead
    warnings = [e.message for e in of(ev, Log) if e.level == "warning"]
    assert any("val_nonexistent" in w and "early stopping" in w for w in warnings)
    assert any("watching 'val_loss'" in w for w in warnings)
