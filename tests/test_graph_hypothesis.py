"""Random graphs (and mutations of valid ones): analyze never crashes, errors point at real nodes, and
whatever compiles runs with exactly the inferred shapes and parameter counts."""

from __future__ import annotations

from collections import Counter

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.graph import analyze, compile_graph
from engine.graph.codegen import python_source
from engine.layers import ShapeError, all_layers

LAYERS = [s for s in all_layers() if s.category != "io"]
INPUT_SHAPES = [[], [5], [6], [3, 4], [4, 6], [2, 5, 5], [1, 6, 6], [3, 4, 5], [2, 3, 4, 2]]
SMALL = {  # keep tensors tiny
    "out_features": (1, 6), "out_channels": (1, 6), "hidden_size": (1, 5), "num_layers": (1, 2),
    "dim_feedforward": (1, 8), "num_embeddings": (1, 6), "embedding_dim": (1, 5), "num_heads": (1, 3),
    "nhead": (1, 3), "kernel_size": (1, 4), "stride": (1, 3), "padding": (0, 2), "dilation": (1, 2),
    "groups": (1, 2), "output_padding": (0, 2), "output_size": (1, 4), "scale_factor": (1, 3),
}
BAD_VALUES = [0, -5, "three", 2.5, None, [1, 2, 3], True, 10**9]


def param_value(p):
    if p.kind == "bool":
        return st.booleans()
    if p.kind == "choice":
        return st.sampled_from(p.choices)
    if p.kind == "float":
        lo = 0.0 if p.min is None else float(p.min)
        hi = 1.0 if p.max is None else min(float(p.max), 1.0)
        return st.sampled_from([lo, hi, (lo + hi) / 2])
    if p.kind in ("int", "int_or_pair"):
        lo, hi = SMALL.get(p.name, (-3, 3))
        if p.min is not None:
            lo = max(lo, int(p.min))
        one = st.integers(lo, max(lo, hi))
        return st.one_of(one, st.lists(one, min_size=2, max_size=2)) if p.kind == "int_or_pair" else one
    if p.kind == "shape":
        size = st.sampled_from([-1, 1, 2, 3, 4, 6, 12]) if p.allow_infer else st.integers(1, 6)
        return st.lists(size, min_size=0 if (p.allow_infer or p.allow_empty) else 1, max_size=3)
    return st.text(max_size=3)


@st.composite
def layer_params(draw, spec):
    params = {}
    for p in spec.params:
        if draw(st.booleans()):
            params[p.name] = draw(param_value(p))
    return params


def _fits(spec, params, in_shapes, in_dtypes):
    """Would this node type check on these inputs? (Used to bias the generator towards valid graphs.)"""
    if spec.validate(params) or any(sh is None for sh in in_shapes):
        return None
    if spec.in_dtype != "any" and any(d != spec.in_dtype for d in in_dtypes):
        return None
    try:
        out = spec.infer(in_shapes, spec.resolve(params))
    except ShapeError:
        return None
    dtype = in_dtypes[0] if spec.in_dtype == "any" else "float"
    return tuple(out), dtype


@st.composite
def graphs(draw):
    n_inputs = draw(st.integers(1, 2))
    nodes, edges = [], []
    shapes, dtypes = {}, {}
    for i in range(n_inputs):
        dtype = draw(st.sampled_from(["float", "float", "float", "long"]))
        shape = draw(st.sampled_from(INPUT_SHAPES if dtype == "float" else [[], [4]]))
        nodes.append({"id": f"in{i}", "type": "Input", "params": {"shape": shape, "dtype": dtype}})
        shapes[f"in{i}"], dtypes[f"in{i}"] = tuple(shape), dtype
    for i in range(draw(st.integers(1, 6))):
        nid = f"n{i}"
        earlier = [n["id"] for n in nodes]
        for _attempt in range(6):  # retry a few times for a node that fits; keep the last one anyway
            spec = draw(st.sampled_from(LAYERS))
            params = draw(layer_params(spec))
            first = earlier[-1] if draw(st.booleans()) else draw(st.sampled_from(earlier))
            srcs = [first]
            if spec.max_inputs is None:
                for _ in range(draw(st.integers(1, 2))):
                    same = [e for e in earlier if e not in srcs and shapes.get(e) == shapes.get(first)]
                    pool = same if same and draw(st.booleans()) else [e for e in earlier if e not in srcs]
                    if pool:
                        srcs.append(draw(st.sampled_from(pool)))
            fit = _fits(spec, params, [shapes.get(x) for x in srcs], [dtypes.get(x) for x in srcs])
            if fit is not None:
                break
        nodes.append({"id": nid, "type": spec.type, "params": params})
        edges.extend([x, nid] for x in srcs)
        if fit is not None:
            shapes[nid], dtypes[nid] = fit
    nodes.append({"id": "out", "type": "Output", "params": {}})
    edges.append([nodes[-2]["id"], "out"])
    graph = {"nodes": nodes, "edges": edges}
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        mutate(draw, graph)
    return graph


