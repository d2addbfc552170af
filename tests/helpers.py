"""Small graph builders shared by the tests (pytest puts this folder on sys.path)."""

from __future__ import annotations

from typing import Any


def chain(*specs: tuple[str, str, dict[str, Any]]) -> dict:
    """A linear graph document from ``(id, type, params)`` triples, each wired to the next."""
    nodes = [{"id": i, "type": t, "params": p} for i, t, p in specs]
    return {"nodes": nodes, "edges": [[a["id"], b["id"]] for a, b in zip(nodes, nodes[1:])]}


def relu_chain_project(n: int, cycle: bool = False) -> dict:
    """A project of ``n`` nodes: Input [16] -> n-2 ReLUs -> Output (``cycle``: the last ReLU feeds the first)."""
    specs = [("input", "Input", {"shape": [16]})] + [(f"r{i}", "ReLU", {}) for i in range(n - 2)] + [
        ("output", "Output", {})]
    g = chain(*specs)
    if cycle:
        g["edges"].append([f"r{n - 3}", "r0"])
    return {"format": "layerlab-project", "version": 2, "name": "big", "model": g}


def graph_skeleton(g: Any, drop: tuple[str, ...] = ()) -> tuple[list, list]:
    """A graph's shape for round-trip tests: (type, resolved params) per node in order and (src index,
    dst index, port) per edge, ids ignored, the ``drop`` types taken out and their edges joined through."""
    from engine.layers import get_layer

    keep = [n for n in g.nodes if n.type not in drop]
    index = {n.id: i for i, n in enumerate(keep)}
    feeds = {(e.dst, e.port): e.src for e in g.edges}

    def origin(nid: str) -> int:
        while nid not in index:
            nid = feeds[(nid, 0)]
        return index[nid]

    edges = sorted((origin(e.src), index[e.dst], e.port) for e in g.edges if e.dst in index)
    return [(n.type, get_layer(n.type).resolve(n.params)) for n in keep], edges


def linear_graph(out: int = 10) -> dict:
    """Input [1, 28, 28] -> Flatten -> Linear(out) -> Output: the smallest digits classifier."""
    return chain(("input", "Input", {"shape": [1, 28, 28]}), ("flat", "Flatten", {}),
                 ("fc", "Linear", {"out_features": out}), ("output", "Output", {}))


class CountingJob:
    """A picklable runner job that reports progress N times, sleeping a little between (cancellable)."""

    kind = "counting"

    def __init__(self, n: int = 5, sleep: float = 0.0, fail_at: int | None = None):
        self.n, self.sleep, self.fail_at = n, sleep, fail_at

    def execute(self, ctx):
        import time

        for i in range(self.n):
            if self.fail_at == i:
                raise RuntimeError(f"broke at {i}")
            ctx.progress("counting", (i + 1) / self.n, f"{i + 1}/{self.n}")
            time.sleep(self.sleep)
        return {"count": self.n, "files": ["a", "b"]}

    def run(self, emit, control=None):
        from engine.train.jobs import run_job

        return run_job(self, emit, control)


def train_tiny(out_dir, model: dict | None = None, *, limit: int = 300, epochs: int = 1, augment=None,
               max_steps: int | None = None, **data) -> dict:
    """Train a small digits classifier into ``out_dir`` (a run folder) in about a second; the report."""
    from engine.project import Project
    from engine.train.api import train_project

    train: dict[str, Any] = {"device": "cpu", "epochs": epochs, "optimizer": {"name": "adam", "lr": 3e-3}}
    if max_steps:
        train["max_steps"] = max_steps
    p = Project.model_validate({
        "name": "tiny", "data": {"limit": limit, "batch_size": 32, "augment": augment or [], **data},
        "model": model or linear_graph(), "train": train,
    })
    rep = train_project(p, out_dir)
    assert rep["status"] == "completed", rep["error"]
    return rep


def small_cnn() -> dict:
    """Conv(8) -> BN -> ReLU -> Pool -> Conv(16) -> BN -> ReLU -> Pool -> Flatten -> Linear(32) -> Linear(10)."""
    return chain(("input", "Input", {"shape": [1, 28, 28]}),
                 ("conv1", "Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": 1}), ("bn1", "BatchNorm2d", {}),
                 ("relu1", "ReLU", {}), ("pool1", "MaxPool2d", {"kernel_size": 2}),
                 ("conv2", "Conv2d", {"out_channels": 16, "kernel_size": 3, "padding": 1}), ("bn2", "BatchNorm2d", {}),
                 ("relu2", "ReLU", {}), ("pool2", "MaxPool2d", {"kernel_size": 2}), ("flat", "Flatten", {}),
                 ("fc1", "Linear", {"out_features": 32}), ("relu3", "ReLU", {}),
                 ("fc2", "Linear", {"out_features": 10}), ("output", "Output", {}))
