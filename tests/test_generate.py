"""``generate`` and ``layerlab generate``: shapes, range, labels, checkpoint layouts, CLI exit codes."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from helpers import chain

from engine.data import DataBundle
from engine.generate import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    GenerateError,
    add_generate_arguments,
    find_weights,
    generate,
    run_generate_cli,
)
from engine.project import Project, dumps_project
from engine.train import make_trainer
from engine.train.trainer import StepContext, TrainContext

SIDE = 8




def gan_doc(conditional: bool = False) -> dict:
    head = [("fc", "Linear", {"out_features": SIDE * SIDE}), ("shape", "Reshape", {"shape": [1, SIDE, SIDE]}),
            ("tanh", "Tanh", {}), ("out", "Output", {})]
    if conditional:
        g = chain(("join", "Concat", {"dim": 0}), *head)
        g["nodes"] += [
            {"id": "noise", "type": "Input", "params": {"shape": [4]}},
            {"id": "label", "type": "Input", "params": {"shape": [], "dtype": "long"}},
            {"id": "emb", "type": "Embedding", "params": {"num_embeddings": 10, "embedding_dim": 3}},
        ]
        g["edges"] += [["noise", "join"], ["label", "emb"], ["emb", "join"]]
        d = chain(("join", "Concat", {"dim": 0}), ("flat", "Flatten", {}), ("logit", "Linear", {"out_features": 1}),
                  ("out", "Output", {}))
        d["nodes"] += [
            {"id": "image", "type": "Input", "params": {"shape": [1, SIDE, SIDE]}},
            {"id": "label", "type": "Input", "params": {"shape": [], "dtype": "long"}},
            {"id": "emb", "type": "Embedding", "params": {"num_embeddings": 10, "embedding_dim": SIDE * SIDE}},
            {"id": "emb_map", "type": "Reshape", "params": {"shape": [1, SIDE, SIDE]}},
        ]
        d["edges"] += [["image", "join"], ["label", "emb"], ["emb", "emb_map"], ["emb_map", "join"]]
    else:
        g = chain(("noise", "Input", {"shape": [4]}), *head)
        d = chain(("image", "Input", {"shape": [1, SIDE, SIDE]}), ("flat", "Flatten", {}),
                  ("logit", "Linear", {"out_features": 1}), ("out", "Output", {}))
    return {
        "format": "layerlab-project", "version": 1, "name": "g",
        "models": {"generator": g, "discriminator": d},
        "train": {"task": "gan", "gan": {"latent_dim": 4, "grid": 2, "conditional": conditional}},
    }


def vae_doc() -> dict:
    enc = chain(("image", "Input", {"shape": [1, SIDE, SIDE]}), ("flat", "Flatten", {}),
                ("head", "Linear", {"out_features": 4}), ("out", "Output", {}))
    dec = chain(("z", "Input", {"shape": [2]}), ("fc", "Linear", {"out_features": SIDE * SIDE}),
                ("shape", "Reshape", {"shape": [1, SIDE, SIDE]}), ("out", "Output", {}))
    return {
        "format": "layerlab-project", "version": 1, "name": "v",
        "models": {"encoder": enc, "decoder": dec},
        "train": {"task": "vae", "vae": {"latent_dim": 2, "grid": 2}},
    }


def trained_state(doc: dict, tmp_path) -> tuple[Project, dict]:
    project = Project.model_validate(doc)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(24, 1, SIDE, SIDE, generator=g)
    y = torch.arange(24) % 10
    data = DataBundle(x[:16], y[:16], x[16:], y[16:], tuple(map(str, range(10))), (1, SIDE, SIDE))
    torch.manual_seed(0)
    tr = make_trainer(project)
    tr.setup(TrainContext(project, torch.device("cpu"), data, str(tmp_path / "run")))
    tr.train_step((x[:8], y[:8]), StepContext(0, 1, 0, 2))
    return project, tr.state_dict()


def test_gan_generate_shape_range_and_seed(tmp_path):
    project, state = trained_state(gan_doc(), tmp_path)
    a = generate(project, state, 5, seed=1)
    assert a.shape == (5, 1, SIDE, SIDE) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.array_equal(a, generate(project, state, 5, seed=1))
    assert not np.array_equal(a, generate(project, state, 5, seed=2))
    # a plain generator state_dict and a checkpoint nesting the trainer state work the same
    assert np.array_equal(a, generate(project, state["models"]["generator"], 5, seed=1))
    assert np.array_equal(a, generate(project, {"epoch": 3, "trainer": state}, 5, seed=1))
    assert np.array_equal(a, generate(project, {"generator": state["models"]["generator"]}, 5, seed=1))  # model.pt
    with pytest.raises(GenerateError, match="conditional"):
        generate(project, state, 2, label=3)


def test_conditional_labels(tmp_path):
    project, state = trained_state(gan_doc(conditional=True), tmp_path)
    a = generate(project, state, 4, label=3, seed=0)
    b = generate(project, state, 4, label=7, seed=0)
    assert a.shape == (4, 1, SIDE, SIDE) and not np.array_equal(a, b)
    cyc = generate(project, state, 10, seed=0)  # no label: 0, 1, ..., 9
    assert cyc.shape == (10, 1, SIDE, SIDE)
    with pytest.raises(GenerateError, match="between 0 and 9"):
        generate(project, state, 1, label=10)


def test_vae_generate(tmp_path):
    project, state = trained_state(vae_doc(), tmp_path)
    a = generate(project, state, 3, seed=0)
    assert a.shape == (3, 1, SIDE, SIDE) and 0.0 <= a.min() and a.max() <= 1.0


def test_bad_inputs(tmp_path):
    project, state = trained_state(gan_doc(), tmp_path)
    with pytest.raises(GenerateError, match="from 1 to"):
        generate(project, state, 0)
    with pytest.raises(GenerateError, match="no generator weights"):
        find_weights({"encoder": {"w": torch.zeros(1)}, "note": "x"}, "generator")
    bad = dict(state["models"]["generator"])
    bad["fc.weight"] = torch.zeros(3, 3)
    with pytest.raises(GenerateError, match="do not fit"):
        generate(project, bad, 2)
    clf = Project.model_validate({"format": "layerlab-project", "version": 1,
                                  "model": chain(("x", "Input", {"shape": [4]}), ("o", "Output", {}))})
    with pytest.raises(GenerateError, match="GAN and VAE"):
        generate(clf, state, 2)


def _cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    add_generate_arguments(p)
    return run_generate_cli(p.parse_args(argv))


def test_cli_png_and_npy(tmp_path, capsys):
    import imageio.v3 as iio

    project, state = trained_state(gan_doc(), tmp_path)
    pf, ck = tmp_path / "p.json", tmp_path / "c.pt"
    pf.write_text(dumps_project(project))
    torch.save({"trainer": state, "epoch": 1}, ck)
    assert _cli([str(pf), "--checkpoint", str(ck), "-n", "6", "-o", str(tmp_path / "g.png"), "--nrow", "3"]) == EXIT_OK
    img = iio.imread(tmp_path / "g.png")
    assert img.shape[:2] == (2 * (SIDE + 2) + 2, 3 * (SIDE + 2) + 2)
    assert _cli([str(pf), "--checkpoint", str(ck), "-n", "6", "-o", str(tmp_path / "g.npy"), "--seed", "4"]) == EXIT_OK
    arr = np.load(tmp_path / "g.npy")
    assert arr.shape == (6, 1, SIDE, SIDE) and arr.dtype == np.float32 and 0 <= arr.min() and arr.max() <= 1


def test_cli_exit_codes(tmp_path, capsys):
    project, state = trained_state(gan_doc(), tmp_path)
    pf, ck = tmp_path / "p.json", tmp_path / "c.pt"
    pf.write_text(dumps_project(project))
    torch.save(state, ck)
    out = str(tmp_path / "o.png")
    assert _cli([str(pf), "--checkpoint", str(ck), "--label", "2", "-o", out]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "conditional" in err and "Traceback" not in err
    assert _cli([str(pf), "--checkpoint", str(tmp_path / "missing.pt"), "-o", out]) == EXIT_BAD_INPUT
    assert "not found" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert _cli([str(pf), "--checkpoint", str(tmp_path / "junk.pt"), "-o", out]) == EXIT_BAD_INPUT
    assert "not a readable PyTorch checkpoint" in capsys.readouterr().err
    assert _cli([str(pf), "--checkpoint", str(ck), "-o", str(tmp_path / "o.jpg")]) == EXIT_BAD_INPUT
    with pytest.raises(SystemExit) as stop:  # refused by the argument parser, before any work
        _cli([str(pf), "--checkpoint", str(ck), "-n", "0", "-o", out])
    assert stop.value.code == EXIT_BAD_INPUT
    (tmp_path / "bad.json").write_text(json.dumps({"format": "nope"}))
    assert _cli([str(tmp_path / "bad.json"), "--checkpoint", str(ck), "-o", out]) == EXIT_BAD_INPUT
    assert not (tmp_path / "o.png").exists()


def test_layerlab_generate_verb(tmp_path, capsys):
    from engine.cli import main

    project, state = trained_state(vae_doc(), tmp_path)
    pf, ck = tmp_path / "v.json", tmp_path / "v.pt"
    pf.write_text(dumps_project(project))
    torch.save(state, ck)
    assert main(["generate", str(pf), "--checkpoint", str(ck), "-n", "4", "-o", str(tmp_path / "v.npy")]) == 0
    assert np.load(tmp_path / "v.npy").shape == (4, 1, SIDE, SIDE)


def test_model_pt_of_a_gan_run_keeps_the_weight_averaged_generator(tmp_path):
    """The run's model.pt holds the EMA generator too, so `generate` on it matches last.pt."""
    from engine.templates import load_template
    from engine.train.api import train_project

    project = load_template("dcgan")
    assert project.train.gan.ema > 0
    out = tmp_path / "run"
    rep = train_project(project, out, overrides={"train.max_steps": 3, "data.limit": 200, "train.device": "cpu",
                                                 "data.batch_size": 16, "train.gan.samples_per_epoch": 0})
    assert rep["status"] == "completed"
    state = torch.load(out / "model.pt", weights_only=True)
    assert {"generator", "discriminator", "generator_ema"} <= set(state)
    a = generate(project, state, 4, seed=3)
    b = generate(project, torch.load(out / "checkpoints" / "last.pt", weights_only=True), 4, seed=3)
    assert np.array_equal(a, b)
