"""Graph edits on the project document, each returning its exact inverse.

Every edit is a small dataclass with ``apply(project, sink=None) -> Patch``: it changes the document
through a handful of primitive operations (insert/delete a node or an edge, set a node field, set a
block definition) and returns the ``Patch`` that undoes exactly those operations, so undoing any
sequence of edits restores the document byte for byte. ``sink(kind, graph, payload)`` hears each
primitive change as it happens (``node_added``, ``node_removed``, ``node_changed``, ``node_moved``,
``edge_added``, ``edge_removed``, ``blocks_changed``); the studio turns them into Qt signals, so the
canvas follows the document and never the other way round.

Graphs are addressed by their document path (``model``, ``models.generator``, ``blocks.resblock``)
and nodes by id, the same syntax as problems and overrides: ``model.nodes[c1].params.out_channels``.

An edit that cannot be done raises ``EditError`` with a plain message and changes nothing.
Graph *rules* (shapes, input counts, ...) stay in ``engine.graph.analyze``: edits refuse only what
cannot be represented (unknown nodes, a taken id, a cycle, a connection into an Input).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .project import NODE_ID_RE, EdgeSpec, GraphSpec, NodeSpec, Project

Sink = Callable[[str, str, Any], None]
FRAGMENT_MIME = "application/x-layerlab-fragment"
FRAGMENT_FORMAT = "layerlab-fragment"


class EditError(ValueError):
    """An edit that cannot be made; the message says why in plain words."""


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # SetParam(..., UNSET) removes the key: the registry default applies again


def _graph(project: Project, graph: str) -> GraphSpec:
    try:
        return project.graph_at(graph)
    except KeyError:
        raise EditError(f"this project has no graph {graph!r}") from None


def _index(g: GraphSpec, node_id: str, graph: str) -> int:
    i = g.node_index(node_id)
    if i < 0:
        raise EditError(f"{graph} has no node {node_id!r}")
    return i


def _emit(sink: Sink | None, kind: str, graph: str, payload: Any) -> None:
    if sink is not None:
        sink(kind, graph, payload)


# ---------------------------------------------------------------------------------------------
# primitive operations (each knows its inverse)


@dataclass(frozen=True)
class _Op:
    def run(self, project: Project, sink: Sink | None) -> _Op:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class _InsertNode(_Op):
    graph: str
    index: int
    node: dict[str, Any]

    def run(self, project, sink):
        g = _graph(project, self.graph)
        spec = NodeSpec.model_validate(copy.deepcopy(self.node))
        g.nodes.insert(self.index, spec)
        _emit(sink, "node_added", self.graph, spec.id)
        return _DeleteNode(self.graph, self.index)


@dataclass(frozen=True)
class _DeleteNode(_Op):
    graph: str
    index: int

    def run(self, project, sink):
        g = _graph(project, self.graph)
        spec = g.nodes.pop(self.index)
        _emit(sink, "node_removed", self.graph, spec.id)
        return _InsertNode(self.graph, self.index, spec.model_dump(mode="json", exclude_none=True))


@dataclass(frozen=True)
class _InsertEdge(_Op):
    graph: str
    index: int
    edge: tuple[str, str, int]

    def run(self, project, sink):
        g = _graph(project, self.graph)
        e = EdgeSpec(src=self.edge[0], dst=self.edge[1], port=self.edge[2])
        g.edges.insert(self.index, e)
        _emit(sink, "edge_added", self.graph, e)
        return _DeleteEdge(self.graph, self.index)


@dataclass(frozen=True)
class _DeleteEdge(_Op):
    graph: str
    index: int

    def run(self, project, sink):
        g = _graph(project, self.graph)
        e = g.edges.pop(self.index)
        _emit(sink, "edge_removed", self.graph, e)
        return _InsertEdge(self.graph, self.index, (e.src, e.dst, e.port))


_MISSING = object()


@dataclass(frozen=True)
class _SetNodeField(_Op):
    """``params`` (a whole dict), ``pos`` or ``label`` of one node (``None`` clears pos/label)."""

    graph: str
    node_id: str
    name: str
    value: Any

    def run(self, project, sink):
        g = _graph(project, self.graph)
        n = g.nodes[_index(g, self.node_id, self.graph)]
        old = copy.deepcopy(getattr(n, self.name))
        setattr(n, self.name, copy.deepcopy(self.value))
        _emit(sink, "node_moved" if self.name == "pos" else "node_changed", self.graph, self.node_id)
        return _SetNodeField(self.graph, self.node_id, self.name, old)


@dataclass(frozen=True)
class _SetBlock(_Op):
    """Add, replace (graph dict) or delete (None) one block definition."""

    name: str
    graph_dict: dict[str, Any] | None
    index: int | None = None  # where it sits in the blocks mapping (kept on undo, so saves are identical)

    def run(self, project, sink):
        blocks = dict(project.blocks or {})
        names = list(blocks)
        old = blocks.get(self.name)
        old_index = names.index(self.name) if self.name in blocks else None
        old_dict = old.model_dump(mode="json", exclude_none=True) if old is not None else None
        if self.graph_dict is None:
            blocks.pop(self.name, None)
        else:
            items = [(k, v) for k, v in blocks.items() if k != self.name]
            at = self.index if self.index is not None else (old_index if old_index is not None else len(items))
            items.insert(min(at, len(items)), (self.name, GraphSpec.model_validate(copy.deepcopy(self.graph_dict))))
            blocks = dict(items)
        project.blocks = blocks or None
        _emit(sink, "blocks_changed", f"blocks.{self.name}", self.name)
        return _SetBlock(self.name, old_dict, old_index)


# ---------------------------------------------------------------------------------------------
# patches: a recorded list of primitive operations


@dataclass(frozen=True)
class Patch:
    """Primitive operations applied in order; ``apply`` returns the patch that undoes them."""

    ops: tuple[_Op, ...] = ()
    result: Any = None  # what the edit produced (e.g. the ids of pasted nodes)

    def apply(self, project: Project, sink: Sink | None = None) -> Patch:
        return _run(project, sink, lambda rec: [rec(op) for op in self.ops], self.result)

    @property
    def empty(self) -> bool:
        return not self.ops


def _run(project: Project, sink: Sink | None, body: Callable[[Callable[[_Op], None]], Any],
         result: Any = None) -> Patch:
    """Run ``body(rec)`` where ``rec(op)`` applies a primitive op and records its inverse; on any
    error the ops done so far are undone (the document is left as it was) and the error re-raised."""
    inverses: list[_Op] = []
    events: list[tuple[str, str, Any]] = []

    def collect(kind: str, graph: str, payload: Any) -> None:
        events.append((kind, graph, payload))

    def rec(op: _Op) -> None:
        inverses.append(op.run(project, collect))

    try:
        out = body(rec)
    except Exception:
        for inv in reversed(inverses):
            inv.run(project, None)
        raise
    if sink is not None:
        for ev in events:
            sink(*ev)
    res = result if result is not None else out
    return Patch(tuple(reversed(inverses)), res)


class Edit:
    """Base of the high-level edits: ``apply(project, sink) -> Patch`` (the inverse)."""

    def ops(self, project: Project, rec: Callable[[_Op], None]) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def apply(self, project: Project, sink: Sink | None = None) -> Patch:
        return _run(project, sink, lambda rec: self.ops(project, rec))


# ---------------------------------------------------------------------------------------------
# helpers


def new_node_id(g: GraphSpec, type_name: str, taken: Iterable[str] = ()) -> str:
    """A fresh id from the layer type: ``conv1``, ``conv2``, ... (``Conv2d`` -> ``conv``)."""
    used = {n.id for n in g.nodes} | set(taken)
    base = _id_base(type_name)
    i = 1
    while f"{base}{i}" in used:
        i += 1
    return f"{base}{i}"


_BASES = {"Conv2d": "conv", "Conv1d": "conv1d_", "ConvTranspose2d": "deconv", "Linear": "fc", "BatchNorm2d": "bn",
          "BatchNorm1d": "bn1d_", "MaxPool2d": "pool", "AvgPool2d": "avgpool", "Input": "input", "Output": "output",
          "Flatten": "flatten", "Dropout": "drop", "Block": "block"}


def _id_base(type_name: str) -> str:
    if type_name in _BASES:
        return _BASES[type_name]
    # split only where a lower-case letter meets a capitalised word: ReLU -> relu, LayerNorm -> layer_norm
    snake = re.sub(r"(?<=[a-z])(?=[A-Z][a-z])", "_", type_name).lower()
    snake = re.sub(r"[^a-z0-9_]", "", snake) or "node"
    if snake[-1].isdigit():
        snake += "_"  # adaptive_avg_pool2d_1, not ..._pool2d1
    return snake if snake[0].isalpha() else f"n_{snake}"


def _reaches(g: GraphSpec, start: str, goal: str) -> bool:
    succ: dict[str, list[str]] = {}
    for a, b in g.edge_pairs():
        succ.setdefault(a, []).append(b)
    stack, seen = [start], set()
    while stack:
        v = stack.pop()
        if v == goal:
            return True
        if v in seen:
            continue
        seen.add(v)
        stack.extend(succ.get(v, ()))
    return False


def _max_inputs(type_name: str) -> int | None:
    from .layers import get_layer

    spec = get_layer(type_name)
    return spec.max_inputs if spec is not None else None


def _compact_ports(g: GraphSpec, graph: str, dst: str, rec: Callable[[_Op], None]) -> None:
    """Renumber ``dst``'s input ports 0..k-1 (after a connection into it was removed)."""
    into = sorted(((i, e) for i, e in enumerate(g.edges) if e.dst == dst), key=lambda t: (t[1].port, t[0]))
    for want, (i, e) in enumerate(into):
        if e.port != want:
            rec(_DeleteEdge(graph, i))
            rec(_InsertEdge(graph, i, (e.src, e.dst, want)))


