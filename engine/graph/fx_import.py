"""Import a PyTorch ``nn.Module`` into a graph document of registry layers (the way back into the designer).

``torch.fx`` traces the module; every leaf module and tensor function becomes one node of a registry
layer with its parameters read from the module, edges name their input ports, and the weights are
renamed to the node ids (``layer1.0.conv1.weight`` -> ``layer1_0_conv1.weight``). An operation with
no registry layer is reported per node (``ImportProblem``) instead of guessed. ``import_module`` also
compiles the document, loads the weights and checks the outputs against the original module.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
from torch import nn

from .importing import (
    TORCHVISION,
    DocumentBuilder,
    ImportError_,
    ImportProblem,
    ImportResult,
    compile_with_weights,
    pair,
)

__all__ = ["ImportError_", "ImportProblem", "ImportResult", "to_document", "import_module", "torchvision_model"]


def _conv(m: nn.Conv2d) -> tuple[str, dict[str, Any]] | str:
    if isinstance(m.padding, str):
        return f"padding={m.padding!r} (give numbers)"
    if m.padding_mode != "zeros":
        return f"padding_mode={m.padding_mode!r} (only zeros)"
    return "Conv2d", {"out_channels": m.out_channels, "kernel_size": pair(m.kernel_size), "stride": pair(m.stride),
                      "padding": pair(m.padding), "dilation": pair(m.dilation), "groups": m.groups,
                      "bias": m.bias is not None}


def _bn(m: nn.BatchNorm2d) -> tuple[str, dict[str, Any]] | str:
    if m.momentum is None or not m.track_running_stats:
        return "BatchNorm2d without running statistics / with a cumulative average is not supported"
    return "BatchNorm2d", {"eps": float(m.eps), "momentum": float(m.momentum), "affine": bool(m.affine)}


def _maxpool(m: nn.MaxPool2d) -> tuple[str, dict[str, Any]] | str:
    if m.dilation not in (1, (1, 1)) or m.ceil_mode or m.return_indices:
        return "MaxPool2d with dilation / ceil_mode / return_indices is not supported"
    return "MaxPool2d", {"kernel_size": pair(m.kernel_size), "stride": pair(m.stride or m.kernel_size),
                         "padding": pair(m.padding)}


def _adaptive(m: nn.AdaptiveAvgPool2d) -> tuple[str, dict[str, Any]]:
    return "AdaptiveAvgPool2d", {"output_size": pair(m.output_size)}


MODULES: dict[type, Any] = {
    nn.Conv2d: _conv,
    nn.BatchNorm2d: _bn,
    nn.MaxPool2d: _maxpool,
    nn.AdaptiveAvgPool2d: _adaptive,
    nn.Linear: lambda m: ("Linear", {"out_features": m.out_features, "bias": m.bias is not None}),
    nn.ReLU: lambda m: ("ReLU", {}),
    nn.Hardswish: lambda m: ("Hardswish", {}),
    nn.Hardsigmoid: lambda m: ("Hardsigmoid", {}),
    nn.Sigmoid: lambda m: ("Sigmoid", {}),
    nn.Tanh: lambda m: ("Tanh", {}),
    nn.GELU: lambda m: ("GELU", {"approximate": m.approximate}),
    nn.SiLU: lambda m: ("SiLU", {}),
    nn.LeakyReLU: lambda m: ("LeakyReLU", {"negative_slope": float(m.negative_slope)}),
    nn.Dropout: lambda m: ("Dropout", {"p": float(m.p)}),
    nn.Flatten: lambda m: ("Flatten", {"start_dim": m.start_dim, "end_dim": m.end_dim}),
    nn.Identity: lambda m: ("Identity", {}),
}


def _flatten_args(node: Any) -> tuple[int, int] | None:
    args = list(node.args[1:]) + [node.kwargs.get("start_dim"), node.kwargs.get("end_dim")]
    start = args[0] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
    end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
    if not isinstance(start, int) or not isinstance(end, int):
        return None
    return start, end


def to_document(module: nn.Module, input_shape: tuple[int, ...], name: str = "imported",
                description: str = "") -> ImportResult:
    """Trace ``module`` and build the project document and its renamed state dict."""
    import torch.fx as fx
    from torch.fx.passes.shape_prop import ShapeProp

    module = module.eval()
    try:
        traced = fx.symbolic_trace(module)
    except Exception as exc:  # data-dependent control flow, unsupported Python
        raise ImportError_([ImportProblem("(trace)", f"torch.fx cannot trace this module: {str(exc)[:200]}")]) from None
    ShapeProp(traced).propagate(torch.zeros(2, *input_shape))
    mods = dict(traced.named_modules())
    ids: dict[str, str] = {}
    doc = DocumentBuilder()
    problems: list[ImportProblem] = []
    inputs = 0

    def shape_of(n: Any) -> tuple[int, ...] | None:
        meta = n.meta.get("tensor_meta") if hasattr(n, "meta") else None
        return tuple(meta.shape[1:]) if meta is not None and hasattr(meta, "shape") else None

    def add(fx_name: str, typ: str, params: dict[str, Any], srcs: list[Any], label: str | None = None) -> str:
        nid = doc.add(typ, params, [ids[s.name] for s in srcs], name=label or fx_name)
        ids[fx_name] = nid
        return nid

    for n in traced.graph.nodes:
        tensor_args = [a for a in n.args if isinstance(a, fx.Node)]
        if n.op == "placeholder":
            inputs += 1
            add(n.name, "Input", {"shape": list(input_shape)}, [])
        elif n.op == "output":
            out = n.args[0]
            if not isinstance(out, fx.Node):
                problems.append(ImportProblem(n.name, "the model must return one tensor"))
                continue
            add("output", "Output", {}, [out])
        elif n.op == "call_module":
            m = mods[n.target]
            conv = MODULES.get(type(m))
            got = conv(m) if conv else f"no LayerLab layer for {type(m).__module__}.{type(m).__name__}"
            if isinstance(got, str):
                problems.append(ImportProblem(n.target, got))
                add(n.name, "Identity", {}, tensor_args[:1])
                continue
            typ, params = got
            nid = add(n.name, typ, params, tensor_args[:1], label=str(n.target))
            doc.weights(nid, {k: v.detach().clone() for k, v in m.state_dict().items()})
        elif n.op == "call_function" and n.target in (operator.add, torch.add, operator.iadd):
            if len(tensor_args) != 2 or len(n.args) != 2:
                problems.append(ImportProblem(n.name, "add with a constant or alpha is not supported"))
                add(n.name, "Identity", {}, tensor_args[:1])
                continue
            add(n.name, "Add", {}, tensor_args)
        elif n.op == "call_function" and n.target in (operator.mul, torch.mul):
            if len(tensor_args) != 2:
                problems.append(ImportProblem(n.name, "multiplying by a constant is not supported"))
                add(n.name, "Identity", {}, tensor_args[:1])
                continue
            a, b = tensor_args
            sa, sb = shape_of(a), shape_of(b)
            if sa == sb:
                add(n.name, "Multiply", {}, [a, b])
            else:  # a gate: the full tensor first, the broadcast one second
                big, small = (a, b) if (sa and sb and sum(sa) >= sum(sb)) else (b, a)
                add(n.name, "Scale", {}, [big, small])
        elif n.op == "call_function" and n.target is torch.flatten:
            fa = _flatten_args(n)
            if fa is None:
                problems.append(ImportProblem(n.name, "flatten with non-constant dims"))
                add(n.name, "Identity", {}, tensor_args[:1])
                continue
            add(n.name, "Flatten", {"start_dim": fa[0], "end_dim": fa[1]}, tensor_args[:1])
        elif n.op == "call_function" and n.target in (torch.relu, torch.nn.functional.relu):
            add(n.name, "ReLU", {}, tensor_args[:1])
        elif n.op == "call_function" and n.target is torch.nn.functional.adaptive_avg_pool2d:
            size = n.args[1] if len(n.args) > 1 else n.kwargs.get("output_size")
            add(n.name, "AdaptiveAvgPool2d", {"output_size": pair(size)}, tensor_args[:1])
        else:
            what = getattr(n.target, "__name__", str(n.target))
            problems.append(ImportProblem(n.name, f"{n.op} {what!s} has no LayerLab layer"))
            add(n.name, "Identity", {}, tensor_args[:1])
    if problems:
        raise ImportError_(problems, name)
    project = doc.project(name, description)
    return ImportResult(project, doc.state, mapping=dict(ids), source_nodes=len(traced.graph.nodes))


def import_module(module: nn.Module, input_shape: tuple[int, ...], name: str = "imported", description: str = "",
                  tol: float = 1e-4) -> ImportResult:
    """``to_document`` plus a check: the compiled document with the weights gives the module's outputs."""
    res = to_document(module, input_shape, name, description)
    compiled = compile_with_weights(res)
    x = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want, got = module.eval()(x), compiled(x)
    res.max_abs_diff = float((want - got).abs().max())
    if not res.max_abs_diff <= tol:
        raise RuntimeError(f"the imported graph's outputs differ from the module's by {res.max_abs_diff:.3g}")
    return res




def torchvision_model(name: str) -> nn.Module:
    """A torchvision classification model, randomly initialised (nothing is downloaded)."""
    if name not in TORCHVISION:  # an allow-list: the name comes from the command line
        raise ValueError(f"torchvision:{name}: not supported (supported: {', '.join('torchvision:' + n for n in TORCHVISION)})")
    import torchvision.models as tvm

    return getattr(tvm, name)(weights=None)
