"""Analyze a graph document: topological order, shape inference, every problem against its node.

``analyze`` is pure Python (it never imports torch and allocates no tensors): it orders the nodes,
infers every shape with the registry's ``infer`` functions, counts parameters and MACs with the
registry's ``count`` formulas, and collects *every* problem against its node id. It is the one place
where graph rules live; the loader, ``layerlab check``, the designer's badges and Train all read it.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..layers import ShapeError, get_layer
from ..project import GraphSpec

if TYPE_CHECKING:  # pragma: no cover
    from ..project import Project
    from .fixes import Fix

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
    param: str | None = None  # the parameter the problem is about (the inspector shows it under that field)
    fixes: tuple[Fix, ...] = ()  # one-click repairs (engine.graph.fixes), filled by analyze_project
    kind: str = ""  # a stable code for the kind of problem ("feature_map_into_linear", ...), used by fixes

    def __str__(self) -> str:
        if self.node and self.param:
            return f"{self.node}: {self.param}: {self.message}"
        return f"{self.node}: {self.message}" if self.node else self.message

    @property
    def path(self) -> str:
        """The document path: ``model.nodes[c1].params.kernel_size`` (one path syntax everywhere)."""
        if self.node is None:
            return self.graph
        base = f"{self.graph}.nodes[{self.node}]"
        return f"{base}.params.{self.param}" if self.param else base

    def to_json(self) -> dict[str, Any]:
        d = {"node": self.node, "message": self.message, "graph": self.graph, "level": self.level, "path": self.path}
        if self.param:
            d["param"] = self.param
        if self.fixes:
            d["fixes"] = [f.title for f in self.fixes]
        return d


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
    inner: CompileResult | None = None  # a Block node: the analysis of its graph with these inputs


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


MAX_BLOCK_DEPTH = 16


def analyze(graph: GraphSpec | dict, graph_path: str = "model", *, blocks: dict[str, GraphSpec] | None = None,
            input_shapes: Sequence[tuple[int, ...]] | None = None, input_dtypes: Sequence[str | None] | None = None,
            _stack: tuple[str, ...] = ()) -> CompileResult:
    """Check ``graph`` and infer every shape; never raises for a bad graph and allocates no tensors.

    ``blocks``: the project's block definitions (for ``Block`` nodes). ``input_shapes``/``input_dtypes``:
    when this graph is a block's inside, what arrives at its Input nodes (in their document order)
    replaces their declared shapes, so one block definition fits wherever it is used.
    """
    spec_graph, errors = _as_graph(graph, graph_path)
    if spec_graph is None:
        return CompileResult(False, errors, [], 0, 0, [], None, graph_path)

    def err(node: str | None, message: str, level: str = "error", *, param: str | None = None,
            kind: str = "") -> None:
        errors.append(NodeError(node, message, graph_path, level, param, (), kind))

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
    incoming: dict[str, list[tuple[int, str]]] = {n: [] for n in ids}
    for e in spec_graph.edges:
        a, b = e.src, e.dst
        if a not in nodes or b not in nodes:
            missing = [x for x in (a, b) if x not in nodes]
            known = b if a not in nodes and b in nodes else (a if a in nodes else None)
            errors.append(NodeError(known, f"connection {a} -> {b} refers to unknown node {missing[0]!r}", graph_path,
                                    kind="dangling_edge"))
            if known:
                bad.add(known)
            continue
        if (a, b) in seen_edges:
            err(b, f"the connection {a} -> {b} is listed twice")
            bad.add(b)
            continue
        seen_edges.add((a, b))
        succ[a].append(b)
        incoming[b].append((e.port, a))
    for b, ins in incoming.items():
        ins.sort(key=lambda t: t[0])  # stable: equal ports keep list order
        ports = [p for p, _ in ins]
        if len(set(ports)) != len(ports):
            dup = sorted({p for p in ports if ports.count(p) > 1})
            err(b, f"input port {dup[0]} is fed by more than one connection "
                   f"({', '.join(a for p, a in ins if p == dup[0])}); give each connection its own port")
            bad.add(b)
        elif ports and ports != list(range(len(ports))):
            missing_port = next(i for i in range(len(ports) + 1) if i not in ports)
            err(b, f"input port {missing_port} is empty (connected ports: {', '.join(map(str, ports))}); "
                   "inputs are numbered from 0 without gaps")
            bad.add(b)
        preds[b] = [a for _, a in ins]

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
            err(nid, pmsg, param=pname or None, kind="bad_param")
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
    given = list(input_shapes) if input_shapes is not None else None
    if given is not None and len(given) != len(input_ids):
        err(None, f"this block has {len(input_ids)} Input node(s) but {len(given)} connection(s) lead into it")
        given = None
    given_at = {nid: i for i, nid in enumerate(input_ids)} if given is not None else {}
    for nid in topo:
        spec = specs.get(nid)
        n = nodes[nid]
        srcs = tuple(preds[nid])
        shape: Shape | None = None
        dtype: str | None = None
        p_count = macs = 0
        inner: CompileResult | None = None
        in_shapes: tuple[Shape, ...] = ()
        ready = spec is not None and nid not in bad and nid not in in_cycle and nid in resolved
        if ready and all(shapes.get(s) is not None for s in srcs):
            in_shapes = tuple(shapes[s] for s in srcs)  # type: ignore[misc]
            in_dtypes = [dtypes[s] for s in srcs]
            params = resolved[nid]
            problem = _dtype_problem(spec, n.type, srcs, in_dtypes)
            if problem:
                err(nid, problem)
            elif n.type == "Block":
                inner = _analyze_block(nid, params.get("block"), in_shapes, in_dtypes, blocks, _stack, err)
                if inner is not None and inner.output_id is not None:
                    out = inner.node(inner.output_id)
                    shape, dtype = (out.output_shape, out.dtype) if out is not None else (None, None)
                    p_count, macs = inner.total_params, inner.total_macs
            else:
                try:
                    if nid in given_at:
                        shape = tuple(int(x) for x in given[given_at[nid]])  # type: ignore[index]
                        dtype = (input_dtypes[given_at[nid]] if input_dtypes else None) or "float"
                    else:
                        shape = tuple(int(x) for x in spec.infer(in_shapes, params))
                    if n.type == "Input":
                        dtype = dtype if nid in given_at else params.get("dtype", "float")
                    elif spec.in_dtype == "any":
                        dtype = in_dtypes[0] if in_dtypes else "float"
                    else:
                        dtype = "float"
                    if n.type == "Linear" and len(in_shapes[0]) >= 3:
                        flat = 1
                        for d in in_shapes[0]:
                            flat *= d
                        raise ShapeError(
                            f"Linear works on the last dimension only, but {srcs[0]} gives a feature map "
                            f"{_shape_text(in_shapes[0])}: it would mix just the {in_shapes[0][-1]} values of each row. "
                            f"Insert a Flatten before {nid} so it sees all {flat:,} values",
                            kind="feature_map_into_linear",
                        )
                    p_count, macs = (int(x) for x in spec.count(in_shapes, shape, params))
                except ShapeError as exc:
                    err(nid, str(exc), kind=getattr(exc, "kind", "") or "shape")
                    shape = None
                except Exception as exc:  # a registry bug must not take the GUI down
                    err(nid, f"internal error while checking {n.type}: {type(exc).__name__}: {exc}")
                    shape = None
        shapes[nid] = shape
        dtypes[nid] = dtype if shape is not None else None
        infos.append(NodeInfo(nid, n.type, srcs, shape, p_count, macs, in_shapes, dtypes[nid], True, inner))

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
        NodeInfo(i.id, i.type, i.inputs, i.output_shape, i.params, i.macs, i.in_shapes, i.dtype, i.id in live, i.inner)
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


def _shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _analyze_block(nid: str, name: Any, in_shapes: Sequence[Shape], in_dtypes: Sequence[str | None],
                   blocks: dict[str, GraphSpec] | None, stack: tuple[str, ...], err: Any) -> CompileResult | None:
    """A Block node: its definition analysed with the shapes that arrive here; problems land on the node."""
    defs = blocks or {}
    if not isinstance(name, str) or name not in defs:
        known = ", ".join(sorted(defs)) or "none"
        err(nid, f"block {name!r} is not defined in this project (blocks: {known})", param="block", kind="unknown_block")
        return None
    if name in stack or len(stack) >= MAX_BLOCK_DEPTH:
        err(nid, f"block {name!r} contains itself ({' -> '.join([*stack, name])}); a block cannot be nested in itself",
            kind="recursive_block")
        return None
    inner = analyze(defs[name], f"blocks.{name}", blocks=defs, input_shapes=in_shapes, input_dtypes=in_dtypes,
                    _stack=(*stack, name))
    real = [e for e in inner.errors if e.level == "error"]
    if real:
        first = real[0]
        more = f" (and {len(real) - 1} more problem{'s' if len(real) > 2 else ''} inside)" if len(real) > 1 else ""
        where = f"{first.node}: " if first.node else ""
        err(nid, f"inside block {name}: {where}{first.message}{more}", kind="block_inner")
    return inner


def analyze_project(project: Project, *, data: Any = "auto") -> dict[str, CompileResult]:
    """Every graph of the project analysed, with one-click fixes attached to its errors.

    Model graphs (``model`` or ``models.ROLE``) first, then each block definition on its own (with
    the shapes of its first use, else its declared Input shapes). The one call behind the designer's
    badges, the project panel, ``layerlab check`` and Train.

    ``data``: the dataset facts the model is checked against (``engine.graph.datacheck``): "auto"
    reads them cheaply from ``project.data``, a ``DataFacts`` gives them, None skips those rules.
    """
    from .datacheck import add_data_problems, data_facts
    from .fixes import attach_fixes

    blocks = project.blocks or {}
    out: dict[str, CompileResult] = {}
    for gpath, g in project.graphs().items():
        out[gpath] = analyze(g, gpath, blocks=blocks)
    first_use: dict[str, NodeInfo] = {}
    for res in list(out.values()):
        for info in _walk_infos(res):
            if info.type == "Block" and info.inner is not None:
                first_use.setdefault(info.inner.graph.removeprefix("blocks."), info)
    for name, g in blocks.items():
        use = first_use.get(name)
        if use is not None and use.inner is not None:
            out[f"blocks.{name}"] = use.inner
        else:
            out[f"blocks.{name}"] = analyze(g, f"blocks.{name}", blocks=blocks, _stack=(name,))
    facts = data_facts(project.data, project.train.task) if isinstance(data, str) and data == "auto" else data
    out = add_data_problems(project, out, facts)
    return {k: attach_fixes(project, k, r) for k, r in out.items()}


def _walk_infos(res: CompileResult):
    for info in res.nodes:
        yield info
        if info.inner is not None:
            yield from _walk_infos(info.inner)


def problems_of(results: dict[str, CompileResult], level: str = "error") -> list[NodeError]:
    """Errors (or warnings) of the model graphs; a block's own problems show on the nodes that use it."""
    return [e for k, r in results.items() if not k.startswith("blocks.") for e in r.errors if e.level == level]


__all__ = [
    "NodeError",
    "NodeInfo",
    "CompileResult",
    "analyze",
    "analyze_project",
    "problems_of",
    "reserved_id_problem",
]
