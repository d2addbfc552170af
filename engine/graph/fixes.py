"""One-click fixes: for a problem whose repair is mechanical, the edits that make it.

``attach_fixes`` looks at each error's ``kind`` (set by ``analyze``) and the graph around its node,
and attaches ``Fix(title, edits)``; the designer shows them on the node's badge and applies one as a
single undo step. Pure Python, like ``analyze``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..edits import UNSET, AddNode, Batch, Connect, Disconnect, Edit, RemoveEdgeAt, SetParam, new_node_id
from ..project import GraphSpec, Project
from .analyze import CompileResult, NodeError

# layers whose output shape equals their input shape: a fix may look through them to the layer that
# decides the shape (conv -> bn -> relu -> Add: the conv's out_channels is what to change)
_SHAPE_KEEPING = {"ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh", "BatchNorm1d", "BatchNorm2d",
                  "Dropout", "Dropout2d", "Identity", "LayerNorm", "Softmax", "LogSoftmax"}
_WIDTH_PARAM = {"Conv2d": "out_channels", "Conv1d": "out_channels", "ConvTranspose2d": "out_channels",
                "Linear": "out_features"}


@dataclass(frozen=True)
class Fix:
    title: str  # what the click does, in plain words: "Insert a Flatten before fc1"
    edits: tuple[Edit, ...]

    def as_edit(self) -> Edit:
        return Batch(list(self.edits))


def attach_fixes(project: Project, gpath: str, result: CompileResult) -> CompileResult:
    if not result.errors:
        return result
    try:
        g = project.graph_at(gpath)
    except KeyError:
        return result
    out: list[NodeError] = []
    changed = False
    for e in result.errors:
        fixes = tuple(_fixes_for(g, gpath, result, e))
        if fixes:
            e = dataclasses.replace(e, fixes=fixes)
            changed = True
        out.append(e)
    return dataclasses.replace(result, errors=out) if changed else result


def _fixes_for(g: GraphSpec, gpath: str, res: CompileResult, e: NodeError) -> list[Fix]:
    if e.kind == "dangling_edge":
        for i, edge in enumerate(g.edges):
            if (g.node(edge.src) is None or g.node(edge.dst) is None) and f"{edge.src} -> {edge.dst}" in e.message:
                return [Fix(f"Remove the connection {edge.src} -> {edge.dst}", (RemoveEdgeAt(gpath, i),))]
        return []
    if e.node is None:
        return []
    node = g.node(e.node)
    if node is None:
        return []
    if e.kind == "bad_param" and e.param:
        verb = "Remove the unknown parameter" if "unknown parameter" in e.message else "Reset to the default:"
        return [Fix(f"{verb} {e.param}", (SetParam(gpath, e.node, e.param, UNSET),))]
    if e.kind in ("input_vs_data", "output_vs_task", "discriminator_output", "generator_vs_data"):
        return _data_fixes(g, gpath, e)
    if e.kind == "feature_map_into_linear":
        src = g.inputs_of(e.node)[0] if g.inputs_of(e.node) else None
        return [_insert_between(g, gpath, src, e.node, "Flatten", {}, f"Insert a Flatten before {e.node}")] if src else []
    if e.kind == "shape_mismatch" and node.type in ("Add", "Multiply"):
        return _merge_fixes(g, gpath, res, e.node)
    if e.kind == "shape" and node.type in ("Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm2d"):
        info = res.node(e.node)
        srcs = g.inputs_of(e.node)
        src_info = res.node(srcs[0]) if srcs else None
        if src_info is not None and src_info.output_shape is not None and len(src_info.output_shape) == 1:
            n = src_info.output_shape[0]
            for c in (1, 3):
                side = math.isqrt(n // c) if n % c == 0 else 0
                if side and c * side * side == n:
                    shape = [c, side, side]
                    return [_insert_between(g, gpath, srcs[0], e.node, "Reshape", {"shape": shape},
                                            f"Insert a Reshape to {shape} before {e.node}")]
        del info
    return []


def _data_fixes(g: GraphSpec, gpath: str, e: NodeError) -> list[Fix]:
    """Repairs for the model-vs-data rules (engine.graph.datacheck), read from what the message names."""
    import re

    if e.kind == "input_vs_data" and e.param == "shape":
        m = re.search(r"set \w+'s shape to \[([0-9, ]+)\]", e.message)
        if m:
            shape = [int(v) for v in m.group(1).split(",")]
            return [Fix(f"Set {e.node}'s shape to {shape}", (SetParam(gpath, e.node, "shape", shape),))]
    m = re.search(r"set (\w+)'s (\w+) to (\d+)", e.message)
    if m and g.node(m.group(1)) is not None:
        node, param, value = m.group(1), m.group(2), int(m.group(3))
        return [Fix(f"Set {node}'s {param} to {value}", (SetParam(gpath, node, param, value),))]
    m = re.search(r"insert a Flatten before (\w+)", e.message)
    if m and g.node(m.group(1)) is not None and g.inputs_of(m.group(1)):
        dst = m.group(1)
        return [_insert_between(g, gpath, g.inputs_of(dst)[0], dst, "Flatten", {}, f"Insert a Flatten before {dst}")]
    return []


def _insert_between(g: GraphSpec, gpath: str, src: str, dst: str, type_name: str, params: dict[str, Any],
                    title: str) -> Fix:
    new_id = new_node_id(g, type_name)
    port = next((e.port for e in g.edges if e.src == src and e.dst == dst), 0)
    a, b = g.node(src), g.node(dst)
    node: dict[str, Any] = {"id": new_id, "type": type_name, "params": dict(params)}
    if a is not None and b is not None and a.pos is not None and b.pos is not None:
        node["pos"] = [(a.pos[0] + b.pos[0]) / 2, (a.pos[1] + b.pos[1]) / 2]
    return Fix(title, (AddNode(gpath, node), Disconnect(gpath, src, dst, port), Connect(gpath, src, new_id),
                       Connect(gpath, new_id, dst, port)))


def width_source(g: GraphSpec, node_id: str) -> tuple[str, str] | None:
    """The conv/linear that decides ``node_id``'s channel count, looking through shape-keeping layers."""
    nodes = {n.id: n for n in g.nodes}  # one pass each: the walk may cross thousands of layers
    into: dict[str, list[str]] = {}
    for e in g.edges:
        into.setdefault(e.dst, []).append(e.src)
    cur: str | None = node_id
    seen = set()
    while cur is not None and cur not in seen:
        seen.add(cur)
        n = nodes.get(cur)
        if n is None:
            return None
        if n.type in _WIDTH_PARAM:
            return cur, _WIDTH_PARAM[n.type]
        if n.type not in _SHAPE_KEEPING:
            return None
        ins = into.get(cur, [])
        cur = ins[0] if len(ins) == 1 else None
    return None


