"""``Block``: a node that stands for a reusable sub-graph (a block definition in ``project.blocks``).

Its shapes, counts and module come from the definition's own graph, so ``engine.graph.analyze`` and
``build`` handle it; this declaration gives the palette, the inspector and ``layerlab layers`` its
name, explanation and parameter. Pure Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import LayerSpec, Param, Shape, ShapeError, register


def _by_graph(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    raise ShapeError("a Block's shape comes from its graph (engine.graph.analyze handles Block nodes)")


register(LayerSpec(
    type="Block",
    category="blocks",
    doc=(
        "A reusable group of layers, like a small network inside the network (a residual block, a "
        "Conv-BN-ReLU stack). Its inside is a graph of its own with Input nodes (one per connection into the "
        "block, in port order) and one Output. Every Block node that uses the same definition has its own "
        "weights; editing the definition changes them all. Compiles to a nested module (res1.c1.weight)."
    ),
    params=(Param("block", "str", "", "the name of the block definition (project.blocks)", required=True),),
    infer=_by_graph,
    construct=None,
    min_inputs=1,
    max_inputs=None,
    in_dtype="any",
    example_in=(),
))
