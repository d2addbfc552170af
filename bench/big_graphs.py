"""How big graphs fare: load + analyze of chains of 1,000 / 10,000 / 100,000 nodes, and a 5,000-node
cycle, beside a hand-written baseline (a bare Kahn topological sort of the same edges, no checks).

    PYTHONPATH=. python bench/big_graphs.py [--max 100000]

Prints seconds per step and the ratio analyze / baseline (how much the checks cost over just ordering), and
``analyze_project`` (what the studio and ``check`` run: graph rules, the model against its data, one-click fixes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers import relu_chain_project  # noqa: E402

from engine.graph import analyze, analyze_project  # noqa: E402
from engine.project import loads_project  # noqa: E402


def baseline(edges: list[list[str]], nodes: list[str]) -> list[str]:
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    indeg = dict.fromkeys(nodes, 0)
    for a, b in edges:
        succ[a].append(b)
        indeg[b] += 1
    q = deque(n for n in nodes if indeg[n] == 0)
    out = []
    while q:
        v = q.popleft()
        out.append(v)
        for w in succ[v]:
            indeg[w] -= 1
            if indeg[w] == 0:
                q.append(w)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=100_000)
    args = ap.parse_args()
    print(f"{'graph':<22} {'load s':>8} {'analyze s':>10} {'baseline s':>11} {'ratio':>7} {'errors':>7} "
          f"{'project s':>10}")
    for n, cyc in [(1_000, False), (10_000, False), (5_000, True), (100_000, False)]:
        if n > args.max:
            continue
        d = relu_chain_project(n, cyc)
        text = json.dumps(d)
        t0 = time.perf_counter()
        try:
            project = loads_project(text)
            graph = project.model
        except Exception:  # a cycle still loads; keep the raw graph when the document refuses it
            project, graph = None, d["model"]
        t1 = time.perf_counter()
        res = analyze(graph)
        t2 = time.perf_counter()
        baseline(d["model"]["edges"], [x["id"] for x in d["model"]["nodes"]])
        t3 = time.perf_counter()
        t4 = time.perf_counter()
        if project is not None:
            analyze_project(project)
        whole = f"{time.perf_counter() - t4:.2f}" if project is not None else "-"
        name = f"{n:,} nodes" + (" (cycle)" if cyc else "")
        print(f"{name:<22} {t1 - t0:>8.2f} {t2 - t1:>10.2f} {t3 - t2:>11.4f} {(t2 - t1) / max(t3 - t2, 1e-9):>7.0f} "
              f"{len(res.errors):>7,} {whole:>10}")


if __name__ == "__main__":
    main()
