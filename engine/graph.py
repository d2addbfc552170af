"""Compile a graph document: topological order, shape inference, errors per node, the ``nn.Module``.

``analyze`` is pure Python (it never imports torch and allocates no tensors): it orders the nodes,
infers every shape with the registry's ``infer`` functions, counts parameters and MACs with the
registry's ``count`` formulas, and collects *every* problem against its node id. ``compile_graph``
runs ``analyze`` and, when it is clean, builds a ``GraphModule`` whose submodules are registered under
the node ids (parameter names like ``c1.weight``).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .layers import ShapeError, get_layer
from .project import GraphSpec

if TYPE_CHECKING:  # pragma: no cover
    from .layers.modules import GraphModule

Shape = tuple[int, ...]

# Attribute names of ``nn.Module`` (and of ``GraphModule``): a node id must not shadow them because
# each node's module is registered as an attribute. Kept as data so ``analyze`` stays torch-free;
# ``compile_graph`` double-checks against the real class.
_MODULE_ATTRS = frozenset(
    """T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double
    dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half
    ipu load_state_dict modules mtia named_buffers named_children named_modules named_parameters parameters
    register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
    register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory state_dict to
    to_empty train training type xpu zero_grad
    input_ids input_shapes input_dtypes input_high output_id output_shape example_inputs node_ids steps""".split()
)


def reserved_id_problem(node_id: str) -> str | None:
    """A message if ``node_id`` cannot name a submodule (clashes with an ``nn.Module`` attribute)."""
    if node_id.startswith("_"):
        return f"node id {node_id!r} is reserved: ids starting with '_' can clash with PyTorch internals; rename it"
    if node_id in _MODULE_ATTRS:
        return f"node id {node_id!r} clashes with a PyTorch module attribute of the same name; rename it (e.g. {node_id}_1)"
    return None


@dataclass(frozen=True)
class NodeError:
    node: str | None
    message: str
    graph: str = "model"
    level: str = "error"  # "error" blocks compiling; "warning" (e.g. a node not connected to the Output) does not

    def __str__(self) -> str:
        return f"{self.node}: {self.message}" if self.node else self.message

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "message": self.message, "graph": self.graph, "level": self.level}


@dataclass(frozen=True)
class NodeInfo:
    id: str
    type: str
    inputs: tuple[str, ...]
    output_shape: tuple[int, ...] | None
    params: int
    macs: int
    in_shapes: tuple[tuple[int, ...], ...] = ()  # the shapes arriving at the node (when all are known)
    dtype: str | None = None  # "float" or "long" (the output's dtype), None when unknown
    connected: bool = True  # False: the Output does not depend on this node (it is not built)


@dataclass
class CompileResult:
    ok: bool
    errors: list[NodeError]
    nodes: list[NodeInfo]  # topological order, ties broken by document order
    total_params: int
    total_macs: int
    input_ids: list[str]
    output_id: str | None
    graph: str
    _by_id: dict[str, NodeInfo] = field(default_factory=dict, repr=False)

    def node(self, node_id: str) -> NodeInfo | None:
        if not self._by_id:
            self._by_id = {n.id: n for n in self.nodes}
        return self._by_id.get(node_id)

    def errors_for(self, node_id: str | None) -> list[NodeError]:
        return [e for e in self.errors if e.node == node_id]

    @property
    def warnings(self) -> list[NodeError]:
        return [e for e in self.errors if e.level == "warning"]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "graph": self.graph,
            "errors": [e.to_json() for e in self.errors],
            "nodes": [
                {
                    "id": n.id,
                    "type": n.type,
                    "inputs": list(n.inputs),
                    "output_shape": None if n.output_shape is None else list(n.output_shape),
                    "params": n.params,
                    "macs": n.macs,
                }
                for n in self.nodes
            ],
            "input_ids": list(self.input_ids),
            "output_id": self.output_id,
            "total_params": self.total_params,
            "total_macs": self.total_macs,
        }


class CompileError(ValueError):
    """The graph cannot be built; ``errors`` lists every problem (each against its node)."""

    def __init__(self, errors: list[NodeError], graph: str = "model"):
        self.errors = errors
        self.graph = graph
        real = [e for e in errors if e.level == "error"]
        if len(real) == 1:
            msg = f"{graph}: {real[0]}"
        else:
            msg = f"{graph}: {len(real)} problems:\n" + "\n".join(f"  - {e}" for e in real)
        super().__init__(msg)


# ---------------------------------------------------------------------------------------------
# analysis (pure Python)


def _as_graph(graph: GraphSpec | dict, graph_path: str) -> tuple[GraphSpec | None, list[NodeError]]:
    if isinstance(graph, GraphSpec):
        return graph, []
    from pydantic import ValidationError

    try:
        return GraphSpec.model_validate(graph), []
    except ValidationError as exc:
        errs = []
        raw_nodes = graph.get("nodes") if isinstance(graph, dict) else None
        for e in exc.errors():
            loc = tuple(e["loc"])
            node = None
            if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int) and isinstance(raw_nodes, list):
                item = raw_nodes[loc[1]] if loc[1] < len(raw_nodes) else None
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    node = item["id"]
            where = ".".join(str(p) for p in loc)
            errs.append(NodeError(node, f"{where}: {e['msg'].removeprefix('Value error, ')}", graph_path))
        return None, errs
    except Exception as exc:  # not even a mapping
        return None, [NodeError(None, f"not a graph: {exc}", graph_path)]


def _stable_topo(ids: list[str], succ: dict[str, list[str]], indeg: dict[str, int]) -> list[str]:
    """Kahn's algorithm; among ready nodes the earliest in the document goes first."""
    pos = {n: i for i, n in enumerate(ids)}
    deg = dict(indeg)
    heap = [pos[n] for n in ids if deg[n] == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        n = ids[heapq.heappop(heap)]
        order.append(n)
        for m in succ[n]:
            deg[m] -= 1
            if deg[m] == 0:
                heapq.heappush(heap, pos[m])
    return order


def _cycles(nodes: list[str], succ: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components that are cycles (size > 1, or a self-loop), iteratively (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    allowed = set(nodes)
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            nexts = [w for w in succ[v] if w in allowed]
            recurse = False
            for j in range(i, len(nexts)):
                w = nexts[j]
                if w not in index:
                    work.append((v, j + 1))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in succ[v]:
                    out.append(comp)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return out


def _cycle_path(comp: list[str], succ: dict[str, list[str]], order: dict[str, int]) -> list[str]:
    """One concrete loop through the component, starting at its earliest node: [a, b, c, a]."""
    members = set(comp)
    start = min(comp, key=order.__getitem__)
    if start in succ[start]:
        return [start, start]
    # BFS from start's successors back to start
    prev: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        nxt = []
        for v in frontier:
            for w in succ[v]:
                if w not in members:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [*reversed(path), start]
                if w not in seen:
                    seen.add(w)
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return [*sorted(comp, key=order.__getitem__), start]  # pragma: no cover - a component always loops


def analyze(graph: GraphSpec | dict, graph_path: str = "model") -> CompileResult:
    """Check ``graph`` and infer every shape; never raises for a bad graph and allocates no tensors."""
    spec_graph, errors = _as_graph(graph, graph_path)
    if spec_graph is None:
        return CompileResult(False, errors, [], 0, 0, [], None, graph_path)

    def err(node: str | None, message: str, level: str = "error") -> None:
        errors.append(NodeError(node, message, graph_path, level))

    # -- nodes (first occurrence of an id wins) -----------------------------------------------
    nodes: dict[str, Any] = {}
    ids: list[str] = []
    bad: set[str] = set()  # nodes whose own declaration is wrong: they get no shape
    for n in spec_graph.nodes:
        if n.id in nodes:
            err(n.id, f"duplicate node id {n.id!r}: another node already uses it")
            bad.add(n.id)
            continue
        nodes[n.id] = n
        ids.append(n.id)
    order = {n: i for i, n in enumerate(ids)}

    # -- edges -----------------------------------------------------------------------------------
    succ: dict[str, list[str]] = {n: [] for n in ids}
    preds: dict[str, list[str]] = {n: [] for n in ids}
    seen_edges: set[tuple[str, str]] = set()
    for a, b in spec_graph.edges:
        if a not in nodes or b not in nodes:
            missing = [x for x in (a, b) if x not in nodes]
            known = b if a not in nodes and b in nodes else (a if a in nodes else None)
            err(known, f"connection {a} -> {b} refers to unknown node {missing[0]!r}")
            if known:
                bad.add(known)
            continue
        if (a, b) in seen_edges:
            err(b, f"the connection {a} -> {b} is listed twice")
            bad.add(b)
            continue
        seen_edges.add((a, b))
        succ[a].append(b)
        preds[b].append(a)

    # -- per node: type, reserved id, params, input count ----------------------------------------
    specs: dict[str, Any] = {}
    resolved: dict[str, dict[str, Any]] = {}
    input_ids: list[str] = []
    output_ids: list[str] = []
    for nid in ids:
        n = nodes[nid]
        msg = reserved_id_problem(nid)
        if msg:
            err(nid, msg)
            bad.add(nid)
        spec = get_layer(n.type)
        if spec is None:
            err(nid, f"unknown layer type {n.type!r} (see `layerlab layers`)")
            bad.add(nid)
            continue
        specs[nid] = spec
        if n.type == "Input":
            input_ids.append(nid)
        elif n.type == "Output":
            output_ids.append(nid)
        perrs = spec.validate(n.params)
        for pname, pmsg in perrs:
            err(nid, f"{pname}: {pmsg}" if pname else pmsg)
        if perrs:
            bad.add(nid)
        else:
            resolved[nid] = spec.resolve(n.params)
        k = len(preds[nid])
        if spec.max_inputs == 0 and k:
            err(nid, f"an {n.type} node takes no inputs, but {k} connection(s) lead into it")
            bad.add(nid)
        elif k < spec.min_inputs:
            need = (
                f"exactly {spec.min_inputs}" if spec.max_inputs == spec.min_inputs else f"at least {spec.min_inputs}"
            )
            what = "input" if spec.min_inputs == 1 else "inputs"
            got = "nothing is connected" if k == 0 else f"only {k} is connected"
            err(nid, f"{n.type} needs {need} {what}, but {got}")
            bad.add(nid)
        elif spec.max_inputs is not None and k > spec.max_inputs:
            err(nid, f"{n.type} takes {spec.max_inputs} input{'s' if spec.max_inputs > 1 else ''}, but {k} are connected ({', '.join(preds[nid])})")
            bad.add(nid)
        if n.type == "Output" and succ[nid]:
            err(nid, f"the Output node cannot feed other nodes (it connects to {', '.join(succ[nid])})")
            bad.add(nid)

    if not input_ids and ids:
        err(None, "the graph has no Input node: add one to say what shape the data has")
    elif not ids:
        err(None, "the graph is empty: add an Input, your layers and an Output")
    if not output_ids and ids:
        err(None, "the graph has no Output node: connect the last layer to an Output")
    for extra in output_ids[1:]:
        err(extra, f"a graph has exactly one Output; this one has {len(output_ids)} ({', '.join(output_ids)})")
        bad.add(extra)
    output_id = output_ids[0] if output_ids else None

    # -- order and cycles ----------------------------------------------------------------------
    indeg = {n: len(preds[n]) for n in ids}
    topo = _stable_topo(ids, succ, indeg)
    in_cycle: set[str] = set()
    if len(topo) < len(ids):
        done = set(topo)
        rest = [n for n in ids if n not in done]
        for comp in sorted(_cycles(rest, succ), key=lambda c: min(order[x] for x in c)):
            loop = _cycle_path(comp, succ, order)
            text = " -> ".join(loop)
            for nid in sorted(comp, key=order.__getitem__):
                err(nid, f"is part of a cycle ({text}); a model must flow one way, from Input to Output")
                in_cycle.add(nid)
        topo = topo + rest  # unordered remainder (cycles and what they feed), in document order

    # -- shapes, dtypes, counts ----------------------------------------------------------------
    shapes: dict[str, Shape | None] = {}
    dtypes: dict[str, str | None] = {}
    infos: list[NodeInfo] = []
    for nid in topo:
        spec = specs.get(nid)
        n = nodes[nid]
        srcs = tuple(preds[nid])
        shape: Shape | None = None
        dtype: str | None = None
        p_count = macs = 0
        in_shapes: tuple[Shape, ...] = ()
        ready = spec is not None and nid not in bad and nid not in in_cycle and nid in resolved
        if ready and all(shapes.get(s) is not None for s in srcs):
            in_shapes = tuple(shapes[s] for s in srcs)  # type: ignore[misc]
            in_dtypes = [dtypes[s] for s in srcs]
            params = resolved[nid]
            problem = _dtype_problem(spec, n.type, srcs, in_dtypes)
            if problem:
                err(nid, problem)
            else:
                try:
                    shape = tuple(int(x) for x in spec.infer(in_shapes, params))
                    if n.type == "Input":
                        dtype = params.get("dtype", "float")
                    elif spec.in_dtype == "any":
                        dtype = in_dtypes[0] if in_dtypes else "float"
                    else:
                        dtype = "float"
                    p_count, macs = (int(x) for x in spec.count(in_shapes, shape, params))
                except ShapeError as exc:
                    err(nid, str(exc))
                    shape = None
                except Exception as exc:  # a registry bug must not take the GUI down
                    err(nid, f"internal error while checking {n.type}: {type(exc).__name__}: {exc}")
                    shape = None
        shapes[nid] = shape
        dtypes[nid] = dtype if shape is not None else None
        infos.append(NodeInfo(nid, n.type, srcs, shape, p_count, macs, in_shapes, dtypes[nid]))

    # -- connectivity to the Output --------------------------------------------------------------
    live: set[str] = set()
    if output_id is not None:
        stack = [output_id]
        while stack:
            v = stack.pop()
            if v in live:
                continue
            live.add(v)
            stack.extend(preds[v])
        for nid in ids:
            if nid not in live and nid not in in_cycle:
                what = "this Input is not used" if nodes[nid].type == "Input" else "its result is never used"
                err(nid, f"not connected to the Output ({what})", "warning")
    infos = [
        NodeInfo(i.id, i.type, i.inputs, i.output_shape, i.params, i.macs, i.in_shapes, i.dtype, i.id in live)
        for i in infos
    ]

    ok = not any(e.level == "error" for e in errors)
    total_params = sum(i.params for i in infos if i.connected)
    total_macs = sum(i.macs for i in infos if i.connected)
    res = CompileResult(ok, errors, infos, total_params, total_macs, input_ids, output_id, graph_path)
    return res


def _dtype_problem(spec: Any, type_name: str, srcs: Sequence[str], in_dtypes: Sequence[str | None]) -> str | None:
    want = spec.in_dtype
    if want == "any":
        return None
    for s, d in zip(srcs, in_dtypes):
        if d != want:
            if want == "long":
                return f"{type_name} needs whole-number indices (an Input with dtype long), but {s} gives {d} values"
            return (
                f"{type_name} needs float values, but {s} gives whole-number indices (long); "
                "feed them through an Embedding first"
            )
    return None


# ---------------------------------------------------------------------------------------------
# building (imports torch lazily)


def compile_graph(graph: GraphSpec | dict, graph_path: str = "model") -> tuple[GraphModule, CompileResult]:
    """Analyze and build; raises ``CompileError`` (listing every problem) if the graph is not ok."""
    result = analyze(graph, graph_path)
    if not result.ok:
        raise CompileError(result.errors, graph_path)
    spec_graph, _ = _as_graph(graph, graph_path)
    assert spec_graph is not None
    return _module_class()(spec_graph, result), result


def _module_class() -> type:
    from .layers.modules import GraphModule  # torch is imported here, not by ``import engine.graph``

    return GraphModule


def __getattr__(name: str) -> Any:  # ``from engine.graph import GraphModule`` imports torch only then
    if name == "GraphModule":
        return _module_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _index_bound(input_id: str, spec_graph: GraphSpec) -> int:
    """Largest valid index + 1 for a long Input: min num_embeddings over the Embeddings it feeds."""
    succ: dict[str, list[str]] = {}
    for a, b in spec_graph.edges:
        succ.setdefault(a, []).append(b)
    bound: int | None = None
    stack, seen = [input_id], set()
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        for w in succ.get(v, []):
            n = spec_graph.node(w)
            if n is None:
                continue
            spec = get_layer(n.type)
            if n.type == "Embedding" and spec is not None:
                num = spec.resolve(n.params)["num_embeddings"]
                bound = num if bound is None else min(bound, num)
            elif spec is not None and spec.in_dtype == "any":
                stack.append(w)
    return bound if bound is not None else 2


__all__ = [
    "NodeError",
    "NodeInfo",
    "CompileResult",
    "CompileError",
    "GraphModule",
    "analyze",
    "compile_graph",
    "reserved_id_problem",
]
