"""Review of issues 3/4 (engine side): no code from files is ever run, checkpoint errors are one plain
line, a killed save keeps the previous checkpoint, and the split helpers are seeded and stratified."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from engine.data.split import kfold_indices, stratified_split
from engine.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    model_state_from,
    save_checkpoint,
    state_mismatch,
)

ENGINE = Path(__file__).resolve().parents[1] / "engine"
# The one unpickling the engine does: a DataLoader worker reads the dataset description its own training
# process wrote a moment before to a private temp file (mkstemp: O_EXCL, mode 0600), the same bytes
# multiprocessing would otherwise send down a pipe. Never a file a user names.
OWN_PICKLES = {("engine/data/loader.py", "_DatasetFile.load")}


def _functions(tree: ast.AST) -> dict[int, str]:
    """line -> qualified name of the innermost function holding it"""
    out: dict[int, str] = {}

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    for ln in range(child.lineno, (child.end_lineno or child.lineno) + 1):
                        out[ln] = name
                walk(child, name + ".")
            else:
                walk(child, prefix)

    walk(tree, "")
    return out


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            yield node, owner, name


def test_engine_never_unpickles_or_evaluates_user_text():
    seen_load = 0
    for path in sorted(ENGINE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        funcs = _functions(tree)
        rel = str(path.relative_to(ENGINE.parent))
        for node, owner, name in _calls(tree):
            where = f"{rel}:{node.lineno}"
            if (rel, funcs.get(node.lineno, "")) in OWN_PICKLES and owner == "pickle":
                continue
            if owner == "torch" and name == "load":
                seen_load += 1
                kw = {k.arg: k.value for k in node.keywords}
                assert "weights_only" in kw and getattr(kw["weights_only"], "value", None) is True, where
            bare = isinstance(node.func, ast.Name)  # eval(...), not model.eval()
            assert not (bare and name in ("eval", "exec", "compile")), where
            assert not (owner in ("pickle", "dill", "marshal", "cloudpickle") and name.startswith("load")), where
            assert not (owner == "yaml" and name in ("load", "unsafe_load")), where
            for k in node.keywords:
                if k.arg == "allow_pickle":
                    assert getattr(k.value, "value", None) is False, where
    assert seen_load >= 2  # the checkpoint reader and the weights reader at least


def _evil_file(path: Path, marker: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"format": "layerlab-checkpoint", "version": 1, "trainer": {"x": Evil()}}, path)


def test_malicious_checkpoint_and_weights_are_refused_in_one_line(tmp_path):
    marker = tmp_path / "PWNED"
    _evil_file(tmp_path / "evil.pt", marker)
    for reader in (load_checkpoint, model_state_from):
        with pytest.raises(CheckpointError) as ei:
            reader(tmp_path / "evil.pt")
        msg = str(ei.value)
        assert "\n" not in msg and "refuses to load" in msg and "weights_only" in msg
    assert not marker.exists()


@pytest.mark.parametrize("content,needle", [
    (b"", "empty"),
    (b"\x00\x01garbage" * 50, "corrupt"),
    (b"PK\x03\x04truncated zip", "corrupt"),
])
def test_garbage_checkpoints_give_one_plain_line(content, needle, tmp_path):
    p = tmp_path / "x.pt"
    p.write_bytes(content)
    for reader in (load_checkpoint, model_state_from):
        with pytest.raises(CheckpointError) as ei:
            reader(p)
        msg = str(ei.value)
        assert "\n" not in msg and needle in msg and "In PyTorch 2.6" not in msg, msg


def test_truncated_real_checkpoint_is_refused(tmp_path):
    p = tmp_path / "c.pt"
    save_checkpoint(p, {"trainer": {"w": torch.randn(1000)}, "epoch": 1})
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable") as ei:
        load_checkpoint(p)
    assert "\n" not in str(ei.value)


def test_folders_and_plain_weights(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="is a folder"):
        model_state_from(tmp_path)
    torch.save({"w": torch.ones(2)}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="cannot resume training"):
        load_checkpoint(tmp_path / "model.pt")
    assert torch.equal(model_state_from(tmp_path / "model.pt")["w"], torch.ones(2))


def test_state_mismatch_names_the_difference():
    a = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    b = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert state_mismatch({"model": a.state_dict()}, {"model": a}) is None
    msg = state_mismatch({"model": a.state_dict()}, {"model": b})
    assert "0.weight is [8, 4] in the checkpoint but [3, 4] here" in msg and "more difference" in msg
    msg = state_mismatch({"model": a.state_dict()}, {"model": nn.Linear(4, 2)})
    assert "weight, bias which the checkpoint lacks" in msg
    assert "no 'generator'" in state_mismatch({"model": a.state_dict()}, {"generator": a})


def test_killing_the_process_mid_save_keeps_the_previous_checkpoint(tmp_path):
    """A real SIGKILL while a large checkpoint is being written: the old file stays readable."""
    path = tmp_path / "ck" / "last.pt"
    save_checkpoint(path, {"epoch": 1, "trainer": {"w": torch.zeros(4)}})
    script = textwrap.dedent(f"""
        import sys, torch
        from engine.train.checkpoint import save_checkpoint
        big = {{"w": torch.randn(8_000_000)}}
        print("ready", flush=True)
        while True:
            save_checkpoint({str(path)!r}, {{"epoch": 2, "trainer": big}})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(path.parent.glob(".last.pt.*.tmp")):
            time.sleep(0.005)  # wait until a write is in flight
        assert list(path.parent.glob(".last.pt.*.tmp")), "no save in flight"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    data = load_checkpoint(path)  # either the old one or a complete new one, never half a file
    assert data["epoch"] in (1, 2)
    w = data["trainer"]["w"]
    assert w.shape == ((4,) if data["epoch"] == 1 else (8_000_000,))


