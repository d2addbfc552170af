"""Training that streams an image folder from its files (decoded per batch, in worker processes or not)
sees the same batches in the same order, and reaches the same losses, as training on the decoded folder;
resumes exactly mid-epoch; and survives a file that disappears after the scan."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from engine.data import loader as loader_mod
from engine.data.datasets import load_bundle
from engine.data.sources import DatasetError
from engine.project import DataSpec, Project
from engine.train.events import Error, Log
from engine.train.loop import Control, TrainLoop
from engine.train.supervised import SupervisedTrainer

CLASSES, PER_CLASS = 3, 12  # 36 images: 27 train / 9 validation, batches of 8 -> 4 steps per epoch


@pytest.fixture
def folder(tmp_path):
    """Mixed sizes and modes, so the conversion rules (resize, grey -> RGB, 16-bit scaling) all take part."""
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for c in range(CLASSES):
        (root / f"class{c}").mkdir(parents=True)
        for k in range(PER_CLASS):
            path = root / f"class{c}" / f"{k:02d}.png"
            if k % 3 == 0:
                Image.fromarray(rng.integers(0, 256, (6, 10, 3), dtype=np.uint8), "RGB").save(path)
            elif k % 3 == 1:
                Image.fromarray(rng.integers(0, 65536, (8, 8), dtype=np.uint16)).save(path)  # 16-bit grey
            else:
                Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8), "L").save(path)
    return root


def project(root, **data) -> Project:
    return Project.model_validate({
        "name": "stream",
        "data": {"dataset": "folder", "path": str(root), "image_size": [8, 8], "batch_size": 8,
                 "val_fraction": 0.25, **data},
        "train": {"device": "cpu", "epochs": 2, "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9}},
    })


def model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, CLASSES))


class Recording(SupervisedTrainer):
    """Remembers each batch's labels, pixel sum and loss; optionally runs ``hook(step)`` after a step."""

    def __init__(self, *a, hook=None, **kw):
        super().__init__(*a, **kw)
        self.seen: list[tuple[list[int], float, float]] = []
        self.hook = hook

    def train_step(self, batch, sc):
        logs = super().train_step(batch, sc)
        self.seen.append((batch[1].tolist(), float(batch[0].double().sum()), float(logs["loss"])))
        if self.hook is not None:
            self.hook(sc.global_step + 1)
        return logs


def train(p: Project, run_dir, *, seed: int = 0, hook=None, **kw):
    events: list = []
    trainer = Recording(p, model(seed), hook=hook)
    fin = TrainLoop(p, run_dir, emit=events.append, trainer=trainer, **kw).run()
    return fin, events, trainer


def same_batches(a: Recording, b: Recording) -> None:
    assert len(a.seen) == len(b.seen) > 0
    for (la, sa, ka), (lb, sb, kb) in zip(a.seen, b.seen):
        assert la == lb  # the same samples, in the same order
        assert sa == pytest.approx(sb, rel=1e-6)  # decoded to the same pixels
        assert ka == pytest.approx(kb, rel=1e-5)  # and the same losses


def test_streaming_trains_on_the_same_batches_with_the_same_losses_as_in_memory(folder, tmp_path):
    fa, ea, a = train(project(folder, stream="never"), tmp_path / "memory")
    fb, eb, b = train(project(folder, stream="always"), tmp_path / "stream")
    assert fa.status == fb.status == "completed", [e.message for e in eb if isinstance(e, Error)]
    assert len(a.seen) == 8  # 2 epochs of 4 steps
    same_batches(a, b)
    assert fb.history[-1]["val_loss"] == pytest.approx(fa.history[-1]["val_loss"], rel=1e-5)
    logs = [e.message for e in eb if isinstance(e, Log)]
    assert any("streaming the 27 training samples" in m and "data.stream is always" in m for m in logs)
    assert not any("streaming" in e.message for e in ea if isinstance(e, Log))


