"""Import a PyTorch ``nn.Module`` into a graph document of registry layers (the way back into the designer).

``torch.fx`` traces the module; every leaf module and tensor function becomes one node of a registry
layer with its parameters read from the module, edges name their input ports, and the weights are
renamed to the node ids (``layer1.0.conv1.weight`` -> ``layer1_0_conv1.weight``). An operation with
no registry layer is reported per node (``ImportProblem``) instead of guessed. ``import_module`` also
compiles the document, loads the weights and checks the outputs against the original module.

LayerLab's own module classes (``engine/layers/modules.py``: Reshape, LSTM/GRU/RNN, PositionalEncoding,
SequencePool, ...), which the code generator copies into its files, are kept whole (leaves of the
trace: their forward has control flow fx cannot follow) when their methods read as LayerLab's, and
become their registry layer, so the code generator's output imports back to the graph it came from.
``x.reshape(x.shape[0], ...)`` / ``x.view(x.size(0), -1)`` become Reshape / Flatten; an input that
only feeds Embeddings takes indices (dtype long); several inputs take one shape each.
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


def _padding_ok(m: Any) -> str | None:
    if isinstance(m.padding, str):
        return f"padding={m.padding!r} (give numbers)"
    if m.padding_mode != "zeros":
        return f"padding_mode={m.padding_mode!r} (only zeros)"
    return None


def _conv(m: nn.Conv2d) -> tuple[str, dict[str, Any]] | str:
    bad = _padding_ok(m)
    if bad:
        return bad
    return "Conv2d", {"out_channels": m.out_channels, "kernel_size": pair(m.kernel_size), "stride": pair(m.stride),
                      "padding": pair(m.padding), "dilation": pair(m.dilation), "groups": m.groups,
                      "bias": m.bias is not None}


def _conv1d(m: nn.Conv1d) -> tuple[str, dict[str, Any]] | str:
    bad = _padding_ok(m)
    if bad:
        return bad
    return "Conv1d", {"out_channels": m.out_channels, "kernel_size": m.kernel_size[0], "stride": m.stride[0],
                      "padding": m.padding[0], "dilation": m.dilation[0], "groups": m.groups,
                      "bias": m.bias is not None}


def _convt(m: nn.ConvTranspose2d) -> tuple[str, dict[str, Any]] | str:
    bad = _padding_ok(m)
    if bad:
        return bad
    return "ConvTranspose2d", {"out_channels": m.out_channels, "kernel_size": pair(m.kernel_size),
                               "stride": pair(m.stride), "padding": pair(m.padding),
                               "output_padding": pair(m.output_padding), "dilation": pair(m.dilation),
                               "groups": m.groups, "bias": m.bias is not None}


def _bn(typ: str) -> Any:
    def conv(m: nn.modules.batchnorm._BatchNorm) -> tuple[str, dict[str, Any]] | str:
        if m.momentum is None or not m.track_running_stats:
            return f"{typ} without running statistics / with a cumulative average is not supported"
        return typ, {"eps": float(m.eps), "momentum": float(m.momentum), "affine": bool(m.affine)}

    return conv


def _maxpool(m: nn.MaxPool2d) -> tuple[str, dict[str, Any]] | str:
    if m.dilation not in (1, (1, 1)) or m.ceil_mode or m.return_indices:
        return "MaxPool2d with dilation / ceil_mode / return_indices is not supported"
    return "MaxPool2d", {"kernel_size": pair(m.kernel_size), "stride": pair(m.stride or m.kernel_size),
                         "padding": pair(m.padding)}


def _avgpool(m: nn.AvgPool2d) -> tuple[str, dict[str, Any]] | str:
    if m.ceil_mode or not m.count_include_pad or m.divisor_override is not None:
        return "AvgPool2d with ceil_mode / count_include_pad=False / divisor_override is not supported"
    return "AvgPool2d", {"kernel_size": pair(m.kernel_size), "stride": pair(m.stride or m.kernel_size),
                         "padding": pair(m.padding)}


def _pool1d(typ: str) -> Any:
    def conv(m: Any) -> tuple[str, dict[str, Any]] | str:
        if getattr(m, "ceil_mode", False) or getattr(m, "return_indices", False) \
                or getattr(m, "dilation", 1) not in (1, (1,)) or not getattr(m, "count_include_pad", True):
            return f"{typ} with dilation / ceil_mode / return_indices / count_include_pad=False is not supported"
        def one(v: Any) -> int:
            return int(v[0]) if isinstance(v, (tuple, list)) else int(v)

        return typ, {"kernel_size": one(m.kernel_size), "stride": one(m.stride or m.kernel_size),
                     "padding": one(m.padding)}

    return conv


def _adaptive(m: nn.AdaptiveAvgPool2d) -> tuple[str, dict[str, Any]]:
    return "AdaptiveAvgPool2d", {"output_size": pair(m.output_size)}


def _adaptive1d(m: nn.AdaptiveAvgPool1d) -> tuple[str, dict[str, Any]]:
    size = m.output_size
    return "AdaptiveAvgPool1d", {"output_size": int(size[0] if isinstance(size, (tuple, list)) else size)}


def _upsample(m: nn.Upsample) -> tuple[str, dict[str, Any]] | str:
    f = m.scale_factor
    f = f[0] if isinstance(f, (tuple, list)) and len(set(f)) == 1 else f
    if m.size is not None or not isinstance(f, (int, float)) or float(f) != int(f) or m.mode not in ("nearest", "bilinear") \
            or m.align_corners:
        return "Upsample by a size, a fractional factor, align_corners or a mode other than nearest/bilinear"
    return "Upsample", {"scale_factor": int(f), "mode": m.mode}


def _layernorm(m: nn.LayerNorm) -> tuple[str, dict[str, Any]] | str:
    if len(m.normalized_shape) != 1:
        return f"LayerNorm over {list(m.normalized_shape)} (LayerLab normalises the last dimension only)"
    return "LayerNorm", {"eps": float(m.eps), "elementwise_affine": bool(m.elementwise_affine),
                         "bias": m.bias is not None if m.elementwise_affine else True}


def _embedding(m: nn.Embedding) -> tuple[str, dict[str, Any]] | str:
    if m.padding_idx is not None or m.max_norm is not None or m.sparse:
        return "Embedding with padding_idx / max_norm / sparse is not supported"
    return "Embedding", {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim}


def _unflatten(m: nn.Unflatten) -> tuple[str, dict[str, Any]] | str:
    if not isinstance(m.dim, int):
        return "Unflatten by a named dim"
    return "Unflatten", {"dim": m.dim, "unflattened_size": [int(v) for v in m.unflattened_size]}


def _softmax(typ: str) -> Any:
    def conv(m: Any) -> tuple[str, dict[str, Any]] | str:
        if m.dim is None:
            return f"{typ} without a dim"
        return typ, {"dim": int(m.dim)}

    return conv


def _encoder_layer(m: nn.TransformerEncoderLayer) -> tuple[str, dict[str, Any]] | str:
    act = {1: "relu", 2: "gelu"}.get(getattr(m, "activation_relu_or_gelu", 0))
    attn = m.self_attn
    if act is None:
        return "TransformerEncoderLayer with an activation other than relu or gelu"
    if not attn.batch_first or m.norm1.eps != 1e-5 or m.norm2.eps != 1e-5 or m.linear1.bias is None \
            or attn.in_proj_bias is None or not attn._qkv_same_embed_dim:
        return "TransformerEncoderLayer needs batch_first=True, layer_norm_eps=1e-5 and bias=True (LayerLab's)"
    return "TransformerEncoderLayer", {"nhead": attn.num_heads, "dim_feedforward": m.linear1.out_features,
                                       "dropout": float(m.dropout.p), "activation": act,
                                       "norm_first": bool(m.norm_first)}


MODULES: dict[type, Any] = {
    nn.Conv2d: _conv,
    nn.Conv1d: _conv1d,
    nn.ConvTranspose2d: _convt,
    nn.BatchNorm2d: _bn("BatchNorm2d"),
    nn.BatchNorm1d: _bn("BatchNorm1d"),
    nn.MaxPool2d: _maxpool,
    nn.AvgPool2d: _avgpool,
    nn.MaxPool1d: _pool1d("MaxPool1d"),
    nn.AvgPool1d: _pool1d("AvgPool1d"),
    nn.AdaptiveAvgPool2d: _adaptive,
    nn.AdaptiveAvgPool1d: _adaptive1d,
    nn.Upsample: _upsample,
    nn.Linear: lambda m: ("Linear", {"out_features": m.out_features, "bias": m.bias is not None}),
    nn.LayerNorm: _layernorm,
    nn.Embedding: _embedding,
    nn.TransformerEncoderLayer: _encoder_layer,
    nn.ReLU: lambda m: ("ReLU", {}),
    nn.Hardswish: lambda m: ("Hardswish", {}),
    nn.Hardsigmoid: lambda m: ("Hardsigmoid", {}),
    nn.Sigmoid: lambda m: ("Sigmoid", {}),
    nn.Tanh: lambda m: ("Tanh", {}),
    nn.GELU: lambda m: ("GELU", {"approximate": m.approximate}),
    nn.SiLU: lambda m: ("SiLU", {}),
    nn.ELU: lambda m: ("ELU", {"alpha": float(m.alpha)}),
    nn.LeakyReLU: lambda m: ("LeakyReLU", {"negative_slope": float(m.negative_slope)}),
    nn.Softmax: _softmax("Softmax"),
    nn.LogSoftmax: _softmax("LogSoftmax"),
    nn.Dropout: lambda m: ("Dropout", {"p": float(m.p)}),
    nn.Dropout2d: lambda m: ("Dropout2d", {"p": float(m.p)}),
    nn.Flatten: lambda m: ("Flatten", {"start_dim": m.start_dim, "end_dim": m.end_dim}),
    nn.Unflatten: _unflatten,
    nn.Identity: lambda m: ("Identity", {}),
}


def _recurrent(typ: str) -> Any:
    def conv(m: Any) -> tuple[str, dict[str, Any]]:
        params = {"hidden_size": m.hidden_size, "num_layers": m.num_layers, "bidirectional": bool(m.bidirectional),
                  "dropout": float(m.dropout), "return_sequence": bool(m.return_sequence), "bias": bool(m.bias)}
        if typ == "RNN":
            params["nonlinearity"] = m.nonlinearity
        return typ, params

    return conv


# LayerLab's own module classes (engine/layers/modules.py, which the code generator copies into its files):
# each is kept whole (a leaf of the trace) and becomes its registry layer
CUSTOM: dict[str, Any] = {
    "Reshape": lambda m: ("Reshape", {"shape": [int(v) for v in m.shape]}),
    "RNN": _recurrent("RNN"),
    "LSTM": _recurrent("LSTM"),
    "GRU": _recurrent("GRU"),
    "MultiheadAttention": lambda m: ("MultiheadAttention", {"num_heads": m.num_heads, "dropout": float(m.dropout),
                                                            "bias": m.in_proj_bias is not None}),
    "PositionalEncoding": lambda m: ("PositionalEncoding", {}),
    # init_std only shapes the starting values, which the import replaces with the module's own
    "LearnedPositionalEmbedding": lambda m: ("LearnedPositionalEmbedding", {}),
    "SequencePool": lambda m: ("SequencePool", {"mode": m.mode}),
    "Add": lambda m: ("Add", {}),
    "Multiply": lambda m: ("Multiply", {}),
    "Concat": lambda m: ("Concat", {"dim": int(m.dim)}),
}


def _methods(cls: type) -> dict[str, str]:
    import inspect
    import textwrap

    out = {}
    for k, v in vars(cls).items():
        if inspect.isfunction(v):
            out[k] = textwrap.dedent(inspect.getsource(v)).strip()
    return out


def layerlab_class(m: nn.Module) -> str | None:
    """The name of LayerLab's module class that ``m`` is an instance of, or a copy of as the code generator
    writes it (every method of every non-torch class in its MRO the same text), else None."""
    from ..layers import modules as lm

    cls = type(m)
    name = cls.__name__
    if name not in CUSTOM:
        return None
    ours = getattr(lm, name, None)
    if cls is ours:
        return name
    theirs = [k for k in cls.__mro__ if k is not object and not k.__module__.startswith("torch")]
    mine = [k for k in ours.__mro__ if k is not object and not k.__module__.startswith("torch")]
    if [k.__name__ for k in theirs] != [k.__name__ for k in mine]:
        return None
    try:
        if any(_methods(a) != _methods(b) for a, b in zip(theirs, mine)):
            return None
    except (OSError, TypeError):  # no source to compare (built in an interpreter session)
        return None
    return name


def _flatten_args(node: Any) -> tuple[int, int] | None:
    args = list(node.args[1:]) + [node.kwargs.get("start_dim"), node.kwargs.get("end_dim")]
    start = args[0] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
    end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
    if not isinstance(start, int) or not isinstance(end, int):
        return None
    return start, end


def _shapes_list(input_shape: Any) -> list[tuple[int, ...]]:
    """One shape ``(C, H, W)`` or a list of shapes (one per input) as a list of shapes."""
    if isinstance(input_shape, list) and all(isinstance(s, (tuple, list)) for s in input_shape):
        return [tuple(int(v) for v in s) for s in input_shape]
    return [tuple(int(v) for v in input_shape)]


class _Tracer:
    """``torch.fx.Tracer`` that keeps LayerLab's own module classes whole (their registry layer maps them)."""

    def __new__(cls) -> Any:
        import torch.fx as fx

        class T(fx.Tracer):
            def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
                return layerlab_class(m) is not None or super().is_leaf_module(m, qualname)

        return T()


