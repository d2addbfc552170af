"""Layers that mobile networks (MobileNetV3 and friends) need: hard activations and a channel gate.

Declared so torchvision's ``mobilenet_v3_small`` imports into a graph of registry layers. Pure Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import LayerSpec, Shape, ShapeError, register, shape_str

MOD = "engine.layers.modules"


def _one(s: Sequence[Shape]) -> Shape:
    return tuple(s[0])


register(LayerSpec(
    type="Hardswish",
    category="core",
    doc="Hard swish, x * relu6(x + 3) / 6: a cheap, piecewise-linear swish used by MobileNetV3 on phones.",
    params=(),
    infer=lambda s, p: _one(s),
    construct=lambda s, p: ("torch.nn.Hardswish", {}),
    example_in=((10,), (2, 4, 4)),
))

register(LayerSpec(
    type="Hardsigmoid",
    category="core",
    doc="Hard sigmoid, relu6(x + 3) / 6: a cheap, piecewise-linear sigmoid (values in [0, 1]), e.g. the gate of a "
        "squeeze-and-excitation block.",
    params=(),
    infer=lambda s, p: _one(s),
    construct=lambda s, p: ("torch.nn.Hardsigmoid", {}),
    example_in=((10,), (2, 4, 4)),
))


def _scale_infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    if len(s) != 2:
        raise ShapeError(f"Scale takes two inputs (the tensor, then its gate), got {len(s)}", kind="inputs")
    x, g = tuple(s[0]), tuple(s[1])
    ok = len(g) == len(x) and all(b in (1, a) for a, b in zip(x, g))
    if not ok:
        raise ShapeError(f"Scale multiplies its first input {shape_str(x)} by a gate that must broadcast to it "
                         f"(each size equal or 1, e.g. [C, 1, 1]); got {shape_str(g)}", kind="shape_mismatch")
    return x


register(LayerSpec(
    type="Scale",
    category="merge",
    doc="Multiplies its first input by its second, a gate that broadcasts over it (e.g. one weight per "
        "channel, shape [C, 1, 1]): the 'excitation' of a squeeze-and-excitation block.",
    params=(),
    infer=_scale_infer,
    construct=lambda s, p: (f"{MOD}.Multiply", {}),
    min_inputs=2,
    max_inputs=2,
    example_in=((4, 3, 3), (4, 1, 1)),
))
