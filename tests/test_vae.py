"""VAE trainer: loss terms, KL warm-up, steps on tiny graphs (no Qt), samples, latent map, resume."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from helpers import chain

from engine.data import DataBundle
from engine.project import Project, ProjectError
from engine.train import make_trainer
from engine.train.trainer import StepContext, TrainContext
from engine.train.vae import VaeTrainer, kl_weight, vae_terms

SIDE = 8




def tiny_vae_doc(latent: int = 3, **vae) -> dict:
    enc = chain(
        ("image", "Input", {"shape": [1, SIDE, SIDE]}), ("flat", "Flatten", {}),
        ("fc", "Linear", {"out_features": 16}), ("relu", "ReLU", {}),
        ("head", "Linear", {"out_features": 2 * latent}), ("out", "Output", {}),
    )
    dec = chain(
        ("z", "Input", {"shape": [latent]}), ("fc", "Linear", {"out_features": 16}), ("relu", "ReLU", {}),
        ("fc2", "Linear", {"out_features": SIDE * SIDE}), ("shape", "Reshape", {"shape": [1, SIDE, SIDE]}),
        ("out", "Output", {}),
    )
    spec = {"latent_dim": latent, "grid": 4, "samples_per_epoch": 1, "timeline_max": 4}
    spec.update(vae)
    return {
        "format": "layerlab-project", "version": 1, "name": "tiny vae", "data": {"batch_size": 8},
        "models": {"encoder": enc, "decoder": dec},
        "train": {"task": "vae", "seed": 0, "optimizer": {"name": "adam", "lr": 1e-2}, "vae": spec},
    }


def tiny_data(n: int = 48) -> DataBundle:
    """Four binary prototype images, each sample one of them with a few flipped pixels (learnable)."""
    g = torch.Generator().manual_seed(1)
    protos = (torch.rand(4, 1, SIDE, SIDE, generator=g) > 0.5).float()
    y = torch.arange(n) % 4
    flip = (torch.rand(n, 1, SIDE, SIDE, generator=g) < 0.05).float()
    x = (protos[y] - flip).abs()
    return DataBundle(x[:32], y[:32], x[32:], y[32:], tuple(str(i) for i in range(10)), (1, SIDE, SIDE))


def setup(doc: dict, run_dir, data=None, seed: int = 0) -> VaeTrainer:
    project = Project.model_validate(doc)
    torch.manual_seed(seed)
    tr = make_trainer(project)
    tr.setup(TrainContext(project, torch.device("cpu"), data or tiny_data(), str(run_dir)))
    return tr


def steps(tr, data, k, start=0, spe=4):
    logs = None
    for i in range(start, start + k):
        idx = torch.arange(8) + (i % 4) * 8
        logs = tr.train_step((data.train_x[idx], data.train_y[idx]), StepContext(i // spe, i % spe + 1, i, spe))
    return logs


def test_loss_terms_known_values():
    x = torch.rand(2, 1, 4, 4)
    zeros = torch.zeros(2, 3)
    rec, kl = vae_terms(torch.zeros(2, 1, 4, 4), x, zeros, zeros, "bce")
    assert float(rec) == pytest.approx(16 * math.log(2), rel=1e-5)  # BCE(logit 0, any target) = log 2 per pixel
    assert float(kl) == pytest.approx(0.0, abs=1e-7)
    _, kl = vae_terms(torch.zeros(2, 1, 4, 4), x, torch.ones(2, 3), zeros, "bce")
    assert float(kl) == pytest.approx(1.5)  # 0.5 * mu^2 per dim
    rec, _ = vae_terms(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2), torch.zeros(1, 1), torch.zeros(1, 1), "mse")
    assert float(rec) == pytest.approx(4 * 0.25)
    with pytest.raises(ValueError, match="bce or mse"):
        vae_terms(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1), "l1")


def test_kl_warmup_schedule():
    assert kl_weight(2.0, 0.0, 0.0) == 2.0
    assert kl_weight(2.0, 4.0, 0.0) == 0.0
    assert kl_weight(2.0, 4.0, 1.0) == pytest.approx(0.5)
    assert kl_weight(2.0, 4.0, 10.0) == 2.0


def test_steps_keys_and_warmup_applied(tmp_path):
    data = tiny_data()
    tr = setup(tiny_vae_doc(beta=1.0, kl_warmup_epochs=2.0), tmp_path, data)
    logs = steps(tr, data, 1)  # global step 0: KL weight 0
    assert set(logs) == {"loss", "recon", "kl"}
    for v in logs.values():
        assert isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad
    assert float(logs["loss"]) == pytest.approx(float(logs["recon"]))
    logs = steps(tr, data, 1, start=4)  # one epoch done of two: weight 0.5
    assert float(logs["loss"]) == pytest.approx(float(logs["recon"]) + 0.5 * float(logs["kl"]), rel=1e-5)


def test_training_lowers_val_loss_and_end_epoch_keys(tmp_path):
    data = tiny_data()
    tr = setup(tiny_vae_doc(recon_loss="bce"), tmp_path, data)
    m0 = tr.end_epoch(0)
    steps(tr, data, 40)
    m1 = tr.end_epoch(1)
    assert set(m1) >= {"val_loss", "val_recon", "val_kl", "train_loss", "train_recon", "train_kl", "beta"}
    assert m1["val_loss"] == pytest.approx(m1["val_recon"] + m1["val_kl"])
    assert m1["val_recon"] < m0["val_recon"]


def test_mse_variant_runs(tmp_path):
    data = tiny_data()
    tr = setup(tiny_vae_doc(recon_loss="mse"), tmp_path, data)
    logs = steps(tr, data, 2)
    assert float(logs["recon"]) < SIDE * SIDE  # squared error of sigmoid outputs per image is bounded


def test_samples_recon_and_generated(tmp_path):
    data = tiny_data()
    tr = setup(tiny_vae_doc(grid=4), tmp_path, data)
    steps(tr, data, 2)
    out = tr.samples(0, 2)
    kinds = [s.kind for s in out]
    assert kinds == ["vae_recon", "vae_samples"]
    side = 4 * (SIDE + 2) + 2
    for s in out:
        assert s.image.dtype == np.uint8 and s.image.shape == (side, side)
    # rows alternate original / reconstruction: the first grid row holds the fixed originals
    first = tr.fixed_x[0, 0].numpy()
    cell = out[0].image[2 : 2 + SIDE, 2 : 2 + SIDE]
    assert np.array_equal(cell, np.round(first * 255).astype(np.uint8))
    assert (tmp_path / "samples" / "index.json").is_file() and out[1].path


def test_latent_map_for_2d_latent(tmp_path):
    data = tiny_data()
    tr = setup(tiny_vae_doc(latent=2, grid=4), tmp_path, data)
    out = tr.samples(0, 0)
    lm = [s for s in out if s.kind == "vae_latent_map"]
    assert len(lm) == 1
    s = lm[0]
    assert s.image.dtype == np.uint8 and s.image.shape == (10 * SIDE, 10 * SIDE)
    xy, y = s.extra["xy"], s.extra["y"]
    assert xy.dtype == np.float32 and xy.shape == (16, 2) and y.shape == (16,) and np.issubdtype(y.dtype, np.integer)


def test_graph_shapes_checked(tmp_path):
    doc = tiny_vae_doc(latent=3)
    doc["train"]["vae"]["latent_dim"] = 4
    with pytest.raises(ProjectError, match="expected"):
        setup(doc, tmp_path)


def test_state_round_trip_exact(tmp_path):
    data = tiny_data()
    a = setup(tiny_vae_doc(), tmp_path / "a", data)
    steps(a, data, 3)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = setup(tiny_vae_doc(), tmp_path / "b", data, seed=7)
    b.load_state_dict(torch.load(buf, weights_only=True))
    torch.manual_seed(3)
    steps(a, data, 2, start=3)
    torch.manual_seed(3)
    steps(b, data, 2, start=3)
    for pa, pb in zip(a.E.state_dict().values(), b.E.state_dict().values()):
        assert torch.equal(pa, pb)
    for pa, pb in zip(a.Dec.state_dict().values(), b.Dec.state_dict().values()):
        assert torch.equal(pa, pb)


def test_vae_template_runs(tmp_path):
    from engine.data import load_bundle
    from engine.templates import load_template

    project = load_template("vae")
    project.data.limit = 64
    data = load_bundle(project.data)
    tr = make_trainer(project)
    tr.setup(TrainContext(project, torch.device("cpu"), data, str(tmp_path)))
    logs = tr.train_step((data.train_x[:8], data.train_y[:8]), StepContext(0, 1, 0, 8))
    assert torch.isfinite(logs["loss"])
    assert tr.spec.latent_dim == 16 and tr.Dec.output_shape == (1, 28, 28)


def test_vae_through_the_loop(tmp_path):
    from engine.train.api import train_project
    from engine.train.events import EpochEnd, Samples

    enc = chain(("image", "Input", {"shape": [1, 28, 28]}), ("flat", "Flatten", {}),
                ("head", "Linear", {"out_features": 4}), ("out", "Output", {}))
    dec = chain(("z", "Input", {"shape": [2]}), ("fc", "Linear", {"out_features": 784}),
                ("shape", "Reshape", {"shape": [1, 28, 28]}), ("out", "Output", {}))
    doc = {
        "format": "layerlab-project", "version": 1, "name": "loop vae", "data": {"batch_size": 16, "limit": 80},
        "models": {"encoder": enc, "decoder": dec},
        "train": {"task": "vae", "epochs": 2, "device": "cpu", "vae": {"latent_dim": 2, "grid": 2, "kl_warmup_epochs": 1}},
    }
    events = []
    rep = train_project(doc, tmp_path, on_event=events.append)
    assert rep["status"] == "completed", rep.get("error")
    kinds = {e.kind for e in events if isinstance(e, Samples)}
    assert kinds == {"vae_recon", "vae_samples", "vae_latent_map"}
    ends = [e.metrics for e in events if isinstance(e, EpochEnd)]
    assert len(ends) == 2 and ends[-1]["val_loss"] < ends[0]["val_loss"] and ends[-1]["beta"] == 1.0
    assert (tmp_path / "samples" / "index.json").is_file() and (tmp_path / "checkpoints" / "last.pt").is_file()