def _batch_size_nodes(graph: Any) -> tuple[dict[str, Any], set[str]]:
    """fx nodes that compute ``x.shape[0]`` / ``x.size(0)`` (the batch size), by name -> the tensor node; and
    the ``x.shape`` / ``x.size()`` nodes they read."""
    out: dict[str, Any] = {}
    shapes: dict[str, Any] = {}
    for n in graph.nodes:
        if n.op == "call_function" and n.target is getattr and len(n.args) == 2 and n.args[1] == "shape":
            shapes[n.name] = n.args[0]
        elif n.op == "call_method" and n.target == "size" and len(n.args) == 1 and not n.kwargs:
            shapes[n.name] = n.args[0]
        elif n.op == "call_function" and n.target is operator.getitem and len(n.args) == 2 and n.args[1] == 0 \
                and getattr(n.args[0], "name", None) in shapes:
            out[n.name] = shapes[n.args[0].name]
        elif n.op == "call_method" and n.target == "size" and (n.args[1:] == (0,) or n.kwargs == {"dim": 0}):
            out[n.name] = n.args[0]
    return out, set(shapes)


def _placeholder_dtypes(traced: Any, mods: dict[str, nn.Module]) -> dict[str, str]:
    """``long`` for an input that only feeds Embeddings (they take indices), else ``float``."""
    out = {}
    for n in traced.graph.nodes:
        if n.op == "placeholder":
            users = list(n.users)
            emb = users and all(u.op == "call_module" and isinstance(mods.get(u.target), nn.Embedding) for u in users)
            out[n.name] = "long" if emb else "float"
    return out


