"""Build a clean analysis into an ordinary ``nn.Module`` (imports torch; ``analyze`` does not).

``GraphModule`` registers one submodule per node under the node's id, so parameter names read
``c1.weight``; a ``Block`` node is a nested ``GraphModule`` (``res1.c1.weight``). Every forward is
free of data-dependent Python control flow, so ``torch.export`` and ONNX export can trace it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..layers import get_layer
from ..project import GraphSpec
from .analyze import CompileError, CompileResult, NodeError, _as_graph, analyze


def compile_graph(graph: GraphSpec | dict, graph_path: str = "model", *,
                  blocks: dict[str, GraphSpec] | None = None) -> tuple[GraphModule, CompileResult]:
    """Analyze and build; raises ``CompileError`` (listing every problem) if the graph is not ok."""
    result = analyze(graph, graph_path, blocks=blocks)
    if not result.ok:
        raise CompileError(result.errors, graph_path)
    spec_graph, _ = _as_graph(graph, graph_path)
    assert spec_graph is not None
    return GraphModule(spec_graph, result, blocks), result


def compile_project_graph(project: Any, graph_path: str = "model") -> tuple[GraphModule, CompileResult]:
    """``compile_graph`` for one graph of a project (its blocks included)."""
    return compile_graph(project.graph_at(graph_path), graph_path, blocks=project.blocks)


def _index_bound(input_id: str, spec_graph: GraphSpec) -> int:
    """Largest valid index + 1 for a long Input: min num_embeddings over the Embeddings it feeds."""
    succ: dict[str, list[str]] = {}
    for a, b in spec_graph.edge_pairs():
        succ.setdefault(a, []).append(b)
    bound: int | None = None
    stack, seen = [input_id], set()
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        for w in succ.get(v, []):
            n = spec_graph.node(w)
            if n is None:
                continue
            spec = get_layer(n.type)
            if n.type == "Embedding" and spec is not None:
                num = spec.resolve(n.params)["num_embeddings"]
                bound = num if bound is None else min(bound, num)
            elif spec is not None and spec.in_dtype == "any":
                stack.append(w)
    return bound if bound is not None else 2


class GraphModule(nn.Module):
    """A compiled graph: an ordinary ``nn.Module`` with one submodule per node, named by node id.

    ``forward(*inputs)`` takes one tensor per Input node (``input_ids`` order: the Input nodes'
    document order) and returns the Output node's tensor. Build it with ``engine.graph.compile_graph``.
    """

    def __init__(self, spec_graph: GraphSpec, result: CompileResult, blocks: dict[str, GraphSpec] | None = None):
        super().__init__()
        self.input_ids: list[str] = list(result.input_ids)
        self.output_id: str = result.output_id or ""
        info = {i.id: i for i in result.nodes}
        self.input_shapes: list[tuple[int, ...]] = [tuple(info[i].output_shape or ()) for i in self.input_ids]
        self.input_dtypes: list[str] = [info[i].dtype or "float" for i in self.input_ids]
        self.output_shape: tuple[int, ...] = tuple(info[self.output_id].output_shape or ())
        nodes = {n.id: n for n in spec_graph.nodes}
        steps: list[tuple[str, tuple[str, ...], bool]] = []
        for i in result.nodes:
            if not i.connected or i.type == "Input":
                continue
            spec = get_layer(i.type)
            assert spec is not None
            if i.type == "Block":
                assert i.inner is not None and blocks is not None
                name = nodes[i.id].params["block"]
                module = GraphModule(blocks[name], i.inner, blocks)
            else:
                module = spec.build(list(i.in_shapes), spec.resolve(nodes[i.id].params))
            if module is not None:
                if hasattr(self, i.id):
                    raise CompileError(
                        [NodeError(i.id, f"node id {i.id!r} clashes with a module attribute; rename it", result.graph)],
                        result.graph,
                    )
                self.add_module(i.id, module)
            steps.append((i.id, tuple(i.inputs), module is not None))
        self.steps = steps
        self.node_ids: list[str] = [i.id for i in result.nodes if i.connected]
        # long (index) inputs: the smallest num_embeddings they reach bounds valid example indices
        self.input_high: list[int] = [_index_bound(i, spec_graph) for i in self.input_ids]

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if len(inputs) != len(self.input_ids):
            raise TypeError(
                f"this model takes {len(self.input_ids)} input(s) ({', '.join(self.input_ids)}), got {len(inputs)}"
            )
        values: dict[str, torch.Tensor] = dict(zip(self.input_ids, inputs))
        for nid, srcs, has_module in self.steps:
            if has_module:
                values[nid] = self._modules[nid](*[values[s] for s in srcs])
            else:
                values[nid] = values[srcs[0]]
        return values[self.output_id]

    def example_inputs(self, batch: int = 2, device: Any = None) -> tuple[torch.Tensor, ...]:
        """Random inputs that fit: standard-normal floats, valid indices for long inputs."""
        out = []
        for shape, dtype, high in zip(self.input_shapes, self.input_dtypes, self.input_high):
            if dtype == "long":
                out.append(torch.randint(0, high, (batch, *shape), device=device))
            else:
                out.append(torch.randn(batch, *shape, device=device))
        return tuple(out)

    def extra_repr(self) -> str:
        return f"inputs={self.input_ids}, output={self.output_id!r}"
