"""Pruning: unstructured (made permanent, zeros kept through fine-tuning) and structured (a new, smaller project)."""

from __future__ import annotations

import pytest
import torch
from helpers import chain, small_cnn, train_tiny

from engine.compress.errors import CompressError
from engine.compress.prune import prune_run
from engine.graph import compile_graph
from engine.project import load_project
from engine.runs import open_run
from engine.train.api import train_project


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    d = tmp_path_factory.mktemp("cnn")
    train_tiny(d, small_cnn(), limit=300)
    return open_run(d)


def test_global_unstructured_pruning_is_permanent_and_fine_tuning_keeps_the_zeros(cnn, tmp_path):
    rep = prune_run(cnn, "global", 0.8, tmp_path / "g", finetune_epochs=1)
    assert rep["sparsity"] == pytest.approx(0.8, abs=1e-3)
    state = torch.load(tmp_path / "g" / "model.pt", weights_only=True)
    assert not any(k.endswith(("_orig", "_mask")) for k in state)  # prune.remove ran
    w = torch.cat([state[k].flatten() for k in ("conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight")])
    assert (w == 0).float().mean().item() == pytest.approx(0.8, abs=1e-3)  # still 80% after training
    assert rep["finetune"][0]["status"] == "completed" and (tmp_path / "g" / "history.csv").is_file()


def test_per_layer_l1_prunes_each_layer_by_the_amount(cnn, tmp_path):
    rep = prune_run(cnn, "l1", 0.5, tmp_path / "l1")
    assert [r["node"] for r in rep["layers"]] == ["conv1", "conv2", "fc1", "fc2"]
    assert all(r["sparsity"] == pytest.approx(0.5, abs=0.02) for r in rep["layers"])


def test_structured_pruning_writes_a_smaller_project_that_compiles_and_trains(cnn, tmp_path):
    rep = prune_run(cnn, "structured", 0.5, tmp_path / "s", rounds=2, finetune_epochs=1)
    widths = {r["node"]: (r["before"], r["after"]) for r in rep["layers"] if "before" in r}
    assert widths == {"conv1": (8, 4), "conv2": (16, 8), "fc1": (32, 16), "fc2": (10, 10)}
    assert next(r for r in rep["layers"] if r["node"] == "fc2")["reason"].startswith("the model's output")
    assert rep["params_after"] < 0.35 * rep["params_before"]
    project = load_project(tmp_path / "s" / "project.json")
    assert project.model.node("conv1").params["out_channels"] == 4
    m, _ = compile_graph(project.model)
    m.load_state_dict(torch.load(tmp_path / "s" / "model.pt", weights_only=True))
    project.train.max_steps, project.train.epochs = 2, 1
    assert train_project(project, tmp_path / "retrain")["status"] == "completed"


def test_layers_that_cannot_be_pruned_are_reported_not_failed(tmp_path):
    lstm = chain(("input", "Input", {"shape": [1, 28, 28]}), ("rows", "Reshape", {"shape": [28, 28]}),
                 ("rnn", "LSTM", {"hidden_size": 16}), ("fc1", "Linear", {"out_features": 24}),
                 ("relu", "ReLU", {}), ("fc2", "Linear", {"out_features": 10}), ("output", "Output", {}))
    train_tiny(tmp_path / "lstm", lstm, limit=120, max_steps=2)
    rep = prune_run(open_run(tmp_path / "lstm"), "structured", 0.5, tmp_path / "out")
    kept = {r["node"]: r.get("reason", "") for r in rep["layers"] if r["status"] == "kept"}
    assert "recurrent" in kept["rnn"] and "output" in kept["fc2"]
    assert {r["node"]: r.get("after") for r in rep["layers"]}["fc1"] == 12


def test_bad_amounts_are_bad_input(cnn, tmp_path):
    with pytest.raises(CompressError, match="between 0 and 1"):
        prune_run(cnn, "global", 80, tmp_path / "x")
