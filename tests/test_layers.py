"""Every registry entry: docs, params, and inferred shapes/param counts equal to the real modules."""

from __future__ import annotations

import sys

import pytest

from engine.layers import REGISTRY, ShapeError, all_layers, get_layer

SPECS = [s for s in all_layers() if s.construct is not None]
CASES = [(s.type, i) for s in SPECS for i in range(len(s.example_in) if s.max_inputs == 1 else 1)]


def _inputs_for(spec, idx):
    """Example input shapes for the spec: merge layers take all example shapes at once."""
    if spec.max_inputs != 1:
        return list(spec.example_in)
    return [spec.example_in[idx]]


def _tensor(shape, dtype, batch=2):
    import torch

    if dtype == "long":
        return torch.randint(0, 3, (batch, *shape))
    return torch.randn(batch, *shape)


def _run(spec, in_shapes, params):
    import torch

    params = spec.resolve(params)
    assert not spec.validate(params), spec.validate(params)
    out = spec.infer(in_shapes, params)
    n_params, macs = spec.count(in_shapes, out, params)
    module = spec.build(in_shapes, params)
    module.train()
    torch.manual_seed(0)
    dtype = "long" if spec.in_dtype == "long" else "float"
    xs = [_tensor(s, dtype) for s in in_shapes]
    y = module(*xs)
    assert tuple(y.shape) == (2, *out), f"{spec.type} {in_shapes}: inferred {out}, real {tuple(y.shape[1:])}"
    assert n_params == sum(p.numel() for p in module.parameters()), spec.type
    assert macs >= 0
    return out, n_params, macs


def test_registry_imports_without_torch():
    import subprocess

    code = "import sys, engine.layers, engine.graph; r = engine.graph.analyze({'nodes': [], 'edges': []}); " \
           "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_required_types_present():
    required = """Input Output Linear Conv1d Conv2d ConvTranspose2d MaxPool2d AvgPool2d AdaptiveAvgPool2d BatchNorm1d
    BatchNorm2d LayerNorm Dropout Dropout2d Flatten Unflatten Reshape ReLU LeakyReLU GELU ELU SiLU Sigmoid Tanh
    Softmax LogSoftmax Identity Embedding RNN LSTM GRU MultiheadAttention TransformerEncoderLayer PositionalEncoding
    LearnedPositionalEmbedding SequencePool Add Concat Multiply""".split()
    assert not [t for t in required if t not in REGISTRY]


@pytest.mark.parametrize("type_name", sorted(REGISTRY))
def test_docs_and_params(type_name):
    spec = get_layer(type_name)
    assert spec.category in ("io", "core", "conv", "recurrent", "attention", "merge", "blocks")
    assert len(spec.doc) > 40 and spec.doc.strip()[0].isupper()
    for p in spec.params:
        assert p.doc.strip(), f"{type_name}.{p.name} has no doc"
        assert p.check(p.default) is None, f"{type_name}.{p.name} default {p.default!r} is invalid"
    assert spec.validate({}) == [] or spec.type in ("Input", "Block")
    assert spec.to_json()["type"] == type_name
    # no user param is an input size: those are derived from the shapes
    for forbidden in ("in_channels", "in_features", "input_size", "num_features", "embed_dim", "normalized_shape"):
        assert spec.param(forbidden) is None


@pytest.mark.parametrize("type_name,idx", CASES)
def test_default_build_matches_inference(type_name, idx):
    spec = get_layer(type_name)
    _run(spec, _inputs_for(spec, idx), {})


