"""Plain PyTorch source for a graph: an ``nn.Module`` class a learner can paste into a notebook.

The code is written from the same registry declarations the compiler builds from (each layer's
``construct`` names its class and keyword arguments), so the generated class has the same
submodule names as the compiled ``GraphModule`` and loads its ``state_dict`` as is (a test checks
identical outputs for every template and for random graphs). Custom layers that torch.nn lacks are
copied in from ``engine.layers.modules``, so the file needs nothing but torch.

Names are escaped: node ids become attributes through ``add_module``/``getattr`` when they are
Python keywords, local variables get a safe suffix, and text from the document (project name,
labels) only ever appears inside ``repr``-quoted strings or comments stripped of line breaks.
"""

from __future__ import annotations

import ast
import builtins
import functools
import keyword
import re
from pathlib import Path
from typing import Any

from ..layers import get_layer
from .analyze import CompileResult, analyze

# custom modules and the helpers their source needs
_NEEDS = {
    "RNN": ("_last_step", "_SequenceMixin"), "LSTM": ("_last_step", "_SequenceMixin"),
    "GRU": ("_last_step", "_SequenceMixin"), "PositionalEncoding": ("sinusoidal_table",),
}
_BUILTINS = set(dir(builtins))


def class_name_for(text: str, default: str = "Model") -> str:
    words = re.findall(r"[A-Za-z0-9]+", text or "")
    name = "".join(w[:1].upper() + w[1:] for w in words) or default
    if name[0].isdigit():
        name = f"{default}{name}"
    if keyword.iskeyword(name):
        name += "_"
    return name


def _var(node_id: str) -> str:
    """A local variable for a node's value that shadows nothing."""
    v = node_id
    if keyword.iskeyword(v) or v in _BUILTINS or v in ("self", "torch", "nn", "math"):
        v = f"{v}_"
    return v


def _comment(text: str) -> str:
    """Document text made safe for a comment or docstring: one line, no quotes or backslashes."""
    return re.sub(r"[\r\n]+", " ", str(text)).replace("\\", "/").replace('"', "'")[:200]


class _Writer:
    def __init__(self, blocks: dict[str, Any]):
        self.blocks = blocks
        self.custom: list[str] = []  # custom module classes used, in first-use order
        self.classes: list[str] = []  # generated class sources (blocks first, the model last)
        self.block_names: dict[tuple[str, tuple], str] = {}

    def use_custom(self, name: str) -> None:
        for dep in _NEEDS.get(name, ()):
            if dep not in self.custom:
                self.custom.append(dep)
        if name not in self.custom:
            self.custom.append(name)

    def module_expr(self, node_id: str, type_name: str, info: Any, params: dict[str, Any]) -> str:
        spec = get_layer(type_name)
        assert spec is not None
        if type_name == "Block":
            return f"{self.block_class(params['block'], info)}()"
        target, kwargs = spec.construct(list(info.in_shapes), spec.resolve(params))  # type: ignore[misc]
        mod, _, cls = target.rpartition(".")
        if mod == "torch.nn":
            ctor = f"nn.{cls}"
        else:
            self.use_custom(cls)
            ctor = cls
        args = ", ".join(f"{k}={_literal(v)}" for k, v in kwargs.items())
        return f"{ctor}({args})"

    def block_class(self, name: str, info: Any) -> str:
        key = (name, tuple(info.in_shapes))
        if key in self.block_names:
            return self.block_names[key]
        base = class_name_for(name, "Block")
        cls = base
        i = 2
        while cls in self.block_names.values():
            cls = f"{base}{i}"
            i += 1
        self.block_names[key] = cls
        self.classes.append(self.graph_class(self.blocks[name], info.inner, cls, f"block {name!r}"))
        return cls

    def graph_class(self, graph: Any, res: CompileResult, cls: str, what: str) -> str:
        nodes = {n.id: n for n in graph.nodes}
        init: list[str] = []
        body: list[str] = []
        for info in res.nodes:
            if not info.connected or info.type == "Input":
                continue
            n = nodes[info.id]
            spec = get_layer(info.type)
            srcs = ", ".join(_var(s) for s in info.inputs)
            if spec is None or (spec.construct is None and info.type != "Block"):
                body.append(f"        {_var(info.id)} = {srcs}")
                continue
            expr = self.module_expr(info.id, info.type, info, n.params)
            label = f"  # {_comment(n.label)}" if n.label else ""
            if keyword.iskeyword(info.id):
                init.append(f"        self.add_module({info.id!r}, {expr}){label}")
                call = f"getattr(self, {info.id!r})"
            else:
                init.append(f"        self.{info.id} = {expr}{label}")
                call = f"self.{info.id}"
            body.append(f"        {_var(info.id)} = {call}({srcs})")
        args = ", ".join(_var(i) for i in res.input_ids)
        shapes = ", ".join(
            f"{i}: {list(res.node(i).output_shape or ())}" for i in res.input_ids if res.node(i) is not None
        )
        out = res.node(res.output_id) if res.output_id else None
        lines = [
            f"class {cls}(nn.Module):",
            f'    """{_comment(what)}: inputs {shapes} (without the batch), output '
            f'{list(out.output_shape or ()) if out else []}."""',
            "",
            "    def __init__(self):",
            "        super().__init__()",
            *(init or ["        pass"]),
            "",
            f"    def forward(self, {args}):",
            *body,
            f"        return {_var(res.output_id or '')}",
        ]
        return "\n".join(lines)


