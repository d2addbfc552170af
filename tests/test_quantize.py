"""Quantization: int8 ONNX files (static, calibrated; dynamic) and fp16/bf16 weights, all safe to load."""

from __future__ import annotations

import pytest
import torch
from helpers import linear_graph, small_cnn, train_tiny

from engine.compress.compare import compare_paths
from engine.compress.errors import CompressError
from engine.compress.quantize import float_head, float_onnx, quantize_run
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


def test_static_int8_keeps_the_convolution_that_reads_the_image_in_float_and_quantizes_the_rest(cnn, tmp_path):
    import onnx

    q = quantize_run(cnn, "static-int8", tmp_path / "q.onnx", calibration_images=64)
    assert [(h["layer"], h["op"]) for h in q["float_head"]] == [("conv1", "Conv"), ("conv1", "MaxPool"),
                                                                 ("conv1", "Relu")]
    g = onnx.load(q["path"]).graph
    made_by = {o: n for n in g.node for o in n.output}
    convs = {n.input[1].split(".")[-2]: made_by.get(n.input[1]) for n in g.node if n.op_type == "Conv"}
    assert convs["conv1"] is None  # a float initializer
    assert convs["conv2"].op_type == "DequantizeLinear"  # int8 weights
    inits = {t.name: t.data_type for t in g.initializer}
    assert inits[convs["conv2"].input[0]] == onnx.TensorProto.INT8


def test_the_float_head_rewrite_moves_relu_after_the_pool_and_changes_no_output(cnn, tmp_path):
    import numpy as np
    import onnx
    import onnxruntime as ort

    path = float_onnx(cnn, tmp_path / "f.onnx")
    model = onnx.load(str(path))
    head = float_head(model)
    assert [h["op"] for h in head] == ["Conv", "MaxPool", "Relu"] and float_head(model) == head  # idempotent
    ops = [n.op_type for n in model.graph.node if n.op_type in ("Conv", "Relu", "MaxPool")]
    assert ops[:4] == ["Conv", "MaxPool", "Relu", "Conv"] and ops[4:6] == ["Relu", "MaxPool"]  # block 2 untouched
    onnx.checker.check_model(model, full_check=True)
    x = (cnn.bundle().val_x[:64] * 255).round().numpy()
    before = ort.InferenceSession(str(path)).run(None, {"pixels": x})[0]
    after = ort.InferenceSession(model.SerializeToString()).run(None, {"pixels": x})[0]
    assert np.abs(before - after).max() <= 1e-5


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
    with pytest.raises(CompressError, match=r"is a \.onnx file, not \.pt; name it x\.onnx"):
        quantize_run(cnn, "static-int8", tmp_path / "x.pt")
