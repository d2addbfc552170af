"""How fast is the Designer on big graphs? Prints figures (the machine may be shared: read ratios).

- ``edit``: one parameter edit on a 300-node graph -> document edit, analysis of the project, scene
  and inspector update, repaint of the canvas. Goal: median <= 16 ms, p99 <= 50 ms. Baselines: the
  analysis alone (``engine.graph.analyze``, the floor any live checker pays) and ``analyze_project``
  (the same plus one-click fixes: what the analysis service runs after every edit).
- ``open``: a 300-node project from ``doc.replace`` to a painted canvas with shapes. Goal <= 500 ms.
- ``layout``: auto-layout of the 300 nodes (``engine.graph.layout``). Goal <= 300 ms. Baseline:
  networkx's layered ``multipartite_layout`` over topological generations (no crossing reduction).
- ``open10k``: the same for a 10,000-node project (must open; lazily built items).

    python bench/designer_latency.py [--edits 200] [--big 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def resnet_like(n_nodes: int) -> dict:
    """A project whose graph has about ``n_nodes`` nodes: residual units of conv-bn-relu-conv-bn-add-relu."""
    nodes = [{"id": "input", "type": "Input", "params": {"shape": [16, 8, 8]}}]
    edges = []
    prev = "input"
    u = 0
    while len(nodes) < n_nodes - 4:
        ids = [f"c{u}a", f"b{u}a", f"r{u}a", f"c{u}b", f"b{u}b", f"add{u}", f"r{u}"]
        types = ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "Add", "ReLU"]
        for i, t in zip(ids, types):
            params = {"out_channels": 16, "kernel_size": 3, "padding": 1} if t == "Conv2d" else {}
            nodes.append({"id": i, "type": t, "params": params})
        chain = [prev, *ids[:5]]
        edges += [{"src": a, "dst": b, "port": 0} for a, b in zip(chain, chain[1:])]
        edges += [{"src": ids[4], "dst": ids[5], "port": 0}, {"src": prev, "dst": ids[5], "port": 1},
                  {"src": ids[5], "dst": ids[6], "port": 0}]
        prev = ids[6]
        u += 1
    tail = [("flat", "Flatten", {}), ("fc", "Linear", {"out_features": 10}), ("output", "Output", {})]
    for i, t, p in tail:
        nodes.append({"id": i, "type": t, "params": p})
        edges.append({"src": prev, "dst": i, "port": 0})
        prev = i
    from engine.graph.layout import layout_graph

    pos = layout_graph([n["id"] for n in nodes], [(e["src"], e["dst"]) for e in edges])
    for n in nodes:
        n["pos"] = list(pos[n["id"]])
    return {"format": "layerlab-project", "version": 2, "name": f"bench {len(nodes)}",
            "model": {"nodes": nodes, "edges": edges}, "train": {"epochs": 1}}


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--edits", type=int, default=200)
    ap.add_argument("--big", type=int, default=10_000)
    args = ap.parse_args()

    from PySide6.QtWidgets import QApplication

    from app.analysis import AnalysisService
    from app.designer import DesignerView
    from app.document import DocumentController
    from engine.graph import analyze, analyze_project
    from engine.project import parse_project

    app = QApplication.instance() or QApplication(sys.argv[:1])
    import torch  # noqa: F401 - warm, as in a studio that has been open a few seconds (the code view's
    # generator imports it on first use; importing it in the background would skew every figure below)
    raw = resnet_like(300)
    project = parse_project(raw)
    n = len(project.model.nodes)

    from widgets.qt_compat import freeze_long_lived

    doc = DocumentController()
    service = AnalysisService(doc)  # run_now() below: the debounce is not part of the figure
    dv = DesignerView(doc, service, blocks_dir=None)
    dv.resize(1400, 900)
    dv.show()
    app.processEvents()

    # -- open ------------------------------------------------------------------------------
    t0 = time.perf_counter()
    doc.replace(project, None)  # the service analyses on replace
    freeze_long_lived()  # what the window does when a document is opened (widgets/qt_compat.py)
    dv.current_view().fit()
    dv.current_view().viewport().repaint()
    app.processEvents()
    t_open = (time.perf_counter() - t0) * 1e3
    scene = dv.current_scene()
    assert len(scene.nodes) == n, (len(scene.nodes), n)

    # -- one parameter edit -> analysis -> scene ---------------------------------------------
    convs = [x.id for x in doc.project.model.nodes if x.type == "Conv2d"]
    target = convs[len(convs) // 2]
    scene.select_nodes([target])
    times, floor, floor_project = [], [], []
    for i in range(args.edits):
        value = 16 if i % 2 else 24
        t0 = time.perf_counter()
        doc.set_param("model", target, "out_channels", value)
        service.run_now()
        dv.current_view().viewport().repaint()
        times.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        analyze(doc.project.model)
        floor.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        analyze_project(doc.project)
        floor_project.append((time.perf_counter() - t0) * 1e3)
        doc.undo_stack.clear()  # keep merged-command bookkeeping out of the figure
    med, p99 = statistics.median(times), pct(times, 0.99)

    # -- auto-layout ---------------------------------------------------------------------------
    from engine.graph.layout import layout_graph

    ids = [x.id for x in doc.project.model.nodes]
    pairs = doc.project.model.edge_pairs()
    lay = []
    for _ in range(5):
        t0 = time.perf_counter()
        layout_graph(ids, pairs)
        lay.append((time.perf_counter() - t0) * 1e3)
    t_layout = statistics.median(lay)
    base = []
    try:
        import networkx as nx

        for _ in range(5):
            t0 = time.perf_counter()
            G = nx.DiGraph(pairs)
            for layer, nodes_ in enumerate(nx.topological_generations(G)):
                for v in nodes_:
                    G.nodes[v]["layer"] = layer
            nx.multipartite_layout(G, subset_key="layer")
            base.append((time.perf_counter() - t0) * 1e3)
    except ImportError:  # pragma: no cover
        pass

    print(f"designer: {n} nodes, {len(pairs)} edges (machine may be shared)")
    print(f"open_ms={t_open:.0f} (goal <= 500)")
    print(f"edit_median_ms={med:.1f} edit_p99_ms={p99:.1f} (goals <= 16, <= 50)  "
          f"analyze_median_ms={statistics.median(floor):.1f} ratio={med / statistics.median(floor):.2f}  "
          f"analyze_project_median_ms={statistics.median(floor_project):.1f} (with one-click fixes; the service's call)")
    line = f"layout_ms={t_layout:.1f} (goal <= 300)"
    if base:
        line += f"  networkx_multipartite_ms={statistics.median(base):.1f} ratio={t_layout / statistics.median(base):.2f}"
    print(line)

    # -- a 10,000-node project -------------------------------------------------------------------
    if args.big:
        big = parse_project(resnet_like(args.big))
        t0 = time.perf_counter()
        service.doc = _NoReplace(doc)  # time the scene build and the analysis apart
        doc.replace(big, None)
        t_build = time.perf_counter()
        service.doc = doc
        service.run_now()
        t_an = time.perf_counter()
        dv.current_view().fit()
        dv.current_view().viewport().repaint()
        app.processEvents()
        t_end = time.perf_counter()
        print(f"open{len(big.model.nodes)}_ms={(t_end - t0) * 1e3:.0f} (scene {(t_build - t0) * 1e3:.0f}, "
              f"analysis {(t_an - t_build) * 1e3:.0f}, paint {(t_end - t_an) * 1e3:.0f})")
    dv.close()
    return 0


class _NoReplace:
    """Stands in for the document while it is replaced, so the analysis on ``replaced`` is skipped."""

    def __init__(self, doc):
        self.project = None


if __name__ == "__main__":
    sys.exit(main())