# ---------------------------------------------------------------------------------------------
# the edits


@dataclass
class AddNode(Edit):
    graph: str
    node: dict[str, Any]  # {"id", "type", "params", "pos", "label"}; a missing id is generated
    index: int | None = None

    def ops(self, project, rec):
        from .layers import get_layer

        g = _graph(project, self.graph)
        node = dict(self.node)
        t = node.get("type")
        if not isinstance(t, str) or get_layer(t) is None:
            raise EditError(f"unknown layer type {t!r} (see `layerlab layers`)")
        node.setdefault("params", {})
        if not node.get("id"):
            node["id"] = new_node_id(g, t)
        nid = node["id"]
        if not isinstance(nid, str) or not NODE_ID_RE.match(nid):
            raise EditError(f"{nid!r} cannot be a node id: use letters, digits and _ (starting with a letter)")
        if g.node(nid) is not None:
            raise EditError(f"{self.graph} already has a node {nid!r}")
        node = {k: v for k, v in node.items() if v is not None}
        idx = len(g.nodes) if self.index is None else max(0, min(self.index, len(g.nodes)))
        rec(_InsertNode(self.graph, idx, node))
        return nid


@dataclass
class RemoveNode(Edit):
    """The node and every connection touching it; merge nodes it fed keep ports 0..k-1."""

    graph: str
    node_id: str

    def ops(self, project, rec):
        g = _graph(project, self.graph)
        idx = _index(g, self.node_id, self.graph)
        touched = {e.dst for e in g.edges if e.src == self.node_id and e.dst != self.node_id}
        for i in range(len(g.edges) - 1, -1, -1):
            e = g.edges[i]
            if e.src == self.node_id or e.dst == self.node_id:
                rec(_DeleteEdge(self.graph, i))
        for dst in sorted(touched):
            if g.node(dst) is not None:
                _compact_ports(g, self.graph, dst, rec)
        rec(_DeleteNode(self.graph, idx))


