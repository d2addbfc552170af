"""Layers that join branches of a graph: Add, Multiply, Concat. Pure Python."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import LayerSpec, Param, Shape, ShapeError, register, shape_str

MOD = "engine.layers.modules"


def _same_infer(t: str):
    def infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
        first = tuple(s[0])
        for other in s[1:]:
            if tuple(other) != first:
                raise ShapeError(
                    f"{t} needs inputs of identical shape, got {shape_str(first)} and {shape_str(other)}; "
                    "change a layer so both branches produce the same shape",
                    kind="shape_mismatch",
                )
        return first

    return infer


register(LayerSpec(
    type="Add",
    category="merge",
    doc="Adds its inputs elementwise. Used for residual ('skip') connections: x + layer(x) lets very deep "
        "networks train. All inputs must have exactly the same shape.",
    params=(),
    infer=_same_infer("Add"),
    construct=lambda s, p: (f"{MOD}.Add", {}),
    min_inputs=2,
    max_inputs=None,
    example_in=((4, 3), (4, 3)),
))

register(LayerSpec(
    type="Multiply",
    category="merge",
    doc="Multiplies its inputs elementwise, e.g. to gate one branch by another (values from a Sigmoid act "
        "like dimmer switches). All inputs must have exactly the same shape.",
    params=(),
    infer=_same_infer("Multiply"),
    construct=lambda s, p: (f"{MOD}.Multiply", {}),
    min_inputs=2,
    max_inputs=None,
    example_in=((4, 3), (4, 3)),
))


def _concat_infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    first = tuple(s[0])
    rank = len(first)
    dim = p["dim"]
    for other in s[1:]:
        if len(other) != rank:
            raise ShapeError(f"Concat needs inputs with the same number of dims, got {shape_str(first)} and "
                             f"{shape_str(other)}")
    if rank == 0:
        raise ShapeError("Concat cannot join scalars []; give each input at least one dimension")
    if not -rank <= dim < rank:
        raise ShapeError(f"Concat dim={dim} is out of range for {rank}-d inputs like {shape_str(first)} "
                         f"(use 0..{rank - 1}, or -1..-{rank}; the batch is not counted)")
    d = dim % rank
    total = 0
    for other in s:
        for i, (a, b) in enumerate(zip(first, other)):
            if i != d and a != b:
                raise ShapeError(
                    f"Concat along dim {dim} needs all other sizes equal, got {shape_str(first)} and "
                    f"{shape_str(other)}"
                )
        total += other[d]
    return (*first[:d], total, *first[d + 1:])


register(LayerSpec(
    type="Concat",
    category="merge",
    doc="Joins its inputs side by side along `dim` (counted without the batch: 0 = channels of an image, or "
        "the features of a vector; -1 = last). Combines parallel branches, or a noise vector with a label "
        "embedding in a conditional GAN. All other sizes must match.",
    params=(Param("dim", "int", 0, "dim to join along, without the batch (0 = first, -1 = last)"),),
    infer=_concat_infer,
    construct=lambda s, p: (f"{MOD}.Concat", {"dim": p["dim"]}),
    min_inputs=2,
    max_inputs=None,
    example_in=((2, 4, 4), (3, 4, 4)),
))
