"""The one layer registry: palette, inspector, compiler and code generator all read it.

Each category module declares its layers with ``register(LayerSpec(...))``.
"""

from __future__ import annotations

from . import attention, blocks, conv, core, merge, mobile, recurrent  # noqa: F401  (registration side effects)
from .base import REGISTRY, LayerSpec, Param, Shape, ShapeError, register

CATEGORIES = ("io", "core", "conv", "recurrent", "attention", "merge", "blocks")


def get_layer(type_name: str) -> LayerSpec | None:
    return REGISTRY.get(type_name)


def all_layers() -> list[LayerSpec]:
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return sorted(REGISTRY.values(), key=lambda s: (order.get(s.category, 99), s.type))


__all__ = ["REGISTRY", "CATEGORIES", "LayerSpec", "Param", "Shape", "ShapeError", "register", "get_layer", "all_layers"]