VARIANTS = [
    ("Linear", [(3, 4, 5)], {"out_features": 7, "bias": False}),
    ("Conv2d", [(4, 11, 9)], {"out_channels": 6, "kernel_size": [3, 2], "stride": [2, 1], "padding": [1, 0],
                              "dilation": 2, "groups": 2}),
    ("Conv1d", [(4, 17)], {"out_channels": 8, "kernel_size": 4, "stride": 3, "padding": 2, "groups": 4}),
    ("ConvTranspose2d", [(4, 5, 6)], {"out_channels": 2, "kernel_size": 3, "stride": 3, "padding": 1,
                                      "output_padding": 2, "groups": 2}),
    ("ConvTranspose2d", [(4, 5, 6)], {"out_channels": 3, "kernel_size": [2, 3], "stride": 1, "padding": 0,
                                      "dilation": 2, "bias": False}),
    ("MaxPool2d", [(2, 9, 8)], {"kernel_size": 3, "stride": [2, 3], "padding": 1}),
    ("AvgPool2d", [(2, 9, 8)], {"kernel_size": [2, 4], "stride": 1, "padding": [1, 2]}),
    ("AdaptiveAvgPool2d", [(3, 9, 8)], {"output_size": [2, 5]}),
    ("BatchNorm1d", [(5,)], {"affine": False}),
    ("LayerNorm", [(3, 6)], {"bias": False}),
    ("LayerNorm", [(6,)], {"elementwise_affine": False}),
    ("Flatten", [(2, 3, 4, 5)], {"start_dim": 2, "end_dim": 3}),
    ("Flatten", [(2, 3, 4, 5)], {"start_dim": -3, "end_dim": -2}),
    ("Unflatten", [(6, 12)], {"dim": -1, "unflattened_size": [3, -1]}),
    ("Reshape", [(2, 3, 4)], {"shape": [4, -1, 2]}),
    ("Softmax", [(2, 3, 4)], {"dim": 2}),
    ("LogSoftmax", [(2, 3)], {"dim": -2}),
    ("Embedding", [(4, 3)], {"num_embeddings": 5, "embedding_dim": 3}),
    ("LSTM", [(6, 5)], {"hidden_size": 4, "num_layers": 2, "bidirectional": True, "dropout": 0.1}),
    ("LSTM", [(6, 5)], {"hidden_size": 4, "return_sequence": True, "bidirectional": True}),
    ("GRU", [(6, 5)], {"hidden_size": 3, "num_layers": 3, "return_sequence": True, "bias": False}),
    ("RNN", [(6, 5)], {"hidden_size": 3, "nonlinearity": "relu", "bidirectional": True, "num_layers": 2}),
    ("MultiheadAttention", [(5, 12)], {"num_heads": 4, "bias": False}),
    ("TransformerEncoderLayer", [(5, 12)], {"nhead": 3, "dim_feedforward": 7, "activation": "gelu",
                                            "norm_first": True}),
    ("SequencePool", [(5, 3)], {"mode": "max"}),
    ("SequencePool", [(5, 3)], {"mode": "last"}),
    ("SequencePool", [(5, 3)], {"mode": "first"}),
    ("Concat", [(2, 3), (2, 5), (2, 1)], {"dim": -1}),
    ("Add", [(3,), (3,), (3,)], {}),
    ("Upsample", [(2, 3, 4)], {"scale_factor": 3, "mode": "bilinear"}),
    ("MaxPool1d", [(2, 9)], {"kernel_size": 3, "stride": 1, "padding": 1}),
    ("AdaptiveAvgPool1d", [(2, 9)], {"output_size": 4}),
]


@pytest.mark.parametrize("type_name,in_shapes,params", VARIANTS)
def test_variants_match_inference(type_name, in_shapes, params):
    _run(get_layer(type_name), in_shapes, params)


def test_exact_counts():
    lin = get_layer("Linear")
    assert lin.count([(784,)], (128,), lin.resolve({})) == (784 * 128 + 128, 784 * 128)
    conv = get_layer("Conv2d")
    p = conv.resolve({"out_channels": 8, "kernel_size": 3, "padding": 1})
    assert conv.infer([(1, 28, 28)], p) == (8, 28, 28)
    assert conv.count([(1, 28, 28)], (8, 28, 28), p) == (8 * 9 + 8, 8 * 28 * 28 * 9)
    lstm = get_layer("LSTM")
    p = lstm.resolve({"hidden_size": 64})
    # 4 gates * 64 * (28 + 64) weights + 2 * 4 * 64 biases; 28 steps of the same work
    assert lstm.count([(28, 28)], (64,), p) == (4 * 64 * 92 + 512, 28 * 4 * 64 * 92)