@dataclass
class RemoveNodes(Edit):
    graph: str
    node_ids: Sequence[str]

    def ops(self, project, rec):
        for nid in self.node_ids:
            RemoveNode(self.graph, nid).ops(project, rec)


@dataclass
class Connect(Edit):
    """``src`` -> input ``port`` of ``dst``. A single-input layer's existing connection is replaced;
    into a merge layer (Add, Concat) ``port=None`` appends and a given port inserts there (later
    inputs move up one)."""

    graph: str
    src: str
    dst: str
    port: int | None = None

    def ops(self, project, rec):
        g = _graph(project, self.graph)
        for nid in (self.src, self.dst):
            _index(g, nid, self.graph)
        if self.src == self.dst:
            raise EditError(f"{self.src} cannot be connected to itself")
        dst_type = g.node(self.dst).type  # type: ignore[union-attr]
        if _max_inputs(dst_type) == 0:
            raise EditError(f"{self.dst} is an {dst_type}: nothing can be connected into it")
        if (self.src, self.dst) in g.edge_pairs():
            raise EditError(f"{self.src} is already connected to {self.dst}")
        if _reaches(g, self.dst, self.src):
            raise EditError(f"connecting {self.src} -> {self.dst} would make a cycle ({self.dst} already leads to "
                            f"{self.src}); a model must flow one way")
        into = [(i, e) for i, e in enumerate(g.edges) if e.dst == self.dst]
        if _max_inputs(dst_type) == 1:
            for i, _e in sorted(into, reverse=True):
                rec(_DeleteEdge(self.graph, i))
            rec(_InsertEdge(self.graph, len(g.edges), (self.src, self.dst, 0)))
            return 0
        k = len(into)
        port = k if self.port is None else max(0, min(int(self.port), k))
        for i, e in sorted(into, key=lambda t: -t[1].port):
            if e.port >= port:
                rec(_DeleteEdge(self.graph, i))
                rec(_InsertEdge(self.graph, i, (e.src, e.dst, e.port + 1)))
        rec(_InsertEdge(self.graph, len(g.edges), (self.src, self.dst, port)))
        return port


