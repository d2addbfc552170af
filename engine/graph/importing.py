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
    reference: str = ""  # what the outputs were checked against ("the module", "onnxruntime")
    input_highs: list[int] = field(default_factory=list)  # per input: indices below this (long inputs), else 0

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


SOURCES = "MODEL.py:ClassName | torchvision:NAME | MODEL.onnx"
TORCHVISION = ("resnet18", "resnet34", "mobilenet_v3_small")  # the torchvision:NAME allow-list


def parse_input_shape(text: str | None) -> tuple[int, ...] | list[tuple[int, ...]] | None:
    """``"3,224,224"`` -> (3, 224, 224); ``"64;"`` (one shape per input, ``;`` between them, empty for a
    scalar such as a class label) -> [(64,), ()]; ValueError naming the flag for anything else."""
    if not text:
        return None
    if ";" in text:
        return [_one_shape(part, text, scalar_ok=True) for part in text.split(";")]
    return _one_shape(text, text)


def _one_shape(part: str, text: str, scalar_ok: bool = False) -> tuple[int, ...]:
    part = part.replace(" ", "")
    if scalar_ok and part in ("", "()", "[]"):
        return ()
    try:
        shape = tuple(int(v) for v in part.strip("()[]").split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise ValueError(f"--input-shape: give positive sizes such as 3,224,224 (or one shape per input separated "
                         f"by ';', e.g. 64; for a vector and a class label), not {text!r}")
    return shape


_GENERATED_INPUTS = re.compile(r": inputs ((?:[A-Za-z_][A-Za-z0-9_]*: \[[0-9, ]*\](?:, )?)+) \(without the batch\)")


def generated_input_shapes(klass: type) -> list[tuple[int, ...]] | None:
    """The input shapes LayerLab's code generator writes into a class's docstring (``inputs noise: [64],
    label: [] (without the batch)``), read as text; None for any other class."""
    m = _GENERATED_INPUTS.search(klass.__doc__ or "")
    if not m:
        return None
    return [tuple(int(v) for v in sizes.split(",") if v.strip())
            for sizes in re.findall(r"\[([0-9, ]*)\]", m.group(1))]


def load_module_source(source: str) -> tuple[Any, str, Any]:
    """(module, name, default input shape) for ``MODEL.py:ClassName`` or ``torchvision:NAME``; ValueError
    names what is wrong. The default shape is the one LayerLab's code generator wrote into the class's
    docstring (a list of shapes for several inputs), else 3,224,224 for torchvision and 1,28,28."""
    import importlib.util

    if source.startswith("torchvision:"):
        from .fx_import import torchvision_model

        name = source.split(":", 1)[1]
        return torchvision_model(name), name, (3, 224, 224)
    path, sep, cls = source.rpartition(":")
    if not sep or not path.endswith(".py"):
        raise ValueError(f"{source}: give {SOURCES}")
    if not Path(path).is_file():
        raise ValueError(f"{path}: file not found")
    # the user's own model file, named by the user, is imported (run) like `python MODEL.py`
    spec = importlib.util.spec_from_file_location(f"layerlab_import_{Path(path).stem}", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path}: cannot import it as a Python module")
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as exc:  # noqa: BLE001 - the user's file: any failure is a message, not a traceback
        raise ValueError(f"{path}: importing it failed: {type(exc).__name__}: {exc}") from None
    klass = getattr(mod, cls, None)
    if klass is None or not isinstance(klass, type):
        raise ValueError(f"{path}: has no class {cls!r}")
    shapes = generated_input_shapes(klass)
    default: Any = (1, 28, 28) if not shapes else shapes[0] if len(shapes) == 1 else shapes
    try:
        return klass(), cls, default
    except TypeError as exc:
        raise ValueError(f"{path}:{cls}: cannot be built without arguments ({exc})") from None


def import_source(source: str, input_shape: tuple[int, ...] | None = None, weights: str | None = None,
                  description: str | None = None) -> ImportResult:
    """Import ``MODEL.onnx``, ``MODEL.py:ClassName`` or ``torchvision:NAME`` and check the result.

    What ``layerlab import`` and the studio's File > Import model both call. Raises ``ImportError_``
    (nodes without a layer, per node), ``ValueError`` (a bad source, shape or weights file: the
    message names it) or ``RuntimeError`` (the imported graph does not give the source's outputs)."""
    description = description if description is not None else f"Imported from {source} by `layerlab import`."
    if source.lower().endswith(".onnx"):
        if weights:
            raise ValueError("--weights: an ONNX file carries its own weights")
        from .onnx_import import import_onnx

        res = import_onnx(source, input_shape, description=description)
        res.reference = "onnxruntime"
        return res
    module, name, shape = load_module_source(source)
    if weights:
        from ..train.checkpoint import CheckpointError, read_torch_file

        try:
            module.load_state_dict(read_torch_file(weights))
        except (CheckpointError, RuntimeError) as exc:
            raise ValueError(f"--weights: {weights}: {str(exc).splitlines()[0][:200]}") from None
    from .fx_import import import_module

    res = import_module(module, input_shape or shape, name, description=description)
    res.reference = "the module"
    return res


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
