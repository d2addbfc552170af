"""The graph compiler: branching graphs build and run; every error lands on the right node, all at once."""

from __future__ import annotations

import pytest
import torch

from engine.graph import CompileError, CompileResult, NodeError, analyze, compile_graph
from engine.project import GraphSpec


def g(nodes, edges):
    return {"nodes": [{"id": i, "type": t, "params": p} for i, t, p in nodes], "edges": edges}


def chain(*nodes):
    ids = [n[0] for n in nodes]
    return g(nodes, [[a, b] for a, b in zip(ids, ids[1:])])


MLP = chain(("x", "Input", {"shape": [1, 28, 28]}), ("f", "Flatten", {}), ("fc1", "Linear", {"out_features": 32}),
            ("act", "ReLU", {}), ("fc2", "Linear", {"out_features": 10}), ("out", "Output", {}))

RESIDUAL = g(
    [("x", "Input", {"shape": [1, 28, 28]}), ("c1", "Conv2d", {"out_channels": 8, "padding": 1}),
     ("r1", "ReLU", {}), ("c2", "Conv2d", {"out_channels": 8, "padding": 1}), ("add", "Add", {}),
     ("pool", "AdaptiveAvgPool2d", {}), ("f", "Flatten", {}), ("fc", "Linear", {"out_features": 10}),
     ("out", "Output", {})],
    [["x", "c1"], ["c1", "r1"], ["r1", "c2"], ["c2", "add"], ["c1", "add"], ["add", "pool"], ["pool", "f"],
     ["f", "fc"], ["fc", "out"]],
)

BRANCHES = g(
    [("x", "Input", {"shape": [1, 28, 28]}), ("a", "Conv2d", {"out_channels": 4, "kernel_size": 1}),
     ("b", "Conv2d", {"out_channels": 6, "kernel_size": 3, "padding": 1}),
     ("c", "MaxPool2d", {"kernel_size": 3, "stride": 1, "padding": 1}), ("cat", "Concat", {"dim": 0}),
     ("f", "Flatten", {}), ("fc", "Linear", {"out_features": 10}), ("out", "Output", {})],
    [["x", "a"], ["x", "b"], ["x", "c"], ["a", "cat"], ["b", "cat"], ["c", "cat"], ["cat", "f"], ["f", "fc"],
     ["fc", "out"]],
)

LSTM_ROWS = chain(("x", "Input", {"shape": [1, 28, 28]}), ("rows", "Reshape", {"shape": [28, 28]}),
                  ("lstm1", "LSTM", {"hidden_size": 32}), ("fc", "Linear", {"out_features": 10}),
                  ("out", "Output", {}))

TRANSFORMER = chain(("x", "Input", {"shape": [1, 28, 28]}), ("rows", "Reshape", {"shape": [28, 28]}),
                    ("proj", "Linear", {"out_features": 32}), ("pos", "PositionalEncoding", {}),
                    ("enc", "TransformerEncoderLayer", {"nhead": 4, "dim_feedforward": 64}),
                    ("pool", "SequencePool", {"mode": "mean"}), ("fc", "Linear", {"out_features": 10}),
                    ("out", "Output", {}))

CGAN_G = g(
    [("noise", "Input", {"shape": [64]}), ("label", "Input", {"shape": [], "dtype": "long"}),
     ("emb", "Embedding", {"num_embeddings": 10, "embedding_dim": 16}), ("cat", "Concat", {}),
     ("fc", "Linear", {"out_features": 784}), ("t", "Tanh", {}),
     ("img", "Unflatten", {"unflattened_size": [1, 28, 28]}), ("out", "Output", {})],
    [["label", "emb"], ["noise", "cat"], ["emb", "cat"], ["cat", "fc"], ["fc", "t"], ["t", "img"], ["img", "out"]],
)


@pytest.mark.parametrize("graph,out_shape", [
    (MLP, (10,)), (RESIDUAL, (10,)), (BRANCHES, (10,)), (LSTM_ROWS, (10,)), (TRANSFORMER, (10,)),
    (CGAN_G, (1, 28, 28)),
])
def test_graphs_compile_and_run(graph, out_shape):
    model, res = compile_graph(graph)
    assert res.ok and not res.errors, res.errors
    assert model.output_shape == out_shape
    xs = model.example_inputs(3)
    y = model(*xs)
    assert tuple(y.shape) == (3, *out_shape)
    assert res.total_params == sum(p.numel() for p in model.parameters())
    # every node's inferred shape is the real one
    seen = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: seen.__setitem__(n, tuple(o.shape[1:])))
             for n, m in model.named_children()]
    model(*xs)
    for h in hooks:
        h.remove()
    for n, shape in seen.items():
        assert res.node(n).output_shape == shape, n
    y.sum().backward()  # gradients flow


def test_parameter_names_are_node_ids():
    model, _ = compile_graph(RESIDUAL)
    names = [n for n, _ in model.named_parameters()]
    assert names[:4] == ["c1.weight", "c1.bias", "c2.weight", "c2.bias"]
    model, _ = compile_graph(LSTM_ROWS)
    assert "lstm1.weight_ih_l0" in dict(model.named_parameters())
    model.load_state_dict(compile_graph(LSTM_ROWS)[0].state_dict())  # stable between builds