def _literal(v: Any) -> str:
    if isinstance(v, (bool, int, str)) or v is None:
        return repr(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        inner = ", ".join(_literal(x) for x in v)
        return f"({inner},)" if isinstance(v, tuple) and len(v) == 1 else (f"({inner})" if isinstance(v, tuple) else f"[{inner}]")
    raise TypeError(f"cannot write {type(v).__name__} as Python")


@functools.lru_cache(maxsize=1)
def _module_sources() -> dict[str, str]:
    """The top-level classes and functions of engine/layers/modules.py, read as text (``ast``), so
    writing code never imports torch (the designer's code view runs this on every edit)."""
    path = Path(__file__).resolve().parent.parent / "layers" / "modules.py"
    text = path.read_text(encoding="utf-8")
    out = {}
    for node in ast.parse(text).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            out[node.name] = ast.get_source_segment(text, node) or ""
    return out


def _custom_source(name: str) -> str:
    return _module_sources()[name]


def python_source(project_or_graph: Any, graph_path: str = "model", class_name: str | None = None) -> str:
    """The PyTorch source of one graph (``model``, ``models.generator``, ...) of a project (or a bare
    graph). Raises ``CompileError`` when the graph does not compile."""
    from .analyze import CompileError

    project = project_or_graph if hasattr(project_or_graph, "graph_at") else None
    graph = project.graph_at(graph_path) if project is not None else project_or_graph
    blocks = (project.blocks or {}) if project is not None else {}
    res = analyze(graph, graph_path, blocks=blocks)
    if not res.ok:
        raise CompileError(res.errors, graph_path)
    if hasattr(graph, "model_validate") is False and isinstance(graph, dict):
        from ..project import GraphSpec

        graph = GraphSpec.model_validate(graph)
    name = getattr(project, "name", "") if project is not None else ""
    cls = class_name or class_name_for(name + ("" if graph_path == "model" else " " + graph_path.split(".")[-1]))
    w = _Writer(blocks)
    main = w.graph_class(graph, res, cls, f"{name or 'LayerLab model'} ({graph_path})")
    custom_src = [_custom_source(c) for c in w.custom]
    head = [
        f"# Generated by LayerLab from {_comment(repr(name or 'a project'))}, graph {graph_path}.",
        "# Plain PyTorch: the class has the same parameter names as LayerLab's compiled model, so",
        f"# {cls}().load_state_dict(torch.load('model.pt', weights_only=True)) loads trained weights.",
        "import math  # noqa: F401  (used by some layers)",
        "",
        "import torch",
        "from torch import nn",
        "",
    ]
    parts = ["\n".join(head), *custom_src, *w.classes, main]
    return "\n\n".join(p.rstrip() for p in parts) + "\n"


__all__ = ["python_source", "class_name_for"]
