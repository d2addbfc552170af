"""Quantization: int8 ONNX files (static, calibrated; dynamic) and fp16/bf16 weights, all safe to load."""

from __future__ import annotations

import pytest
import torch
from helpers import linear_graph, small_cnn, train_tiny

from engine.compress.compare import compare_paths
from engine.compress.errors import CompressError
from engine.compress.quantize import quantize_run
from engine.runs import open_run


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    d = tmp_path_factory.mktemp("cnn")
    train_tiny(d, small_cnn(), limit=500, epochs=2)
    return open_run(d)


def test_static_int8_is_a_smaller_onnx_file_that_agrees_with_the_float_model(cnn, tmp_path):
    q = quantize_run(cnn, "static-int8", tmp_path / "q", calibration_images=128)
    assert q["path"].endswith(".onnx") and q["runtime"] == "onnxruntime"
    orig, row = compare_paths(cnn, [q["path"]], repeats_b1=3, repeats_b64=2)
    assert row.dtype == "int8" and orig.size_bytes / row.size_bytes > 2.0  # tiny model: scales/zero points weigh in
    assert row.agreement >= 0.9 and abs(row.val_accuracy - orig.val_accuracy) <= 0.1
    assert row.float_latency_ms_b64 > 0 and row.runtime == "onnxruntime"


def test_dynamic_int8_quantizes_the_linear_layers(tmp_path):
    train_tiny(tmp_path / "mlp", linear_graph(), limit=300)
    run = open_run(tmp_path / "mlp")
    q = quantize_run(run, "dynamic-int8", tmp_path / "mlp_int8.onnx")
    orig, row = compare_paths(run, [q["path"]], repeats_b1=2, repeats_b64=2)
    assert orig.size_bytes / row.size_bytes > 2.5 and row.agreement >= 0.95  # 7,850 weights: graph overhead shows


@pytest.mark.parametrize("method,dtype", [("fp16", torch.float16), ("bf16", torch.bfloat16)])
def test_half_precision_weights_halve_the_file_and_load_with_weights_only(cnn, tmp_path, method, dtype):
    q = quantize_run(cnn, method, tmp_path / f"w_{method}")
    state = torch.load(q["path"], weights_only=True)
    assert state["conv1.weight"].dtype == dtype
    orig, row = compare_paths(cnn, [q["path"]], repeats_b1=2, repeats_b64=2)
    assert row.size_bytes < 0.6 * orig.size_bytes and row.agreement >= 0.95 and row.dtype == method
    if method == "fp16":
        assert "storage format" in row.note


def test_bad_methods_and_names_are_bad_input(cnn, tmp_path):
    with pytest.raises(CompressError, match="unknown method"):
        quantize_run(cnn, "int4", tmp_path / "x")
    with pytest.raises(CompressError, match="ONNX file"):
        quantize_run(cnn, "static-int8", tmp_path / "x.pt")