def _index_high(n: Any, mods: dict[str, nn.Module]) -> int:
    return min(mods[u.target].num_embeddings for u in n.users)


def to_document(module: nn.Module, input_shape: Any, name: str = "imported",
                description: str = "") -> ImportResult:
    """Trace ``module`` and build the project document and its renamed state dict.

    ``input_shape``: one sample's shape, or a list with one shape per input (the forward's arguments,
    in order). An input that only feeds Embeddings takes indices (dtype long)."""
    import torch.fx as fx
    from torch.fx.passes.shape_prop import ShapeProp

    module = module.eval()
    try:
        graph = _Tracer().trace(module)
        traced = fx.GraphModule(module, graph)
    except Exception as exc:  # data-dependent control flow, unsupported Python
        raise ImportError_([ImportProblem("(trace)", f"torch.fx cannot trace this module: {str(exc)[:200]}")]) from None
    mods = dict(traced.named_modules())
    placeholders = [n for n in traced.graph.nodes if n.op == "placeholder"]
    shapes = _shapes_list(input_shape)
    if len(shapes) != len(placeholders):
        names = ", ".join(n.name for n in placeholders)
        raise ValueError(f"--input-shape: the module takes {len(placeholders)} input(s) ({names}); give one shape "
                         f"for each, separated by ';' (e.g. 64;  for a [64] vector and a class label [])")
    dtypes = _placeholder_dtypes(traced, mods)
    examples = []
    for n, shape in zip(placeholders, shapes):
        if dtypes[n.name] == "long":
            examples.append(torch.zeros(2, *shape, dtype=torch.long))
        else:
            examples.append(torch.zeros(2, *shape))
    try:
        ShapeProp(traced).propagate(*examples)
    except Exception as exc:  # noqa: BLE001 - the shapes do not fit the module
        what = "; ".join(f"{n.name}: {list(s)}" for n, s in zip(placeholders, shapes))
        first = str(exc).splitlines()[0][:200]
        raise ValueError(f"--input-shape: the module does not run on inputs of shape {what} ({first})") from None
    ids: dict[str, str] = {}
    doc = DocumentBuilder()
    problems: list[ImportProblem] = []
    batch_sizes, shape_reads = _batch_size_nodes(traced.graph)
    skipped: set[str] = set()  # nodes folded into a neighbour (x.shape[0] in a reshape)

    def shape_of(n: Any) -> tuple[int, ...] | None:
        meta = n.meta.get("tensor_meta") if hasattr(n, "meta") else None
        return tuple(meta.shape[1:]) if meta is not None and hasattr(meta, "shape") else None

    def add(fx_name: str, typ: str, params: dict[str, Any], srcs: list[Any], label: str | None = None) -> str:
        # a source missing from ids failed (reported) or was folded away
        nid = doc.add(typ, params, [ids[s.name] for s in srcs if s.name in ids], name=label or fx_name)
        ids[fx_name] = nid
        return nid

    def fail(n: Any, message: str, srcs: list[Any]) -> None:
        problems.append(ImportProblem(n.name if n.op != "call_module" else str(n.target), message))
        if srcs and srcs[0].name in ids:
            ids[n.name] = ids[srcs[0].name]  # later nodes still convert (and report)

    def reshape_target(n: Any) -> list[int] | None:
        """The sample shape of ``x.reshape(x.shape[0], ...)`` / ``x.view(-1, C, H, W)``, or None."""
        x = n.args[0]
        sizes = list(n.args[1:])
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = list(sizes[0])
        if not sizes:
            return None
        first, rest = sizes[0], sizes[1:]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in rest):
            return None
        batch = isinstance(first, fx.Node) and first.name in batch_sizes
        if not (batch or (first == -1 and all(v > 0 for v in rest))):
            return None
        ins = shape_of(x)
        out = shape_of(n)
        if ins is None or out is None:
            return None
        if batch:
            skipped.add(first.name)
        return list(out)

    for n in traced.graph.nodes:
        tensor_args = [a for a in n.args if isinstance(a, fx.Node)]
        if n.op == "placeholder":
            k = placeholders.index(n)
            params: dict[str, Any] = {"shape": list(shapes[k])}
            if dtypes[n.name] == "long":
                params["dtype"] = "long"
            add(n.name, "Input", params, [])
        elif n.op == "output":
            out = n.args[0]
            if not isinstance(out, fx.Node):
                problems.append(ImportProblem(n.name, "the model must return one tensor"))
                continue
            add("output", "Output", {}, [out])
        elif n.name in batch_sizes or n.name in shape_reads:
            continue  # the batch size: only meaningful inside a reshape (checked below)
        elif n.op == "call_module":
            m = mods[n.target]
            own = layerlab_class(m)
            conv = CUSTOM[own] if own else MODULES.get(type(m))
            got = conv(m) if conv else f"no LayerLab layer for {type(m).__module__}.{type(m).__name__}"
            if isinstance(got, str):
                fail(n, got, tensor_args)
                continue
            typ, params = got
            srcs = tensor_args if typ in ("Add", "Multiply", "Concat") else tensor_args[:1]
            nid = add(n.name, typ, params, srcs, label=str(n.target))
            doc.weights(nid, {k: v.detach().clone() for k, v in m.state_dict().items()})
        elif n.op == "call_function" and n.target in (operator.add, torch.add, operator.iadd):
            if len(tensor_args) != 2 or len(n.args) != 2:
                fail(n, "add with a constant or alpha is not supported", tensor_args)
                continue
            add(n.name, "Add", {}, tensor_args)
        elif n.op == "call_function" and n.target in (operator.mul, torch.mul):
            if len(tensor_args) != 2:
                fail(n, "multiplying by a constant is not supported", tensor_args)
                continue
            a, b = tensor_args
            sa, sb = shape_of(a), shape_of(b)
            if sa == sb:
                add(n.name, "Multiply", {}, [a, b])
            else:  # a gate: the full tensor first, the broadcast one second
                big, small = (a, b) if (sa and sb and sum(sa) >= sum(sb)) else (b, a)
                add(n.name, "Scale", {}, [big, small])
        elif n.op == "call_function" and n.target in (torch.cat, torch.concat):
            xs = n.args[0] if n.args else n.kwargs.get("tensors")
            dim = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim", 0)
            if not isinstance(xs, (tuple, list)) or not all(isinstance(x, fx.Node) for x in xs) \
                    or not isinstance(dim, int) or dim == 0:
                fail(n, "cat of computed lists or along the batch dim is not supported", list(xs or []))
                continue
            add(n.name, "Concat", {"dim": dim - 1 if dim > 0 else dim}, list(xs))
        elif (n.op == "call_function" and n.target is torch.flatten) or (n.op == "call_method" and n.target == "flatten"):
            fa = _flatten_args(n)
            if fa is None:
                fail(n, "flatten with non-constant dims", tensor_args)
                continue
            add(n.name, "Flatten", {"start_dim": fa[0], "end_dim": fa[1]}, tensor_args[:1])
        elif (n.op == "call_method" and n.target in ("reshape", "view")) or \
                (n.op == "call_function" and n.target is torch.reshape):
            target = reshape_target(n)
            if target is None:
                fail(n, f"{n.target if isinstance(n.target, str) else 'reshape'} that is not "
                     "x.reshape(x.shape[0], ...) / x.view(-1, ...) with whole numbers (it may mix the samples "
                     "of a batch)", tensor_args)
                continue
            if len(target) == 1:
                add(n.name, "Flatten", {}, tensor_args[:1])
            else:
                add(n.name, "Reshape", {"shape": target}, tensor_args[:1])
        elif n.op == "call_function" and n.target in (torch.relu, torch.nn.functional.relu):
            add(n.name, "ReLU", {}, tensor_args[:1])
        elif n.op == "call_function" and n.target is torch.nn.functional.adaptive_avg_pool2d:
            size = n.args[1] if len(n.args) > 1 else n.kwargs.get("output_size")
            add(n.name, "AdaptiveAvgPool2d", {"output_size": pair(size)}, tensor_args[:1])
        elif n.op == "get_attr":
            fail(n, f"the tensor {n.target} used directly in forward has no LayerLab layer (a parameter or "
                 "buffer belongs to a layer)", [])
        else:
            what = getattr(n.target, "__name__", str(n.target))
            fail(n, f"{n.op} {what!s} has no LayerLab layer", tensor_args)
    for b in batch_sizes:  # a batch size used for anything but a reshape
        node = next(n for n in traced.graph.nodes if n.name == b)
        if b not in skipped and node.users:
            problems.append(ImportProblem(b, "the batch size used outside x.reshape(x.shape[0], ...)"))
    if problems:
        raise ImportError_(problems, name)
    project = doc.project(name, description)
    highs = [_index_high(n, mods) if dtypes[n.name] == "long" else 0 for n in placeholders]
    return ImportResult(project, doc.state, mapping=dict(ids), source_nodes=len(traced.graph.nodes),
                        input_highs=highs)


def example_inputs(project: Any, highs: list[int], batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Seeded random inputs for the document's Input nodes: floats, or indices below ``highs``."""
    g = torch.Generator().manual_seed(seed)
    ins = [n for n in project.model.nodes if n.type == "Input"]
    out = []
    for node, high in zip(ins, highs):
        shape = tuple(node.params["shape"])
        if node.params.get("dtype") == "long":
            out.append(torch.randint(0, max(1, high), (batch, *shape), generator=g))
        else:
            out.append(torch.randn(batch, *shape, generator=g))
    return tuple(out)


def import_module(module: nn.Module, input_shape: Any, name: str = "imported", description: str = "",
                  tol: float = 1e-4) -> ImportResult:
    """``to_document`` plus a check: the compiled document with the weights gives the module's outputs."""
    res = to_document(module, input_shape, name, description)
    compiled = compile_with_weights(res)
    xs = example_inputs(res.project, res.input_highs)
    with torch.no_grad():
        want, got = module.eval()(*xs), compiled(*xs)
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
