"""What the two importers share (``fx_import`` for PyTorch modules, ``onnx_import`` for ONNX graphs).

Problems are reported per node (``ImportProblem``, collected into one ``ImportError_``); a
``DocumentBuilder`` turns nodes, edges and weights into a project document (ids that are valid
submodule names, edges with ports, positions from the designer's auto-layout); ``write_import``
writes ``P.json`` and its weights ``P.pt`` the way ``layerlab import`` and the studio both do.
Importing this module does not import torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NOT_WEIGHTS = ("running_mean", "running_var", "num_batches_tracked")  # buffers, not learned parameters


@dataclass(frozen=True)
class ImportProblem:
    node: str
    message: str

    def __str__(self) -> str:
        return f"{self.node}: {self.message}"


class ImportError_(ValueError):
    """The model cannot be imported: ``problems`` says where (one entry per node)."""

    def __init__(self, problems: list[ImportProblem], what: str = "the model",
                 head: str = "operation(s) have no LayerLab layer"):
        self.problems = problems
        self.what = what
        super().__init__(f"{what} cannot be imported: {len(problems)} {head}\n"
                         + "\n".join(f"  - {p}" for p in problems[:20])
                         + (f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""))


@dataclass
class ImportResult:
    project: Any  # engine.project.Project
    state_dict: dict[str, Any]  # tensors named after the node ids (``conv1.weight``)
    max_abs_diff: float | None = None  # the compiled document against the source model
    mapping: dict[str, str] = field(default_factory=dict)  # source node name -> node id
    source_nodes: int = 0  # operations in the source graph
    notes: list[str] = field(default_factory=list)  # what the import changed or assumed, for people
    preprocessing: dict[str, Any] | None = None  # ONNX: the input prefix turned into data settings

    @property
    def params(self) -> int:
        return param_count(self.state_dict)


def param_count(state: dict[str, Any]) -> int:
    return sum(int(v.numel()) for k, v in state.items() if not k.endswith(NOT_WEIGHTS))


def pair(v: Any) -> Any:
    """A square (k, k) tuple becomes k (as the designer writes it); others stay lists."""
    if isinstance(v, (tuple, list)):
        v = [int(x) for x in v]
        return v[0] if len(set(v)) == 1 else v
    return int(v)


def node_id(name: str, taken: set[str]) -> str:
    """``name`` made into a free, valid node id (``layer1.0.conv1`` -> ``layer1_0_conv1``); added to ``taken``."""
    from .analyze import reserved_id_problem

    base = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "node"
    if not re.match(r"[A-Za-z_]", base):
        base = "n_" + base
    base = base[:56]
    nid, i = base, 1
    while nid in taken or reserved_id_problem(nid):
        nid = f"{base}_{i}"
        i += 1
    taken.add(nid)
    return nid


class DocumentBuilder:
    """Nodes, edges and weights, added in topological order, then one ``Project``."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.edges: list[Any] = []
        self.state: dict[str, Any] = {}
        self.taken: set[str] = set()
        self._by_id: dict[str, Any] = {}

    def add(self, typ: str, params: dict[str, Any], srcs: list[str], name: str | None = None) -> str:
        """A node of registry layer ``typ`` fed by the nodes ``srcs`` (in port order); its id.

        ``name`` (a module path or source node name) becomes the id; without one the id reads like the
        designer's own (``relu1``, ``pool2``)."""
        from ..edits import new_node_id
        from ..project import EdgeSpec, GraphSpec, NodeSpec

        if name:
            nid = node_id(name, self.taken)
        else:
            nid = new_node_id(GraphSpec(), typ, self.taken)
            self.taken.add(nid)
        node = NodeSpec(id=nid, type=typ, params=params, pos=(0.0, 90.0 * len(self.nodes)))
        self.nodes.append(node)
        self._by_id[nid] = node
        for port, s in enumerate(srcs):
            self.edges.append(EdgeSpec(src=s, dst=nid, port=port))
        return nid

    def node(self, nid: str) -> Any:
        return self._by_id[nid]

    def set_param(self, nid: str, key: str, value: Any) -> None:
        node = self._by_id[nid]
        node.params = {**node.params, key: value}

    def weights(self, nid: str, tensors: dict[str, Any]) -> None:
        for k, v in tensors.items():
            self.state[f"{nid}.{k}"] = v

    def graph(self, layout: bool = True) -> Any:
        from ..project import GraphSpec

        g = GraphSpec(nodes=self.nodes, edges=self.edges)
        if layout and self.nodes:
            from .layout import layout_graph

            pos = layout_graph([n.id for n in g.nodes], g.edge_pairs())
            for n in g.nodes:
                if n.id in pos:
                    n.pos = (float(pos[n.id][0]), float(pos[n.id][1]))
        return g

    def project(self, name: str, description: str = "", data: dict[str, Any] | None = None) -> Any:
        from ..project import DataSpec, Project

        kw: dict[str, Any] = {"data": DataSpec.model_validate(data)} if data else {}
        return Project(name=name[:200] or "imported", description=description, model=self.graph(), **kw)


def write_import(result: ImportResult, out: str | Path) -> Path:
    """Write the project to ``out`` and its weights beside it (``out`` with ``.pt``); the weights' path."""
    import torch

    from ..fsutil import atomic_write_with
    from ..project import save_project

    out = Path(out)
    weights = out.with_suffix(".pt")
    atomic_write_with(weights, lambda fh: torch.save(result.state_dict, fh))
    save_project(result.project, out)
    return weights


def compile_with_weights(result: ImportResult) -> Any:
    """The imported document compiled, its weights loaded (strictly), in eval mode."""
    from . import compile_graph

    compiled, _ = compile_graph(result.project.model, graph_path="model")
    compiled.load_state_dict(result.state_dict)
    return compiled.eval()