@dataclass
class Disconnect(Edit):
    graph: str
    src: str
    dst: str
    port: int | None = None  # None: the (only) connection src -> dst

    def ops(self, project, rec):
        g = _graph(project, self.graph)
        for i, e in enumerate(g.edges):
            if e.src == self.src and e.dst == self.dst and (self.port is None or e.port == self.port):
                rec(_DeleteEdge(self.graph, i))
                if g.node(self.dst) is not None:
                    _compact_ports(g, self.graph, self.dst, rec)
                return None
        raise EditError(f"{self.src} is not connected to {self.dst}")


@dataclass
class RemoveEdgeAt(Edit):
    """Drop the connection at ``edges[index]`` (e.g. one that names a node that does not exist)."""

    graph: str
    index: int

    def ops(self, project, rec):
        g = _graph(project, self.graph)
        if not 0 <= self.index < len(g.edges):
            raise EditError(f"{self.graph} has no connection #{self.index}")
        dst = g.edges[self.index].dst
        rec(_DeleteEdge(self.graph, self.index))
        if g.node(dst) is not None:
            _compact_ports(g, self.graph, dst, rec)


@dataclass
class SetParam(Edit):
    graph: str
    node_id: str
    name: str
    value: Any  # UNSET: remove the key (the registry default applies)

    def ops(self, project, rec):
        g = _graph(project, self.graph)
        n = g.nodes[_index(g, self.node_id, self.graph)]
        params = dict(n.params)
        if self.value is UNSET:
            if self.name not in params:
                return None
            params.pop(self.name)
        else:
            if params.get(self.name, _MISSING) == self.value and self.name in params:
                return None
            params[self.name] = copy.deepcopy(self.value)
        rec(_SetNodeField(self.graph, self.node_id, "params", params))


@dataclass
class SetType(Edit):
    """Change a node's layer type (keeps the params the new type also has)."""

    graph: str
    node_id: str
    type: str

    def ops(self, project, rec):
        from .layers import get_layer

        spec = get_layer(self.type)
        if spec is None:
            raise EditError(f"unknown layer type {self.type!r}")
        g = _graph(project, self.graph)
        n = g.nodes[_index(g, self.node_id, self.graph)]
        known = {p.name for p in spec.params}
        rec(_SetNodeField(self.graph, self.node_id, "params", {k: v for k, v in n.params.items() if k in known}))
        rec(_SetNodeField(self.graph, self.node_id, "type", self.type))