def mutate(draw, graph):
    nodes, edges = graph["nodes"], graph["edges"]
    kind = draw(st.sampled_from(["del_edge", "bad_param", "cycle", "dup_node", "ghost_edge", "reserved",
                                 "unknown_type", "extra_edge", "extra_output", "del_node", "unknown_param"]))
    ids = [n["id"] for n in nodes]
    if kind == "del_edge" and edges:
        edges.pop(draw(st.integers(0, len(edges) - 1)))
    elif kind == "bad_param":
        node = draw(st.sampled_from(nodes))
        spec = next((s for s in LAYERS if s.type == node["type"]), None)
        if spec and spec.params:
            node["params"][draw(st.sampled_from(spec.params)).name] = draw(st.sampled_from(BAD_VALUES))
    elif kind == "cycle" and len(edges) >= 1:
        a, b = draw(st.sampled_from(edges))
        edges.append([b, a] if draw(st.booleans()) else [b, b])
    elif kind == "dup_node":
        nodes.append(dict(draw(st.sampled_from(nodes)), params={}))
    elif kind == "ghost_edge":
        edges.append([draw(st.sampled_from(ids)), "ghost"] if draw(st.booleans()) else ["ghost", draw(st.sampled_from(ids))])
    elif kind == "reserved":
        node = draw(st.sampled_from(nodes))
        new = draw(st.sampled_from(["forward", "training", "_modules", "to", "steps"]))
        old, node["id"] = node["id"], new
        graph["edges"] = [[new if x == old else x for x in e] for e in edges]
    elif kind == "unknown_type":
        draw(st.sampled_from(nodes))["type"] = "Conv7d"
    elif kind == "extra_edge":
        a, b = draw(st.sampled_from(ids)), draw(st.sampled_from(ids))
        if [a, b] not in edges:
            edges.append([a, b])
    elif kind == "extra_output":
        nodes.append({"id": "out2", "type": "Output", "params": {}})
        edges.append([draw(st.sampled_from(ids)), "out2"])
    elif kind == "del_node":
        victim = draw(st.sampled_from(ids))
        graph["nodes"] = [n for n in nodes if n["id"] != victim]
    elif kind == "unknown_param":
        draw(st.sampled_from(nodes))["params"]["wobble"] = 1


def _check(graph):
    res = analyze(graph)
    ids = {n["id"] for n in graph["nodes"]}
    for e in res.errors:
        assert e.node is None or e.node in ids, e
        assert "internal error" not in e.message, e
        assert e.message
    if not res.ok:
        assert any(e.level == "error" for e in res.errors)
        return res, None
    model, res2 = compile_graph(graph)
    assert res2.to_json() == res.to_json()
    model.train()
    seen = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: seen.__setitem__(n, tuple(o.shape)))
             for n, m in model.named_children()]
    y = model(*model.example_inputs(2))
    for h in hooks:
        h.remove()
    assert tuple(y.shape) == (2, *model.output_shape)
    for n, shape in seen.items():
        assert (2, *res.node(n).output_shape) == shape, (n, res.node(n), shape)
    assert res.total_params == sum(p.numel() for p in model.parameters())
    # the generated PyTorch class loads the same weights and computes the same outputs
    ns: dict = {}
    exec(compile(python_source(graph, class_name="Generated"), "<generated>", "exec"), ns)  # our own output
    gen = ns["Generated"]()
    gen.load_state_dict(model.state_dict(), strict=True)
    model.eval()
    gen.eval()
    xs = model.example_inputs(2)
    with torch.no_grad():
        assert torch.equal(model(*xs), gen(*xs))
    return res, model


def test_random_graphs():
    """500 random graphs; the generator is not degenerate: plenty compile and plenty fail."""
    outcomes: Counter[bool] = Counter()

    @settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(graphs())
    def check(graph):
        torch.manual_seed(0)
        res, _ = _check(graph)
        outcomes[res.ok] += 1

    check()
    assert outcomes[True] >= 100 and outcomes[False] >= 100, outcomes
