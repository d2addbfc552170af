"""A trained run as an object: opened from its folder or any of its weights files, ready modules."""

from __future__ import annotations

import shutil

import pytest
import torch
from helpers import linear_graph, train_tiny

from engine.project import Project
from engine.runs import RunError, open_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    train_tiny(d, augment=[{"type": "normalize", "params": {"mean": [0.1307], "std": [0.3081]}}])
    return d


@pytest.mark.parametrize("which", ["model.pt", "checkpoints/best.pt", "checkpoints/last.pt", "."])
def test_every_weights_file_of_a_run_opens_to_the_same_eval_mode_module(run_dir, which):
    run = open_run(run_dir / which)
    m = run.module()
    assert not m.training
    ref = open_run(run_dir / "model.pt").module()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(m(x), ref(x))  # one epoch: final == best == last
    assert run.project.name == "tiny" and run.roles == ["model"]
    assert run.available() == ["final", "best", "last"]


def test_a_run_knows_its_history_checkpoints_and_preprocessing(run_dir):
    run = open_run(run_dir)
    assert len(run.history()) == 1 and "val_accuracy" in run.history()[0]
    assert set(run.checkpoints()) == {"best", "last"}
    pre = run.preprocessing()
    assert pre.scale == 255.0 and pre.normalize == (((0.1307,), (0.3081,)),)
    x = torch.full((1, 1, 28, 28), 0.1307)
    assert torch.allclose(run.normalize_fn()(x), torch.zeros_like(x), atol=1e-6)


def test_a_checkpoint_alone_carries_its_project(run_dir, tmp_path):
    lone = tmp_path / "elsewhere" / "best.pt"
    lone.parent.mkdir()
    shutil.copy(run_dir / "checkpoints" / "best.pt", lone)
    assert open_run(lone).project.name == "tiny"


def test_bad_weights_are_errors_that_name_the_file(run_dir, tmp_path):
    with pytest.raises(RunError, match="not found"):
        open_run(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(RunError, match="junk.pt"):
        open_run(junk, run_dir / "project.json").module()
    lone = tmp_path / "model.pt"
    shutil.copy(run_dir / "model.pt", lone)
    with pytest.raises(RunError, match="give the project file too"):
        open_run(lone)
    wider = open_run(run_dir).project.to_dict()
    wider["model"] = linear_graph(out=12)
    with pytest.raises(RunError, match="does not fit"):  # weights with no project.json beside them
        open_run(lone, Project.model_validate(wider)).module()
    with pytest.raises(RunError, match="not the project this run was trained with"):  # beside its own project
        open_run(run_dir / "model.pt", Project.model_validate(wider))