@dataclass
class MoveNodes(Edit):
    graph: str
    positions: dict[str, tuple[float, float]]

    def ops(self, project, rec):
        g = _graph(project, self.graph)
        for nid, pos in self.positions.items():
            n = g.nodes[_index(g, nid, self.graph)]
            new = (round(float(pos[0]), 1), round(float(pos[1]), 1))
            if n.pos is None or tuple(n.pos) != new:
                rec(_SetNodeField(self.graph, nid, "pos", new))


@dataclass
class Relabel(Edit):
    graph: str
    node_id: str
    label: str | None

    def ops(self, project, rec):
        g = _graph(project, self.graph)
        n = g.nodes[_index(g, self.node_id, self.graph)]
        label = (self.label or "").strip() or None
        if label is not None and len(label) > 200:
            raise EditError("a label can be at most 200 characters")
        if label != n.label:
            rec(_SetNodeField(self.graph, self.node_id, "label", label))


@dataclass
class Batch(Edit):
    """Several edits as one (one undo step): paste, auto-layout, a one-click fix, ..."""

    edits: Sequence[Edit] = field(default_factory=list)

    def ops(self, project, rec):
        return [e.ops(project, rec) for e in self.edits]


# ---------------------------------------------------------------------------------------------
# fragments (copy / paste, blocks)


def fragment_of(project: Project, graph: str, node_ids: Iterable[str]) -> dict[str, Any]:
    """The selected nodes, the connections among them and the block definitions they use, as JSON."""
    g = _graph(project, graph)
    ids = [n.id for n in g.nodes if n.id in set(node_ids)]
    keep = set(ids)
    nodes = [g.node(i).model_dump(mode="json", exclude_none=True) for i in ids]  # type: ignore[union-attr]
    edges = [{"src": e.src, "dst": e.dst, "port": e.port} for e in g.edges if e.src in keep and e.dst in keep]
    blocks = {}
    for n in nodes:
        if n["type"] == "Block":
            _collect_blocks(project, n.get("params", {}).get("block"), blocks)
    return {"format": FRAGMENT_FORMAT, "version": 1, "nodes": nodes, "edges": edges, "blocks": blocks}


def _collect_blocks(project: Project, name: Any, out: dict[str, Any]) -> None:
    defs = project.blocks or {}
    if not isinstance(name, str) or name not in defs or name in out:
        return
    out[name] = defs[name].model_dump(mode="json", exclude_none=True)
    for n in defs[name].nodes:
        if n.type == "Block":
            _collect_blocks(project, n.params.get("block"), out)


def check_fragment(fragment: Any) -> dict[str, Any]:
    """A clipboard fragment, validated (``EditError`` when it is not one)."""
    if not isinstance(fragment, dict) or fragment.get("format") != FRAGMENT_FORMAT:
        raise EditError("the clipboard does not hold LayerLab layers")
    try:
        GraphSpec.model_validate({"nodes": fragment.get("nodes", []), "edges": fragment.get("edges", [])})
        for b in (fragment.get("blocks") or {}).values():
            GraphSpec.model_validate(b)
    except Exception as exc:  # pydantic ValidationError
        raise EditError(f"the copied layers are malformed: {str(exc).splitlines()[0]}") from None
    return fragment


@dataclass
class PasteFragment(Edit):
    """Insert a fragment; ids that are taken get fresh ones, block definitions come along (a name
    that holds a different definition here is renamed). ``apply(...).result`` is the new ids."""

    graph: str
    fragment: dict[str, Any]
    offset: tuple[float, float] = (40.0, 40.0)

    def ops(self, project, rec):
        frag = check_fragment(self.fragment)
        g = _graph(project, self.graph)
        renamed_blocks: dict[str, str] = {}
        existing = dict(project.blocks or {})
        for name, bdict in (frag.get("blocks") or {}).items():
            if name in existing:
                if existing[name].model_dump(mode="json", exclude_none=True) == bdict:
                    continue
                new = name
                i = 2
                while new in existing:
                    new = f"{name}_{i}"
                    i += 1
                renamed_blocks[name] = new
                name = new
            rec(_SetBlock(name, bdict))
            existing[name] = GraphSpec.model_validate(bdict)
        taken = {n.id for n in g.nodes}
        mapping: dict[str, str] = {}
        for n in frag["nodes"]:
            nid = n["id"] if n["id"] not in taken else new_node_id(g, n["type"], taken)
            taken.add(nid)
            mapping[n["id"]] = nid
        new_ids = []
        for n in frag["nodes"]:
            node = copy.deepcopy(n)
            node["id"] = mapping[n["id"]]
            if node.get("pos") is not None:
                node["pos"] = [node["pos"][0] + self.offset[0], node["pos"][1] + self.offset[1]]
            if node["type"] == "Block" and node.get("params", {}).get("block") in renamed_blocks:
                node["params"]["block"] = renamed_blocks[node["params"]["block"]]
            rec(_InsertNode(self.graph, len(g.nodes), node))
            new_ids.append(node["id"])
        for e in GraphSpec.model_validate({"nodes": [], "edges": frag.get("edges", [])}).edges:
            if e.src in mapping and e.dst in mapping:
                rec(_InsertEdge(self.graph, len(g.edges), (mapping[e.src], mapping[e.dst], e.port)))
        return new_ids


