"""Auto-layout: layered, every edge points down (or right), no overlaps, few crossings, stable."""

import random

import pytest

from engine.graph.layout import LayeredLayout, layout_graph

W, H = LayeredLayout().node_w, LayeredLayout().node_h


def _overlaps(pos):
    items = list(pos.values())
    for i, (x1, y1) in enumerate(items):
        for x2, y2 in items[i + 1:]:
            if abs(x1 - x2) < W and abs(y1 - y2) < H:
                return True
    return False


def _random_dag(n, extra, seed):
    rng = random.Random(seed)
    ids = [f"n{i}" for i in range(n)]
    edges = [(f"n{rng.randrange(i)}", f"n{i}") for i in range(1, n)]
    for _ in range(extra):
        a, b = sorted(rng.sample(range(n), 2))
        edges.append((f"n{a}", f"n{b}"))
    return ids, edges


@pytest.mark.parametrize("seed", range(5))
def test_edges_flow_down_and_nodes_never_overlap(seed):
    ids, edges = _random_dag(60, 30, seed)
    pos = layout_graph(ids, edges)
    assert set(pos) == set(ids)
    assert all(pos[b][1] > pos[a][1] for a, b in edges)
    assert not _overlaps(pos)


def test_left_to_right_flows_right():
    ids, edges = _random_dag(30, 10, 1)
    pos = layout_graph(ids, edges, "LR")
    assert all(pos[b][0] > pos[a][0] for a, b in edges)
    assert not _overlaps(pos)


def test_a_residual_diamond_has_no_crossings_and_is_centred():
    ids = ["input", "c1", "r1", "c2", "add", "out"]
    edges = [("input", "c1"), ("c1", "r1"), ("r1", "c2"), ("c2", "add"), ("input", "add"), ("add", "out")]
    pos = layout_graph(ids, edges)
    assert pos["input"][1] < pos["c1"][1] < pos["r1"][1] < pos["c2"][1] < pos["add"][1] < pos["out"][1]
    assert pos["out"][0] == pytest.approx(pos["add"][0])


def test_crossing_reduction_untangles_a_swapped_bipartite_graph():
    ids = ["a", "b", "c", "z", "y", "x"]  # document order would cross every edge
    edges = [("a", "x"), ("b", "y"), ("c", "z")]
    pos = layout_graph(ids, edges)
    order_top = sorted("abc", key=lambda v: pos[v][0])
    order_bottom = sorted("xyz", key=lambda v: pos[v][0])
    assert [dict(a="x", b="y", c="z")[v] for v in order_top] == order_bottom


def test_cycles_and_unknown_ids_do_not_break_it():
    pos = layout_graph(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a"), ("a", "ghost"), ("a", "a")])
    assert set(pos) == {"a", "b", "c"} and not _overlaps(pos)
    assert layout_graph([], []) == {}


def test_same_input_same_output():
    ids, edges = _random_dag(40, 20, 3)
    assert layout_graph(ids, edges) == layout_graph(ids, edges)