def _merge_fixes(g: GraphSpec, gpath: str, res: CompileResult, merge_id: str) -> list[Fix]:
    """Add/Multiply inputs that differ: make a branch's width match the first input, or put a 1×1
    convolution (a projection) on the other branch."""
    srcs = g.inputs_of(merge_id)
    shapes = [res.node(s).output_shape if res.node(s) is not None else None for s in srcs]
    if len(srcs) < 2 or any(s is None for s in shapes):
        return []
    target = shapes[0]
    fixes: list[Fix] = []
    for src, shape in zip(srcs[1:], shapes[1:]):
        if shape == target or len(shape) != len(target):  # type: ignore[arg-type]
            continue
        if tuple(shape[1:]) == tuple(target[1:]):  # type: ignore[index]
            ws = width_source(g, src)
            if ws is not None:
                nid, pname = ws
                fixes.append(Fix(f"Make {nid}.{pname} {target[0]} so {merge_id}'s inputs match",  # type: ignore[index]
                                 (SetParam(gpath, nid, pname, int(target[0])),)))  # type: ignore[index]
        # the other way round: project the first input to this one's shape
    first_ws = width_source(g, srcs[0])
    other = shapes[1]
    if len(target) == 3 and len(other) == 3:  # type: ignore[arg-type]
        stride_h = target[1] / other[1] if other[1] else 0  # type: ignore[index]
        if target[1:] == other[1:] or (stride_h.is_integer() and stride_h > 1 and target[2] / other[2] == stride_h):  # type: ignore[index]
            params: dict[str, Any] = {"out_channels": int(other[0]), "kernel_size": 1}  # type: ignore[index]
            if stride_h > 1:
                params["stride"] = int(stride_h)
            fixes.append(_insert_between(g, gpath, srcs[0], merge_id, "Conv2d", params,
                                         f"Insert a 1×1 Conv2d on the skip ({srcs[0]} -> {merge_id}) to give "
                                         f"{list(other)}"))  # type: ignore[arg-type]
    del first_ws
    return fixes