# ---------------------------------------------------------------------------------------------
# blocks


@dataclass
class GroupIntoBlock(Edit):
    """Replace the selected nodes by one ``Block`` node whose definition is their sub-graph.

    Each outside node feeding the selection becomes an Input of the block (in the order they are
    found, which becomes the block's port order); exactly one selected node may feed the rest of the
    graph (it becomes the block's Output)."""

    graph: str
    node_ids: Sequence[str]
    name: str
    node_id: str | None = None

    def ops(self, project, rec):
        from .graph import analyze

        g = _graph(project, self.graph)
        sel = [n.id for n in g.nodes if n.id in set(self.node_ids)]
        if len(sel) < 1:
            raise EditError("select the layers to group first")
        keep = set(sel)
        for nid in sel:
            if g.node(nid).type in ("Input", "Output"):  # type: ignore[union-attr]
                raise EditError(f"{nid} is an {g.node(nid).type} of the model; group only the layers between them")  # type: ignore[union-attr]
        if not NODE_ID_RE.match(self.name):
            raise EditError(f"{self.name!r} cannot name a block: use letters, digits and _")
        if self.name in (project.blocks or {}):
            raise EditError(f"a block named {self.name!r} exists already; choose another name")
        outside_in = [e for e in sorted(g.edges, key=lambda e: (g.node_index(e.dst), e.port))
                      if e.dst in keep and e.src not in keep]
        outside_out = [e for e in g.edges if e.src in keep and e.dst not in keep]
        exits = sorted({e.src for e in outside_out}, key=g.node_index)
        if len(exits) > 1:
            raise EditError(f"a block has one output, but the selected layers feed the rest of the model from "
                            f"{len(exits)} places ({', '.join(exits)}); select up to one of them")
        sources: list[str] = []
        for e in outside_in:
            if e.src not in sources:
                sources.append(e.src)
        res = analyze(g, self.graph, blocks=project.blocks)
        inner_nodes: list[dict[str, Any]] = []
        inner_edges: list[dict[str, Any]] = []
        in_ids: dict[str, str] = {}
        used = set(sel)
        for k, src in enumerate(sources):
            info = res.node(src)
            shape = list(info.output_shape) if info is not None and info.output_shape is not None else [1]
            iid = f"in{k + 1}" if f"in{k + 1}" not in used else new_node_id(GraphSpec(), "Input", used)
            used.add(iid)
            in_ids[src] = iid
            params: dict[str, Any] = {"shape": shape}
            if info is not None and info.dtype == "long":
                params["dtype"] = "long"
            inner_nodes.append({"id": iid, "type": "Input", "params": params})
        xs = [n.pos for n in (g.node(i) for i in sel) if n is not None and n.pos is not None]
        for nid in sel:
            inner_nodes.append(g.node(nid).model_dump(mode="json", exclude_none=True))  # type: ignore[union-attr]
        for e in g.edges:
            if e.src in keep and e.dst in keep:
                inner_edges.append({"src": e.src, "dst": e.dst, "port": e.port})
            elif e.dst in keep:
                inner_edges.append({"src": in_ids[e.src], "dst": e.dst, "port": e.port})
        out_id = "out" if "out" not in used else new_node_id(GraphSpec(), "Output", used)
        exit_node = exits[0] if exits else sel[-1]
        inner_nodes.append({"id": out_id, "type": "Output", "params": {}})
        inner_edges.append({"src": exit_node, "dst": out_id, "port": 0})
        block_id = self.node_id or new_node_id(g, "Block")
        if g.node(block_id) is not None and block_id not in keep:
            raise EditError(f"{self.graph} already has a node {block_id!r}")
        rec(_SetBlock(self.name, {"nodes": inner_nodes, "edges": inner_edges}))
        insert_at = min(g.node_index(i) for i in sel)
        RemoveNodes(self.graph, sel).ops(project, rec)
        node: dict[str, Any] = {"id": block_id, "type": "Block", "params": {"block": self.name}}
        if xs:
            node["pos"] = [sum(p[0] for p in xs) / len(xs), sum(p[1] for p in xs) / len(xs)]
        rec(_InsertNode(self.graph, insert_at, node))
        for port, src in enumerate(sources):
            rec(_InsertEdge(self.graph, len(g.edges), (src, block_id, port)))
        for e in outside_out:
            # the port the exit fed, now fed by the block (merge nodes keep their input order)
            rec(_InsertEdge(self.graph, len(g.edges), (block_id, e.dst, e.port)))
        return block_id