def test_two_worker_processes_stream_the_same_batches(folder, tmp_path, monkeypatch):
    import tempfile

    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where the workers' dataset file goes
    _, _, a = train(project(folder), tmp_path / "memory")
    events: list = []
    p = project(folder, stream="always", num_workers=2)
    loop = TrainLoop(p, tmp_path / "workers", emit=events.append, trainer=Recording(p, model()))
    fin = loop.run()
    assert fin.status == "completed", [e.message for e in events if isinstance(e, Error)]
    assert loop.batches.workers == "processes"
    assert any("2 worker process(es)" in e.message for e in events if isinstance(e, Log))
    same_batches(a, loop.trainer)
    assert loop.batches._loader is None  # the workers were shut down when training ended
    assert not list((tmp_path / "tmp").glob("layerlab-dataset-*"))  # and the file they loaded the dataset from


def test_threads_decode_where_worker_processes_cannot_start(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(loader_mod, "can_start_processes", lambda: False)  # as in a daemonic training child
    _, _, a = train(project(folder), tmp_path / "memory")
    events: list = []
    p = project(folder, stream="always", num_workers=2)
    loop = TrainLoop(p, tmp_path / "threads", emit=events.append, trainer=Recording(p, model()))
    assert loop.run().status == "completed"
    assert loop.batches.workers == "threads"
    same_batches(a, loop.trainer)


def test_a_mid_epoch_resume_while_streaming_matches_an_uninterrupted_run(folder, tmp_path):
    p = project(folder, stream="always")
    fa, _, a = train(p, tmp_path / "straight")
    control = Control()
    fb, _, _ = train(p, tmp_path / "first", control=control,
                     hook=lambda step: control.put("stop") if step == 6 else None)  # inside epoch 2
    assert fb.status == "stopped" and fb.global_step == 6
    fc, ec, c = train(p, tmp_path / "resumed", seed=5, resume=str(tmp_path / "first" / "checkpoints" / "last.pt"))
    assert fc.status == "completed", [e.message for e in ec if isinstance(e, Error)]
    assert [s[0] for s in c.seen] == [s[0] for s in a.seen[6:]]  # the epoch's remaining batches, no more
    for (k, va), vc in zip(a.model.state_dict().items(), c.model.state_dict().values()):
        assert torch.equal(va, vc), k
    assert fc.history[-1]["val_loss"] == fa.history[-1]["val_loss"]


def test_a_file_deleted_after_the_scan_is_skipped_with_a_warning(folder, tmp_path):
    p = project(folder, stream="always")
    bundle = load_bundle(p.data, stream="always")
    victim = bundle.train_x.dataset.source.path(int(bundle.train_index[0]))

    def delete_after_epoch_one(step: int) -> None:
        if step == 4:
            (folder / victim).unlink()

    fin, events, t = train(p, tmp_path / "run", hook=delete_after_epoch_one)
    assert fin.status == "completed", [e.message for e in events if isinstance(e, Error)]
    seen = [n for n in (len(labels) for labels, _, _ in t.seen)]
    assert sum(seen[:4]) == 27 and sum(seen[4:]) == 26  # epoch 2 trains on everything else
    warnings = [e.message for e in events if isinstance(e, Log) and e.level == "warning" and victim in e.message]
    assert len(warnings) == 1 and "skipped" in warnings[0] and "cannot open" in warnings[0]


def test_a_batch_with_no_readable_file_stops_with_the_files_named(folder, tmp_path):
    spec = DataSpec(dataset="folder", path=str(folder), image_size=(8, 8), batch_size=1, stream="always")
    bundle = load_bundle(spec, stream="always")
    for f in folder.rglob("*.png"):
        f.unlink()
    batches = loader_mod.SourceBatches(bundle.train_x.dataset, 1, torch.device("cpu"))
    with pytest.raises(DatasetError, match=r"no sample of a training batch could be decoded \(.*\.png: cannot open"):
        next(batches.epoch())


def test_auto_streams_what_would_not_fit_and_refuses_only_what_streaming_cannot_help(folder, monkeypatch):
    per_sample = 3 * 8 * 8 * 5  # bytes: uint8 decode + float32 copy
    spec = DataSpec(dataset="folder", path=str(folder), image_size=(8, 8), val_fraction=0.25)
    monkeypatch.setenv("LAYERLAB_DATA_MEMORY_GB", str(20 * per_sample / 2**30))  # 20 of 36 samples fit
    bundle = load_bundle(spec, stream="auto")
    assert bundle.streamed and "would need" in bundle.stream_reason
    assert len(bundle.train_x) == 27 and bundle.val_x.shape == (9, 3, 8, 8)
    assert bundle.train_x[:2].shape == (2, 3, 8, 8) and bundle.train_x[:2].dtype == torch.float32
    with pytest.raises(DatasetError, match="set data.stream to auto"):
        load_bundle(spec.model_copy(update={"stream": "never"}), stream="never")
    monkeypatch.setenv("LAYERLAB_DATA_MEMORY_GB", str(5 * per_sample / 2**30))  # not even the 9 validation ones
    with pytest.raises(DatasetError, match="validation split .* lower data.val_fraction"):
        load_bundle(spec, stream="auto")
    monkeypatch.delenv("LAYERLAB_DATA_MEMORY_GB")
    assert not load_bundle(spec, stream="auto").streamed  # small enough: decoded up front, as before


def test_the_source_dataset_pickles_for_worker_processes(folder):
    import pickle

    bundle = load_bundle(DataSpec(dataset="folder", path=str(folder), image_size=(8, 8)), stream="always")
    ds = pickle.loads(pickle.dumps(bundle.train_x.dataset))
    x, y, failed = ds[[0, 1, 2]]
    x0, y0, _ = bundle.train_x.dataset[[0, 1, 2]]
    assert torch.equal(x, x0) and torch.equal(y, y0) and failed == ()
    assert x.dtype == torch.uint8 and x.shape == (3, 3, 8, 8)


def _spawned_children(pid: int) -> list[int]:
    """Worker processes that ``pid`` has spawned so far (Linux /proc), the resource tracker left out."""
    from pathlib import Path

    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (d / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"spawn_main" in cmd:
            out.append(int(d.name))
    return out


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="process groups, /proc")
def test_ctrl_c_while_the_workers_start_stops_cleanly(folder, tmp_path):
    """A terminal's Ctrl+C reaches the whole process group, workers included: while they are still starting
    (importing torch) it must neither kill them (the run then hung) nor be lost; the run stops at its first
    step with exit 130 and a resumable last.pt."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from engine.train.checkpoint import load_checkpoint

    doc = project(folder, stream="always", num_workers=2).to_dict()
    doc["train"]["epochs"] = 100000
    nodes = [{"id": "input", "type": "Input", "params": {"shape": [3, 8, 8]}}, {"id": "flat", "type": "Flatten"},
             {"id": "fc", "type": "Linear", "params": {"out_features": CLASSES}}, {"id": "output", "type": "Output"}]
    doc["model"] = {"nodes": nodes, "edges": [["input", "flat"], ["flat", "fc"], ["fc", "output"]]}
    (tmp_path / "p.json").write_text(json.dumps(doc))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1",
           "TERM": "dumb"}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "train", str(tmp_path / "p.json"), "--out",
                             str(tmp_path / "run")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _spawned_children(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _spawned_children(proc.pid), "no worker process started"
        # the workers take seconds to import torch; the training process ignores Ctrl+C only for the
        # milliseconds it takes to create them (so that they inherit "ignore"): signal just after those
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
        assert proc.returncode == 130, rest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "Traceback" not in rest and "exited unexpectedly" not in rest
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["epoch"] == 0