def test_multi_input_order_and_long_inputs():
    model, res = compile_graph(CGAN_G)
    assert model.input_ids == ["noise", "label"] == res.input_ids
    assert model.input_dtypes == ["float", "long"] and model.input_shapes == [(64,), ()]
    noise, label = model.example_inputs(5)
    assert label.dtype == torch.long and int(label.max()) < 10
    assert res.node("cat").output_shape == (80,) and res.node("cat").inputs == ("noise", "emb")
    with pytest.raises(TypeError, match="takes 2 input"):
        model(noise)


def test_topological_order_is_stable():
    res = analyze(g([("out", "Output", {}), ("b", "ReLU", {}), ("x", "Input", {"shape": [4]}), ("a", "Tanh", {}),
                     ("add", "Add", {})],
                    [["x", "a"], ["x", "b"], ["a", "add"], ["b", "add"], ["add", "out"]]))
    assert res.ok
    assert [n.id for n in res.nodes] == ["x", "b", "a", "add", "out"]


def test_linear_and_conv_counts_exact():
    res = analyze(chain(("x", "Input", {"shape": [1, 28, 28]}),
                        ("c1", "Conv2d", {"out_channels": 8, "kernel_size": 3}),
                        ("f", "Flatten", {}), ("fc", "Linear", {"out_features": 10}), ("out", "Output", {})))
    c1, fc = res.node("c1"), res.node("fc")
    assert c1.output_shape == (8, 26, 26)
    assert (c1.params, c1.macs) == (8 * 1 * 9 + 8, 8 * 26 * 26 * 9)
    assert fc.output_shape == (10,) and (fc.params, fc.macs) == (5408 * 10 + 10, 5408 * 10)
    assert res.total_params == 80 + 54090 and res.total_macs == 48672 + 54080
    j = res.to_json()
    assert j["ok"] and j["total_params"] == 54170 and j["nodes"][1] == {
        "id": "c1", "type": "Conv2d", "inputs": ["x"], "output_shape": [8, 26, 26], "params": 80, "macs": 48672}


