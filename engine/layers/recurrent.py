"""Recurrent layers (RNN, LSTM, GRU), batch-first, reading a sequence [length, features]. Pure Python."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import LayerSpec, Param, Shape, need_rank, one, register

MOD = "engine.layers.modules"
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _params(extra: tuple[Param, ...] = ()) -> tuple[Param, ...]:
    return (
        Param("hidden_size", "int", 64, "size of the memory vector carried from step to step", min=1, max=65536),
        Param("num_layers", "int", 1, "how many recurrent layers are stacked", min=1, max=16),
        Param("bidirectional", "bool", False, "also read the sequence backwards (doubles the output size)"),
        Param("dropout", "float", 0.0, "dropout between stacked layers (only with num_layers > 1)", min=0, max=1),
        Param("return_sequence", "bool", False,
              "false: only the last step's output [hidden]; true: every step [length, hidden]"),
        Param("bias", "bool", True, "learn offsets in the gates"),
        *extra,
    )


def _infer(t: str):
    def infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
        x = one(s)
        need_rank(t, x, (2,), "[length, features] sequence")
        h = p["hidden_size"] * (2 if p["bidirectional"] else 1)
        return (x[0], h) if p["return_sequence"] else (h,)

    return infer


def _count(t: str):
    def count(s: Sequence[Shape], o: Shape, p: dict[str, Any]) -> tuple[int, int]:
        length, feat = one(s)
        g, h = GATES[t], p["hidden_size"]
        dirs = 2 if p["bidirectional"] else 1
        params = macs = 0
        for layer in range(p["num_layers"]):
            fin = feat if layer == 0 else h * dirs
            per_dir = g * h * (fin + h)
            params += dirs * (per_dir + (2 * g * h if p["bias"] else 0))
            macs += dirs * per_dir * length
        return params, macs

    return count


def _construct(t: str):
    def construct(s: Sequence[Shape], p: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        kw = {"input_size": one(s)[1], **{k: p[k] for k in p}}
        return f"{MOD}.{t}", kw

    return construct


_DOCS = {
    "RNN": "A simple recurrent layer: reads a sequence [length, features] one step at a time, updating a "
           "memory vector. Good for learning the idea; for real work prefer LSTM or GRU, which remember longer.",
    "LSTM": "Long short-term memory: reads a sequence [length, features] step by step with gates that decide "
            "what to remember and forget, so it can learn long-range patterns. Reading a 28x28 digit row by "
            "row (Reshape to [28, 28]) is a classic exercise. `return_sequence` picks last step or all steps.",
    "GRU": "Gated recurrent unit: like an LSTM with fewer gates (faster, fewer parameters) and often just as "
           "accurate. Reads a sequence [length, features]; `return_sequence` picks last step or all steps.",
}

for _t in ("RNN", "LSTM", "GRU"):
    _extra = (Param("nonlinearity", "choice", "tanh", "activation inside the cell", choices=("tanh", "relu")),) \
        if _t == "RNN" else ()
    register(LayerSpec(
        type=_t,
        category="recurrent",
        doc=_DOCS[_t],
        params=_params(_extra),
        infer=_infer(_t),
        construct=_construct(_t),
        count=_count(_t),
        example_in=((6, 5), (3, 2)),
    ))