def test_stratified_split_is_seeded_and_keeps_class_shares():
    labels = np.repeat(np.arange(5), [40, 30, 20, 10, 2])  # sorted, like the bundled CSV
    tr, va = stratified_split(labels, 0.25, seed=3)
    assert len(set(tr) & set(va)) == 0 and len(tr) + len(va) == len(labels)
    counts = np.bincount(labels[va], minlength=5)
    assert counts.tolist() == [10, 8, 5, 2, 1]  # round(n_c * f), at least 1 per class
    tr2, va2 = stratified_split(labels, 0.25, seed=3)
    assert np.array_equal(tr, tr2) and np.array_equal(va, va2)
    _, va3 = stratified_split(labels, 0.25, seed=4)
    assert not np.array_equal(np.sort(va), np.sort(va3))
    assert not np.array_equal(va, np.sort(va))  # shuffled, not by position
    with pytest.raises(ValueError):
        stratified_split(labels, 1.0, seed=0)


def test_kfold_covers_every_sample_once_and_is_stratified():
    labels = np.repeat(np.arange(3), [30, 20, 10])
    folds = kfold_indices(labels, 5, seed=0)
    assert len(folds) == 5
    all_val = np.concatenate([va for _, va in folds])
    assert np.array_equal(np.sort(all_val), np.arange(len(labels)))
    for tr, va in folds:
        assert len(set(tr) & set(va)) == 0 and len(tr) + len(va) == len(labels)
        assert np.bincount(labels[va], minlength=3).tolist() == [6, 4, 2]
    again = kfold_indices(labels, 5, seed=0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))
    with pytest.raises(ValueError):
        kfold_indices(labels, 1, seed=0)


@pytest.mark.parametrize("name", ["__builtins__", "utils", "ImageFolder", "VisionDataset", "Bogus"])
def test_torchvision_names_are_an_allowlist(name, tmp_path):
    from engine.data.datasets import DatasetError, load_arrays

    with pytest.raises(DatasetError, match="not supported"):
        load_arrays(f"torchvision:{name}", str(tmp_path))


def test_torchvision_without_files_is_a_dataset_error(tmp_path):
    from engine.data.datasets import DatasetError, load_arrays

    with pytest.raises(DatasetError, match=r"files are missing under .*layerlab data download MNIST"):  # never a download
        load_arrays("torchvision:MNIST", str(tmp_path))


def test_deeply_nested_json_and_a_bom(tmp_path):
    from engine.project import ProjectError, load_project, loads_project, save_project
    from engine.templates import load_template

    with pytest.raises(ProjectError, match="nested too deeply"):
        loads_project("[" * 100_000 + "]" * 100_000, "deep.json")
    save_project(load_template("mlp"), tmp_path / "p.json")
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + (tmp_path / "p.json").read_bytes())
    assert load_project(tmp_path / "bom.json") == load_project(tmp_path / "p.json")