def test_macs_agree_with_torch_flop_counter():
    """Our formulas vs torch.utils.flop_counter (FLOPs = 2 x MACs) for matmul-heavy layers."""
    from torch.utils.flop_counter import FlopCounterMode

    graph = chain(("x", "Input", {"shape": [3, 12, 12]}),
                  ("c", "Conv2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "groups": 1}),
                  ("f", "Flatten", {}), ("r", "Reshape", {"shape": [5, 20]}),
                  ("att", "MultiheadAttention", {"num_heads": 4}), ("fc", "Linear", {"out_features": 6}),
                  ("out", "Output", {}))
    model, res = compile_graph(graph)
    model.train()  # eval-mode attention takes a fused fast path the counter does not see
    with FlopCounterMode(display=False) as counter:
        model(*model.example_inputs(1))
    flops = {k.rpartition(".")[2]: sum(v.values()) for k, v in counter.get_flop_counts().items()}
    assert flops["c"] == 2 * res.node("c").macs == 2 * 4 * 5 * 5 * 27
    assert flops["fc"] == 2 * res.node("fc").macs
    # the counter sees the 4 projections but not the CPU attention kernel (scores + weighted sum: 2 L^2 E)
    assert flops["att"] == 2 * (res.node("att").macs - 2 * 5 * 5 * 20)


def _errors(graph) -> dict[str | None, list[str]]:
    res = analyze(graph)
    out: dict[str | None, list[str]] = {}
    for e in res.errors:
        out.setdefault(e.node, []).append(e.message)
    return out


def test_all_errors_reported_at_once():
    bad = g(
        [("x", "Input", {"shape": [1, 28, 28]}),
         ("c1", "Conv2d", {"out_channels": 16, "padding": 1}),
         ("c2", "Conv2d", {"out_channels": 8, "padding": 1}),
         ("add", "Add", {}),                     # shape mismatch [16,28,28] vs [8,28,28]
         ("after", "ReLU", {}),                  # downstream of an error: no shape, no error
         ("k", "Conv2d", {"kernel_size": 0}),    # bad param
         ("w", "Wobble", {}),                    # unknown type
         ("lonely", "Linear", {}),               # missing input
         ("forward", "ReLU", {}),                # reserved id
         ("o", "Output", {})],
        [["x", "c1"], ["x", "c2"], ["c1", "add"], ["c2", "add"], ["add", "after"], ["after", "o"],
         ["x", "k"], ["x", "w"], ["x", "forward"], ["ghost", "o"]],
    )
    res = analyze(bad)
    assert not res.ok
    errs = _errors(bad)
    assert "got [16, 28, 28] and [8, 28, 28]" in errs["add"][0]
    assert "after" not in errs and res.node("after").output_shape is None
    assert errs["k"][0] == "must be >= 1" and res.errors_for("k")[0].param == "kernel_size"
    assert "unknown layer type 'Wobble'" in errs["w"][0]
    assert any("needs exactly 1 input" in m for m in errs["lonely"])
    assert any("clashes with a PyTorch module attribute" in m for m in errs["forward"])
    assert any("unknown node 'ghost'" in m for m in errs["o"])
    with pytest.raises(CompileError) as exc:
        compile_graph(bad)
    assert {e.node for e in exc.value.errors} >= {"add", "k", "w", "lonely", "forward", "o"}


def test_cycle_named():
    cyc = g([("x", "Input", {"shape": [4]}), ("a", "Linear", {"out_features": 4}), ("b", "ReLU", {}),
             ("add", "Add", {}), ("out", "Output", {})],
            [["x", "add"], ["add", "a"], ["a", "b"], ["b", "add"], ["b", "out"]])
    errs = _errors(cyc)
    assert set(errs) == {"add", "a", "b"}
    assert all("cycle (a -> b -> add -> a)" in errs[n][0] for n in ("a", "b", "add"))
    assert analyze(cyc).node("out").output_shape is None and "out" not in errs


def test_structure_errors():
    assert _errors(chain(("a", "ReLU", {}), ("o", "Output", {})))[None] == [
        "the graph has no Input node: add one to say what shape the data has"]
    res = analyze(chain(("x", "Input", {"shape": [3]}), ("a", "ReLU", {})))
    assert [e.message for e in res.errors if e.node is None] == [
        "the graph has no Output node: connect the last layer to an Output"]
    two = g([("x", "Input", {"shape": [3]}), ("o1", "Output", {}), ("o2", "Output", {})],
            [["x", "o1"], ["x", "o2"]])
    assert list(_errors(two)) == ["o2"]
    many = g([("x", "Input", {"shape": [3]}), ("y", "Input", {"shape": [3]}), ("r", "ReLU", {}),
              ("o", "Output", {})], [["x", "r"], ["y", "r"], ["r", "o"]])
    assert "takes 1 input, but 2 are connected (x, y)" in _errors(many)["r"][0]
    into_input = g([("x", "Input", {"shape": [3]}), ("y", "Input", {"shape": [3]}), ("o", "Output", {})],
                   [["x", "y"], ["y", "o"]])
    assert "takes no inputs" in _errors(into_input)["y"][0]
    assert [str(e) for e in analyze({"nodes": [], "edges": []}).errors] == [
        "the graph is empty: add an Input, your layers and an Output"]
    dup = g([("x", "Input", {"shape": [3]}), ("x", "ReLU", {}), ("o", "Output", {})], [["x", "o"], ["x", "o"]])
    errs = _errors(dup)
    assert any("duplicate node id" in m for m in errs["x"]) and any("listed twice" in m for m in errs["o"])


def test_dtype_errors():
    bad = chain(("lab", "Input", {"shape": [], "dtype": "long"}), ("fc", "Linear", {}), ("o", "Output", {}))
    assert "Embedding first" in _errors(bad)["fc"][0]
    bad2 = chain(("x", "Input", {"shape": [4]}), ("e", "Embedding", {}), ("o", "Output", {}))
    assert "indices" in _errors(bad2)["e"][0]


def test_dangling_is_a_warning():
    graph = g([("x", "Input", {"shape": [4]}), ("a", "ReLU", {}), ("side", "Linear", {"out_features": 3}),
               ("o", "Output", {})], [["x", "a"], ["a", "o"], ["x", "side"]])
    res = analyze(graph)
    assert res.ok and [(e.node, e.level) for e in res.errors] == [("side", "warning")]
    assert "not connected to the Output" in res.errors[0].message
    model, res = compile_graph(graph)
    assert "side" not in dict(model.named_children()) and res.total_params == 0
    assert not res.node("side").connected and res.node("side").params == 15


def test_bad_documents_do_not_raise():
    res = analyze({"nodes": [{"id": "9bad", "type": "ReLU"}], "edges": []})
    assert not res.ok and isinstance(res, CompileResult) and res.errors[0].node == "9bad"
    assert not analyze({"nodes": "nope"}).ok
    assert str(NodeError("c1", "too big")) == "c1: too big"


def test_accepts_graphspec_and_graph_path():
    res = analyze(GraphSpec.model_validate(MLP), "models.generator")
    assert res.ok and res.graph == "models.generator" and res.output_id == "out"
    bad = analyze(chain(("x", "Input", {"shape": [3]}), ("a", "Conv2d", {}), ("o", "Output", {})), "models.encoder")
    assert bad.errors[0].graph == "models.encoder"
    assert "Conv2d needs a [channels, height, width] input, got [3]" in bad.errors[0].message


def test_export_friendly():
    model, _ = compile_graph(CGAN_G)
    model.eval()
    ep = torch.export.export(model, model.example_inputs(2))
    xs = model.example_inputs(2)
    assert torch.allclose(ep.module()(*xs), model(*xs))
