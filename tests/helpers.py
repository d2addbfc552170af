"""Small graph builders shared by the tests (pytest puts this folder on sys.path)."""

from __future__ import annotations

from typing import Any


def chain(*specs: tuple[str, str, dict[str, Any]]) -> dict:
    """A linear graph document from ``(id, type, params)`` triples, each wired to the next."""
    nodes = [{"id": i, "type": t, "params": p} for i, t, p in specs]
    return {"nodes": nodes, "edges": [[a["id"], b["id"]] for a, b in zip(nodes, nodes[1:])]}


def linear_graph(out: int = 10) -> dict:
    """Input [1, 28, 28] -> Flatten -> Linear(out) -> Output: the smallest digits classifier."""
    return chain(("input", "Input", {"shape": [1, 28, 28]}), ("flat", "Flatten", {}),
                 ("fc", "Linear", {"out_features": out}), ("output", "Output", {}))