@dataclass
class AddBlockDefinition(Edit):
    """Put a block definition into the project (e.g. from the palette); a taken name with the same
    definition is reused, a different one gets ``name_2``. ``result`` is the name used."""

    name: str
    graph_dict: dict[str, Any]

    def ops(self, project, rec):
        existing = project.blocks or {}
        GraphSpec.model_validate(self.graph_dict)
        name = self.name
        i = 2
        while name in existing:
            if existing[name].model_dump(mode="json", exclude_none=True) == \
                    GraphSpec.model_validate(self.graph_dict).model_dump(mode="json", exclude_none=True):
                return name
            name = f"{self.name}_{i}"
            i += 1
        rec(_SetBlock(name, copy.deepcopy(self.graph_dict)))
        return name


# ---------------------------------------------------------------------------------------------
# one path syntax: model.nodes[c1].params.out_channels

_PART_RE = re.compile(r"([^.\[\]]+)((?:\[[^\]]*\])*)")


def split_path(path: str) -> list[str | tuple[str, str]]:
    """``model.nodes[c1].params.k`` -> ``["model", ("nodes", "c1"), "params", "k"]``."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"bad path {path!r}")
    out: list[str | tuple[str, str]] = []
    for chunk in path.split("."):
        m = _PART_RE.fullmatch(chunk)
        if not m:
            raise ValueError(f"bad path {path!r} (at {chunk!r})")
        name, sel = m.group(1), m.group(2)
        if not sel:
            out.append(name)
            continue
        keys = re.findall(r"\[([^\]]*)\]", sel)
        if len(keys) != 1 or not keys[0]:
            raise ValueError(f"bad path {path!r}: use one [id] after {name}")
        out.append((name, keys[0]))
    return out


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` in a project dict (``data.batch_size``, ``model.nodes[c1].params.out_channels``).
    A ``[key]`` picks the list item whose ``id`` is key (or the list index when key is a number)."""
    parts = split_path(path)
    cur: Any = doc
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        name, key = (part, None) if isinstance(part, str) else part
        where = ".".join(p if isinstance(p, str) else f"{p[0]}[{p[1]}]" for p in parts[: i + 1])
        if not isinstance(cur, dict):
            raise ValueError(f"{where}: the document has no object here")
        if key is None:
            if last:
                cur[name] = value
                return
            nxt = cur.get(name)
            if nxt is None:
                nxt = {}
                cur[name] = nxt
            cur = nxt
            continue
        items = cur.get(name)
        if not isinstance(items, list):
            raise ValueError(f"{where}: {name} is not a list")
        found = None
        for j, item in enumerate(items):
            if isinstance(item, dict) and item.get("id") == key:
                found = j
                break
        if found is None and key.isdigit() and int(key) < len(items):
            found = int(key)
        if found is None:
            raise ValueError(f"{where}: no item with id {key!r}")
        if last:
            items[found] = value
            return
        cur = items[found]
