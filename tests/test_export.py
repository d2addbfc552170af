"""Every export format verifies itself; preprocessing travels inside; GAN/VAE export their parts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import small_cnn, train_tiny

import engine.export as ex
from engine.compress.errors import VerificationError
from engine.runs import open_run

NORM = [{"type": "normalize", "params": {"mean": [0.1307], "std": [0.3081]}}]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    train_tiny(d, small_cnn(), augment=NORM, limit=400)
    return open_run(d / "model.pt")


@pytest.mark.parametrize("fmt", ["state-dict", "safetensors", "onnx", "pt2", "python"])
def test_each_format_writes_a_verified_file_and_a_model_card(run, tmp_path, fmt):
    (res,) = ex.export_run(run, fmt, tmp_path / "digits")
    v = res.verification
    assert v["ok"] and v["max_abs_diff"] <= 1e-4 and v["agreement"] == 1.0 and v["n"] == 40
    assert res.path.endswith(ex.SUFFIX[fmt])
    card = open(res.card).read()
    assert "## Verification" in card and "divide by 255" in card and "parameters" in card


def test_the_onnx_file_alone_scores_layerlabs_accuracy_on_raw_0_255_pixels(run, tmp_path):
    import onnxruntime as ort

    (res,) = ex.export_run(run, "onnx", tmp_path / "m.onnx")
    b = run.bundle()
    pixels = (b.val_x.numpy() * 255).round().astype(np.float32)  # bytes as a user has them
    sess = ort.InferenceSession(res.path, providers=["CPUExecutionProvider"])
    pred = sess.run(None, {sess.get_inputs()[0].name: pixels})[0].argmax(1)
    onnx_acc = float((pred == b.val_y.numpy()).mean())
    assert onnx_acc == pytest.approx(run.history()[-1]["val_accuracy"], abs=1e-9)
    assert sess.get_inputs()[0].shape[0] != 40  # a dynamic batch axis, not the verification batch
    assert sess.run(None, {sess.get_inputs()[0].name: pixels[:1]})[0].shape == (1, 10)


def test_a_failed_verification_is_an_error_not_a_silent_file(run, tmp_path, monkeypatch):
    real = ex.run_onnx
    monkeypatch.setattr(ex, "run_onnx", lambda path, args: real(path, args) + 0.01)
    with pytest.raises(VerificationError, match="exceeds"):
        ex.export_run(run, "onnx", tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists() and not (tmp_path / "bad.onnx.md").exists()


def test_a_gan_exports_its_generator_alone():
    from engine.runs import Run
    from engine.templates import load_template

    assert ex.export_roles(Run(".", load_template("dcgan"))) == ["generator"]


def test_safetensors_carries_the_graph_so_it_can_be_rebuilt(run, tmp_path):
    from safetensors import safe_open

    (res,) = ex.export_run(run, "safetensors", tmp_path / "w")
    with safe_open(res.path, "pt") as f:
        graph = json.loads(f.metadata()["layerlab_graph"])
    assert [n["id"] for n in graph["nodes"]][:2] == ["input", "conv1"]


def test_a_vae_exports_its_encoder_and_decoder_as_two_verified_files(tmp_path):
    from engine.templates import load_template
    from engine.train.api import train_project

    p = load_template("vae")
    p.data.limit = 128
    p.train.max_steps = 2
    p.train.epochs = 1
    p.train.device = "cpu"
    assert train_project(p, tmp_path / "vae")["status"] == "completed"
    res = ex.export_run(open_run(tmp_path / "vae"), "onnx", tmp_path / "vae.onnx")
    assert [r.role for r in res] == ["encoder", "decoder"]
    assert [r.path.rsplit("/", 1)[1] for r in res] == ["vae_encoder.onnx", "vae_decoder.onnx"]
    assert all(r.verification["ok"] for r in res)
    assert res[0].verification["inputs"] == "raw pixels 0-255"
    assert res[1].verification["inputs"] == "latent / index tensors"
