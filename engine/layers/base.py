"""The layer registry's vocabulary: one ``LayerSpec`` per layer type.

A spec is data (name, category, learner docs, typed params) plus two functions:
``infer(in_shapes, params) -> out_shape`` and ``construct(in_shapes, params) -> (target, kwargs)``.
``construct`` names the class to instantiate (``"torch.nn.Conv2d"`` or a class in
``engine.layers.modules``) with its keyword arguments, so the same declaration drives the
compiler (which instantiates it) and the Python code generator (which writes it out).

Shapes never include the batch dimension.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """Raised by ``infer`` when the inputs do not fit the layer; the message is for learners.

    ``kind`` names the kind of mismatch (``"shape_mismatch"``, ...) so one-click fixes can find it."""

    def __init__(self, message: str, kind: str = ""):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Param:
    """One typed, documented layer parameter.

    kind: ``int``, ``float``, ``bool``, ``choice``, ``int_or_pair`` (an int or a list of 2 ints),
    ``shape`` (a list of positive ints; -1 allowed once where ``allow_infer``), ``str``.
    """

    name: str
    kind: str
    default: Any
    doc: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()
    required: bool = False
    allow_infer: bool = False  # shape params: a single -1 may be inferred
    allow_empty: bool = False  # shape params: [] is allowed (a scalar per sample, e.g. a class label)

    def check(self, value: Any) -> str | None:
        """Return a message if ``value`` is not valid for this param, else ``None``."""
        k = self.kind
        if k == "bool":
            return None if isinstance(value, bool) else "must be true or false"
        if k == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return "must be a whole number"
            return self._range(value)
        if k == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return "must be a number"
            return self._range(value)
        if k == "choice":
            return None if value in self.choices else f"must be one of {', '.join(map(str, self.choices))}"
        if k == "str":
            return None if isinstance(value, str) else "must be text"
        if k == "int_or_pair":
            vals = value if isinstance(value, (list, tuple)) else [value]
            if isinstance(value, (list, tuple)) and len(value) != 2:
                return "must be a whole number or a pair of whole numbers"
            for v in vals:
                if isinstance(v, bool) or not isinstance(v, int):
                    return "must be a whole number or a pair of whole numbers"
                msg = self._range(v)
                if msg:
                    return msg
            return None
        if k == "shape":
            if not isinstance(value, (list, tuple)) or (not value and not (self.allow_infer or self.allow_empty)):
                return "must be a list of sizes, e.g. [1, 28, 28]"
            infer = 0
            for v in value:
                if isinstance(v, bool) or not isinstance(v, int):
                    return "must be a list of whole numbers"
                if v == -1 and self.allow_infer:
                    infer += 1
                elif v < 1:
                    return "sizes must be >= 1" + (" (or one -1 to infer)" if self.allow_infer else "")
            if infer > 1:
                return "only one size may be -1"
            return None
        return f"unknown param kind {k!r}"  # pragma: no cover - programming error

    def _range(self, v: float) -> str | None:
        if self.min is not None and v < self.min:
            return f"must be >= {_fmt(self.min)}"
        if self.max is not None and v > self.max:
            return f"must be <= {_fmt(self.max)}"
        return None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "default": self.default, "doc": self.doc}
        if self.min is not None:
            d["min"] = self.min
        if self.max is not None:
            d["max"] = self.max
        if self.choices:
            d["choices"] = list(self.choices)
        if self.required:
            d["required"] = True
        if self.allow_infer:
            d["allow_infer"] = True
        if self.allow_empty:
            d["allow_empty"] = True
        return d


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


InferFn = Callable[[Sequence[Shape], dict[str, Any]], Shape]
ConstructFn = Callable[[Sequence[Shape], dict[str, Any]], tuple[str, dict[str, Any]]]
# (in_shapes, out_shape, params) -> (learnable parameter count, multiply-accumulates for a batch of 1)
CountFn = Callable[[Sequence[Shape], Shape, dict[str, Any]], tuple[int, int]]


def _no_cost(in_shapes: Sequence[Shape], out_shape: Shape, params: dict[str, Any]) -> tuple[int, int]:
    return 0, 0


@dataclass(frozen=True)
class LayerSpec:
    type: str  # torch.nn class name where one exists
    category: str  # core | conv | recurrent | attention | merge | io
    doc: str  # plain-language explanation for learners
    params: tuple[Param, ...]
    infer: InferFn
    construct: ConstructFn | None  # None: no module (Input/Output are handled by the compiler)
    min_inputs: int = 1
    max_inputs: int | None = 1  # None: any number (Add, Concat)
    tags: tuple[str, ...] = field(default_factory=tuple)
    count: CountFn = _no_cost  # parameter count and MACs from shapes (pure Python, no tensors)
    in_dtype: str = "float"  # what the inputs must hold: "float", "long" (indices) or "any" (passes through)
    example_in: tuple[Shape, ...] = ((4, 6),)  # input shapes that fit the defaults (tests, docs)

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """User params merged over defaults (no validation)."""
        out = {p.name: p.default for p in self.params}
        out.update(params)
        return out

    def validate(self, params: dict[str, Any]) -> list[tuple[str, str]]:
        """Problems as ``(param_name, message)``; unknown names are problems too."""
        errs: list[tuple[str, str]] = []
        if not isinstance(params, dict):
            return [("", "params must be an object")]
        known = {p.name for p in self.params}
        for name in params:
            if name not in known:
                hint = f" (known: {', '.join(sorted(known))})" if known else " (this layer takes no params)"
                errs.append((name, f"unknown parameter{hint}"))
        for p in self.params:
            if p.name not in params:
                if p.required:
                    errs.append((p.name, "is required"))
                continue
            msg = p.check(params[p.name])
            if msg:
                errs.append((p.name, msg))
        return errs

    def build(self, in_shapes: Sequence[Shape], params: dict[str, Any]):
        """Instantiate the ``nn.Module`` (params already resolved and valid)."""
        if self.construct is None:
            return None
        target, kwargs = self.construct(in_shapes, params)
        return resolve_target(target)(**kwargs)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "category": self.category,
            "doc": self.doc,
            "inputs": {"min": self.min_inputs, "max": self.max_inputs},
            "input_dtype": self.in_dtype,
            "params": [p.to_json() for p in self.params],
        }


def resolve_target(target: str):
    """``"torch.nn.Conv2d"`` -> the class. Only torch.nn and engine.layers.modules are allowed."""
    module_name, _, attr = target.rpartition(".")
    if module_name not in ("torch.nn", "engine.layers.modules"):
        raise ValueError(f"layer target {target!r} is outside torch.nn and engine.layers.modules")
    return getattr(importlib.import_module(module_name), attr)


REGISTRY: dict[str, LayerSpec] = {}


def register(spec: LayerSpec) -> LayerSpec:
    if spec.type in REGISTRY:
        raise ValueError(f"layer type {spec.type!r} registered twice")
    REGISTRY[spec.type] = spec
    return spec


# ---------------------------------------------------------------------------------------------
# helpers shared by the category modules (pure Python)


def shape_str(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def numel(shape: Sequence[int]) -> int:
    return math.prod(shape)


def pair(v: int | Sequence[int]) -> tuple[int, int]:
    """An ``int_or_pair`` param as ``(h, w)``."""
    if isinstance(v, (list, tuple)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def one(in_shapes: Sequence[Shape]) -> Shape:
    return tuple(in_shapes[0])


def need_rank(type_name: str, shape: Shape, ranks: Sequence[int], what: str) -> None:
    """Raise a learner-friendly ``ShapeError`` unless ``len(shape)`` is one of ``ranks``."""
    if len(shape) not in ranks:
        raise ShapeError(f"{type_name} needs a {what} input, got {shape_str(shape)}")


def batched_dim(type_name: str, dim: int, rank: int, param: str = "dim") -> int:
    """Check a torch-style ``dim`` (counted WITH the batch dim) against an unbatched rank; return it unbatched.

    The batch dim itself (0) is not allowed. Negative dims count from the end.
    """
    full = rank + 1
    if not -full <= dim < full:
        raise ShapeError(
            f"{type_name} {param}={dim} is out of range for a {rank}-d input (use 1..{rank} or -1..-{rank}; "
            "dim 0 is the batch)"
        )
    d = dim % full
    if d == 0:
        raise ShapeError(f"{type_name} {param}={dim} would work across the batch; use 1..{rank} or a negative dim")
    return d - 1


def conv_out(size: int, k: int, s: int, p: int, d: int = 1) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1
