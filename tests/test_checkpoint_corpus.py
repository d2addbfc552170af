"""A corpus of crafted and damaged checkpoints: each is refused with one line naming the file (exit 2
from ``layerlab train --resume``), a flipped byte never resumes silently, and nothing runs code."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import torch
from helpers import linear_graph

from engine.cli import main
from engine.train.api import train_project
from engine.train.checkpoint import CheckpointError, checksum, load_checkpoint, save_checkpoint

DOC = {"format": "layerlab-project", "version": 1, "name": "ck", "data": {"limit": 200, "batch_size": 50},
       "model": linear_graph(), "train": {"epochs": 1, "device": "cpu", "optimizer": {"name": "adam"}}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("ck")
    (d / "p.json").write_text(json.dumps(DOC))
    rep = train_project(str(d / "p.json"), d / "run")
    assert rep["status"] == "completed"
    return d, d / "run" / "checkpoints" / "last.pt"


def _resave(data: dict, path: Path) -> Path:
    torch.save(data, path)  # no checksum update: what a damaged or hand-edited file looks like
    return path


def _flip_byte_in_tensor(src: Path, dst: Path) -> None:
    """Flip one byte inside a tensor's storage in the zip (the structure stays valid)."""
    with zipfile.ZipFile(src) as zin:
        names = zin.namelist()
        blobs = {n: zin.read(n) for n in names}
    storages = [n for n in names if "/data/" in n and len(blobs[n]) > 64]
    victim = max(storages, key=lambda n: len(blobs[n]))
    b = bytearray(blobs[victim])
    b[len(b) // 2] ^= 0x10
    blobs[victim] = bytes(b)
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_STORED) as zout:
        for n in names:
            zout.writestr(n, blobs[n])


def test_a_checkpoint_carries_a_checksum_that_matches(run):
    _, last = run
    data = load_checkpoint(last)
    assert data["version"] == 2 and data["checksum"] == checksum(data)


def test_a_flipped_byte_is_refused(run, tmp_path):
    _, last = run
    bad = tmp_path / "flipped.pt"
    _flip_byte_in_tensor(last, bad)
    with pytest.raises(CheckpointError, match="checksum does not match"):
        load_checkpoint(bad)


def test_an_edited_optimizer_tensor_is_refused(run, tmp_path):
    _, last = run
    data = torch.load(last, weights_only=True)
    st = data["trainer"]["optimizers"]["model"]["state"]
    first = next(iter(st.values()))
    first["exp_avg"].view(-1)[0] += 1e-3
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(_resave(data, tmp_path / "edited.pt"))


def _crafted(run, tmp_path) -> dict[str, Path]:
    _, last = run
    good = torch.load(last, weights_only=True)
    out: dict[str, Path] = {}

    def variant(name: str, **changes):
        d = dict(good)
        d.update(changes)
        d["checksum"] = checksum(d)
        out[name] = _resave(d, tmp_path / f"{name}.pt")

    for name, v in {"v_text": "abc", "v_float": 1.5, "v_bool": True, "v_neg": -1, "v_huge": 10**30,
                    "v_tensor": torch.zeros(3), "v_none": None, "v_future": 99}.items():
        variant(name, version=v)
    variant("no_trainer", trainer=None)
    no_sum = dict(good)
    no_sum.pop("checksum")
    out["no_checksum"] = _resave(no_sum, tmp_path / "no_checksum.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    out["empty"] = tmp_path / "empty.pt"
    raw = last.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    out["truncated"] = tmp_path / "truncated.pt"
    (tmp_path / "text.pt").write_text("hello")
    out["text"] = tmp_path / "text.pt"
    buf = io.BytesIO()
    torch.save({"format": "layerlab-checkpoint", "version": 2, "x": Path("/etc")}, buf)  # a pickled object
    (tmp_path / "object.pt").write_bytes(buf.getvalue())
    out["object"] = tmp_path / "object.pt"
    flipped = tmp_path / "flipped.pt"
    _flip_byte_in_tensor(last, flipped)
    out["flipped"] = flipped
    return out


def test_every_crafted_checkpoint_is_a_checkpoint_error(run, tmp_path):
    for name, path in _crafted(run, tmp_path).items():
        with pytest.raises(CheckpointError) as exc:
            load_checkpoint(path)
        assert str(path) in str(exc.value), name


def test_resume_from_each_crafted_checkpoint_exits_2_naming_it(run, tmp_path, capsys):
    d, _ = run
    for name, path in _crafted(run, tmp_path).items():
        code = main(["train", str(d / "p.json"), "--resume", str(path), "--out", str(tmp_path / f"r_{name}"),
                     "--quiet"])
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        assert str(path) in err and "Traceback" not in err and "enforce fail" not in err, name


def test_an_intact_checkpoint_still_resumes(run, tmp_path):
    d, last = run
    rep = train_project(str(d / "p.json"), last.parent.parent, resume=str(last), overrides={"train.epochs": 2})
    assert rep["status"] == "completed" and rep["global_step"] == 8


def test_save_then_load_roundtrip_of_plain_types(tmp_path):
    payload = {"trainer": {"models": {"m": {"w": torch.arange(6.0).reshape(2, 3)}}}, "history": [{"a": 1.5}],
               "bf16": torch.ones(4, dtype=torch.bfloat16), "empty": torch.zeros(0)}
    p = save_checkpoint(tmp_path / "c.pt", payload)
    assert torch.equal(load_checkpoint(p)["trainer"]["models"]["m"]["w"], payload["trainer"]["models"]["m"]["w"])