SHAPE_ERRORS = [
    ("Conv2d", [(784,)], {}, "Conv2d needs a [channels, height, width] input, got [784]"),
    ("Conv2d", [(1, 2, 2)], {"kernel_size": 5}, "bigger than the input"),
    ("Conv2d", [(3, 8, 8)], {"groups": 2}, "groups=2 must divide"),
    ("MaxPool2d", [(2, 1, 1)], {}, "bigger than the input"),
    ("MaxPool2d", [(2, 8, 8)], {"padding": 2}, "at most half the kernel"),
    ("ConvTranspose2d", [(2, 3, 3)], {"output_padding": 2}, "must be smaller than stride"),
    ("LSTM", [(1, 28, 28)], {}, "LSTM needs a [length, features] sequence input, got [1, 28, 28]"),
    ("MultiheadAttention", [(5, 7)], {"num_heads": 2}, "divisible by 2"),
    ("Reshape", [(1, 28, 28)], {"shape": [27, 28]}, "needs 756 values, but the input has 784"),
    ("Reshape", [(5, 3)], {"shape": [2, -1]}, "cannot fit 15 values"),
    ("Add", [(16, 28, 28), (8, 28, 28)], {}, "got [16, 28, 28] and [8, 28, 28]"),
    ("Concat", [(2, 4, 4), (3, 5, 4)], {}, "all other sizes equal"),
    ("Concat", [(2, 4), (3, 4)], {"dim": 2}, "out of range"),
    ("Flatten", [(3,)], {"start_dim": 2}, "out of range"),
    ("Softmax", [(3,)], {"dim": 0}, "batch"),
    ("Linear", [()], {}, "scalar"),
    ("BatchNorm1d", [(1, 2, 3)], {}, "BatchNorm1d needs a [features] or [channels, length] input"),
]


@pytest.mark.parametrize("type_name,in_shapes,params,needle", SHAPE_ERRORS)
def test_shape_errors_are_clear(type_name, in_shapes, params, needle):
    spec = get_layer(type_name)
    with pytest.raises(ShapeError) as exc:
        spec.infer(in_shapes, spec.resolve(params))
    assert needle in str(exc.value)


def test_param_validation_messages():
    conv = get_layer("Conv2d")
    assert conv.validate({"kernel_size": 0}) == [("kernel_size", "must be >= 1")]
    assert conv.validate({"kernel_size": [3, 3, 3]})[0][0] == "kernel_size"
    assert conv.validate({"kernels": 3})[0][1].startswith("unknown parameter")
    inp = get_layer("Input")
    assert inp.validate({"shape": []}) == []  # a scalar label
    assert inp.validate({"shape": [0]})
    assert get_layer("Reshape").validate({"shape": [-1, -1]}) == [("shape", "only one size may be -1")]


def test_bidirectional_last_step_uses_both_directions():
    import torch

    lstm = get_layer("LSTM")
    p = lstm.resolve({"hidden_size": 3, "bidirectional": True})
    m = lstm.build([(5, 2)], p)
    x = torch.randn(2, 5, 2)
    full, _ = torch.nn.LSTM.forward(m, x)
    y = m(x)
    assert torch.equal(y[:, :3], full[:, -1, :3]) and torch.equal(y[:, 3:], full[:, 0, 3:])
    assert [n for n, _ in m.named_parameters()][0] == "weight_ih_l0"


@pytest.mark.parametrize("type_name,in_shapes,params", [
    ("Linear", [(3, 4, 5)], {"out_features": 7}),
    ("Conv1d", [(4, 17)], {"out_channels": 8, "kernel_size": 4, "stride": 3, "padding": 2, "groups": 4}),
    ("Conv2d", [(4, 11, 9)], {"out_channels": 6, "kernel_size": [3, 2], "stride": 2, "dilation": 2, "groups": 2}),
    ("ConvTranspose2d", [(4, 5, 6)], {"out_channels": 2, "kernel_size": 3, "stride": 3, "padding": 1,
                                      "output_padding": 2, "groups": 2}),
    ("TransformerEncoderLayer", [(5, 12)], {"nhead": 3, "dim_feedforward": 7}),
])
def test_macs_match_torch_flop_counter(type_name, in_shapes, params):
    """MAC formulas agree with torch.utils.flop_counter (FLOPs = 2 x MACs) where it sees the ops."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    spec = get_layer(type_name)
    p = spec.resolve(params)
    _, macs = spec.count(in_shapes, spec.infer(in_shapes, p), p)
    module = spec.build(in_shapes, p).train()  # train: no fused eval fast path hiding the matmuls
    with FlopCounterMode(display=False) as counter:
        module(torch.randn(1, *in_shapes[0]))
    assert counter.get_total_flops() == 2 * macs
