"""Import an ONNX graph into a graph document of registry layers (the way back into the designer).

``import_onnx(path)`` loads the file (external data only from inside the model's folder), runs ONNX
shape inference, folds constant sub-graphs, and maps each operation to a registry layer with its
weights (``Conv`` -> Conv2d, ``Gemm`` / ``MatMul`` [+ ``Add``] -> Linear, ``Mul`` by a broadcast gate
-> Scale, ...; ``OPS`` lists them). The element-wise prefix LayerLab's own export puts in front of the
model (``pixels / 255``, then ``- mean``, ``/ std``; or any ``Mul``/``Add``/``Sub``/``Div`` by
per-channel constants on an image input) becomes the project's data normalisation
(``data.augment`` ``normalize``), so an exported model comes back as the project it was. An
operation with no registry layer is reported per node (``ImportError_``), never guessed. The result
is checked: the compiled document with its weights, fed what the project's data settings make of
random pixels, against onnxruntime on those pixels.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .importing import DocumentBuilder, ImportError_, ImportProblem, ImportResult, compile_with_weights, pair

TOL = 1e-4  # max abs difference allowed (relative to the outputs' size when they exceed 1)
CHECK_BATCH = 4

# ONNX op -> the registry layer(s) it becomes (the README's table is this one)
OPS = {
    "Conv": "Conv2d / Conv1d", "ConvTranspose": "ConvTranspose2d", "Gather": "Embedding (rows of a constant table)",
    "BatchNormalization": "BatchNorm2d / BatchNorm1d", "Relu": "ReLU",
    "LeakyRelu": "LeakyReLU", "Elu": "ELU", "Gelu": "GELU", "Sigmoid": "Sigmoid", "Tanh": "Tanh",
    "HardSwish": "Hardswish", "HardSigmoid": "Hardsigmoid (alpha 1/6, beta 0.5)", "Softmax": "Softmax",
    "LogSoftmax": "LogSoftmax", "MaxPool": "MaxPool2d / MaxPool1d", "AveragePool": "AvgPool2d / AvgPool1d",
    "GlobalAveragePool": "AdaptiveAvgPool2d(1)", "ReduceMean": "AdaptiveAvgPool2d(1) (over H, W)",
    "Flatten": "Flatten", "Reshape": "Flatten or Reshape", "Gemm": "Linear", "MatMul": "Linear (+ Add: its bias)",
    "Add": "Add (two tensors) or the bias of the Conv/Linear before it", "Sub": "the bias of the Conv/Linear before it",
    "Mul": "Multiply (same shapes) or Scale (a broadcast gate)", "Concat": "Concat", "Dropout": "Dropout",
    "Identity": "(dropped)", "Cast": "(dropped: float to float)",
}
_FLOATS = (1, 10, 11, 16)  # FLOAT, FLOAT16, DOUBLE, BFLOAT16
_NO_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
            "Loop", "If", "Scan"}
_CONTROL = {"Loop", "If", "Scan"}
BATCH = -(2**40) + 7  # what ``Shape`` gives for the batch axis while folding (``view(x.size(0), -1)``)


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:  # pragma: no cover - the export extra is not installed
        raise ValueError("importing ONNX needs the onnx package: pip install 'layerlab[export]'") from None
    return onnx


# ---------------------------------------------------------------------------------------------
# loading, with external data only from inside the model's folder


def _tensors(graph: Any) -> Any:
    """Every TensorProto of ``graph``: initializers, Constant attributes, and those of sub-graphs."""
    yield from graph.initializer
    for sp in graph.sparse_initializer:
        yield sp.values
        yield sp.indices
    for node in graph.node:
        for a in node.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            if a.HasField("g"):
                yield from _tensors(a.g)
            for g in a.graphs:
                yield from _tensors(g)


def load_model(path: str | Path) -> Any:
    """The ModelProto of ``path``; ValueError (naming the file) for a missing, broken or hostile one."""
    onnx = _onnx()
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: file not found")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends: not an ONNX file
        raise ValueError(f"{p}: not an ONNX model ({type(exc).__name__}: {str(exc)[:120]})") from None
    external = [t for t in _tensors(model.graph) if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        base = p.resolve().parent
        for t in external:
            loc = {e.key: e.value for e in t.external_data}.get("location", "")
            target = (base / loc).resolve()
            if not loc or Path(loc).is_absolute() or not target.is_relative_to(base):
                raise ValueError(f"{p}: tensor {t.name!r} keeps its data in {loc!r}, outside the model's folder; "
                                 "refusing to read it")
            if not target.is_file():
                raise ValueError(f"{p}: tensor {t.name!r}: its data file {loc!r} is missing")
        from onnx.external_data_helper import load_external_data_for_model

        try:
            load_external_data_for_model(model, str(base))
        except Exception as exc:  # noqa: BLE001 - truncated or unreadable data files
            raise ValueError(f"{p}: cannot read its external data: {str(exc)[:200]}") from None
    return model


# ---------------------------------------------------------------------------------------------
# the conversion


@dataclass
class _Plan:
    """What the check needs besides the document: the input's name, dtype, batch and value range."""

    input_name: str
    input_dtype: Any
    batch: int
    input_range: float | None  # 255 (raw pixels), 1 (0..1 values) or None (the model's own input, as is)
    # the inputs after the first (a conditional GAN's class label): (name, ONNX type, sample shape, index bound)
    extra: tuple[tuple[str, Any, tuple[int, ...], int], ...] = ()


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _f32(v: float) -> float:
    """The shortest decimal that reads back as the same float32 (0.1307, not 0.13070000708103180)."""
    return float(str(np.float32(v)))


def _per_channel(c: np.ndarray, rank: int, channels: int, axis: int = 1) -> np.ndarray | None:
    """``c`` as one value per channel when it broadcasts like that over a ``rank``-d tensor, else None."""
    pc = [1] * rank
    pc[axis] = channels
    if c.ndim > rank:
        return None
    try:
        if tuple(np.broadcast_shapes(c.shape, tuple(pc))) != tuple(pc):
            return None
    except ValueError:
        return None
    return np.broadcast_to(c, pc).reshape(channels).astype(np.float64)


class _Converter:
    def __init__(self, model: Any, input_shape: tuple[int, ...] | None, what: str):
        onnx = _onnx()
        self.onnx = onnx
        self.what = what
        self.model = model
        g = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        inits = {t.name for t in g.initializer}
        self.inputs = [i for i in g.input if i.name not in inits]
        self.doc = DocumentBuilder()
        self.problems: list[ImportProblem] = []
        self.notes: list[str] = []
        self.src: dict[str, str] = {}  # tensor name -> node id producing it
        self.mapping: dict[str, str] = {}  # onnx node name -> node id
        self.bias_slot: dict[str, tuple[str, int, int]] = {}  # tensor -> (node id, channels, axis) it can take a bias
        self.skip: set[int] = set()  # node indices consumed by a neighbour (prefix, a folded bias)
        self.prefix_msg: str | None = None
        self.fused: dict[int, tuple[str, str, dict[str, Any]]] = {}  # node index -> (layer, input tensor, params)
        self._check_io(input_shape)
        self._shapes()
        self._constants()
        self._consumers()
        self._fusions()

    # -- inputs, shapes, constants ---------------------------------------------------------------
    def _check_io(self, input_shape: tuple[int, ...] | None) -> None:
        g = self.model.graph
        if not self.inputs:
            raise ImportError_([ImportProblem("(inputs)", "the model takes no input")], self.what, "problem(s)")
        if len(g.output) != 1:
            raise ImportError_([ImportProblem("(outputs)", f"the model gives {len(g.output)} outputs; LayerLab "
                                              "imports models with one output")], self.what, "problem(s)")
        shapes: list[Any] = [None] * len(self.inputs)
        if isinstance(input_shape, list):
            if len(input_shape) != len(self.inputs):
                raise ValueError(f"--input-shape: the model takes {len(self.inputs)} input(s) "
                                 f"({', '.join(i.name for i in self.inputs)}), not {len(input_shape)}")
            shapes = list(input_shape)
        elif input_shape is not None:
            shapes[0] = input_shape
        self.samples: list[tuple[int, ...]] = []
        self.elems: list[int] = []
        for k, (inp, given) in enumerate(zip(self.inputs, shapes)):
            tt = inp.type.tensor_type
            if not inp.type.HasField("tensor_type") or not tt.HasField("shape") or len(tt.shape.dim) < 1 \
                    or (k == 0 and len(tt.shape.dim) < 2 and len(self.inputs) == 1):
                raise ValueError(f"{self.what}: its input {inp.name!r} has no batch axis and sample shape "
                                 "(LayerLab needs [batch, ...])")
            dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
            sample = dims[1:]
            if given is not None:
                if len(given) != len(sample):
                    raise ValueError(f"--input-shape: the model's input {inp.name!r} has {len(sample)} sizes per "
                                     f"sample ({', '.join('?' if d is None else str(d) for d in sample)}), not "
                                     f"{len(given)}")
                sample = list(given)
            if any(d is None or d < 1 for d in sample):
                raise ValueError(f"{self.what}: the input {inp.name!r} has sizes that are not fixed "
                                 f"({', '.join('?' if d is None else str(d) for d in sample)}); give --input-shape "
                                 f"with {len(sample)} sizes (e.g. {','.join(['3', '224', '224'][:len(sample)] or ['16'])})")
            self.samples.append(tuple(int(d) for d in sample))
            self.elems.append(tt.elem_type)
            if k == 0:
                self.batch = dims[0] if dims[0] else None
        self.input_name = self.inputs[0].name
        self.sample = self.samples[0]
        self.elem = self.elems[0]
        self.input_shape_overridden = input_shape is not None

    def _shapes(self) -> None:
        onnx = self.onnx
        m = onnx.ModelProto()
        m.CopyFrom(self.model)
        for name, sample in zip((i.name for i in self.inputs), self.samples):
            inp = next(i for i in m.graph.input if i.name == name)
            for d, v in zip(inp.type.tensor_type.shape.dim[1:], sample):
                d.dim_value = v
        del m.graph.value_info[:]
        try:
            m = onnx.shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
        except Exception as exc:  # noqa: BLE001 - shapes help the mapping; the check catches the rest
            self.notes.append(f"ONNX shape inference failed ({str(exc)[:120]}); shapes are taken from the layers")
        self.shapes: dict[str, tuple[int | None, ...]] = {}
        for vi in [*m.graph.input, *m.graph.value_info, *m.graph.output]:
            t = vi.type.tensor_type
            if vi.type.HasField("tensor_type") and t.HasField("shape"):
                self.shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)

    def sample_shape(self, name: str) -> tuple[int, ...] | None:
        s = self.shapes.get(name)
        if s is None or len(s) < 1 or any(d is None for d in s[1:]):
            return None
        return tuple(int(d) for d in s[1:])

    def _constants(self) -> None:
        from onnx import numpy_helper

        self.consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in self.model.graph.initializer}
        self.const_nodes: set[int] = set()
        for i, node in enumerate(self.model.graph.node):
            ins = [x for x in node.input if x]
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                v = self._constant_value(node)
                if v is not None:
                    self.consts[node.output[0]] = v
                    self.const_nodes.add(i)
            elif node.op_type == "Shape" and ins and ins[0] not in self.consts:
                shape = self.shapes.get(ins[0])
                if shape and all(d is not None for d in shape[1:]):  # the batch stands in as BATCH
                    a = _attrs(node)
                    full = np.array([BATCH, *shape[1:]], dtype=np.int64)
                    self.consts[node.output[0]] = full[a.get("start", 0):a.get("end", len(full))]
                    self.const_nodes.add(i)
            elif ins and all(x in self.consts for x in ins) and node.op_type not in _NO_FOLD \
                    and node.domain in ("", "ai.onnx"):
                outs = self._fold(node)
                if outs is not None:
                    self.consts.update(zip(node.output, outs))
                    self.const_nodes.add(i)

    def _constant_value(self, node: Any) -> np.ndarray | None:
        from onnx import numpy_helper

        a = _attrs(node)
        if "value" in a:
            return numpy_helper.to_array(a["value"])
        for k, dt in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                      ("value_ints", np.int64)):
            if k in a:
                return np.asarray(a[k], dtype=dt)
        return None

    def _fold(self, node: Any) -> list[np.ndarray] | None:
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        ins = [x for x in node.input if x]
        try:
            vis = [helper.make_tensor_value_info(x, helper.np_dtype_to_tensor_dtype(self.consts[x].dtype),
                                                 self.consts[x].shape) for x in ins]
            outs = [helper.make_empty_tensor_value_info(o) for o in node.output if o]
            g = helper.make_graph([node], "fold", vis, outs)
            m = helper.make_model(g, opset_imports=list(self.model.opset_import))
            return [np.asarray(v) for v in ReferenceEvaluator(m).run(None, {x: self.consts[x] for x in ins})]
        except Exception:  # noqa: BLE001 - left unfolded; reported if a layer needs it as a constant
            return None

    def _consumers(self) -> None:
        self.consumers: dict[str, list[int]] = {}
        for i, node in enumerate(self.model.graph.node):
            if i in self.const_nodes:
                continue
            for x in node.input:
                if x:
                    self.consumers.setdefault(x, []).append(i)
        self.graph_outputs = {o.name for o in self.model.graph.output}

    def only_consumer(self, tensor: str, i: int) -> bool:
        return self.consumers.get(tensor) == [i] and tensor not in self.graph_outputs

    def _sole_next(self, tensor: str) -> tuple[int, Any] | None:
        cs = self.consumers.get(tensor, [])
        if len(cs) != 1 or tensor in self.graph_outputs:
            return None
        return cs[0], self.model.graph.node[cs[0]]

    def _other(self, node: Any, tensor: str, value: float | None = None) -> str | None:
        """The input of a two-input ``node`` that is not ``tensor`` (and, with ``value``, a constant that close)."""
        if len(node.input) != 2 or tensor not in node.input:
            return None
        other = node.input[1] if node.input[0] == tensor else node.input[0]
        if value is not None:
            c = self.consts.get(other)
            if c is None or c.size != 1 or not math.isclose(float(c.reshape(-1)[0]), value, rel_tol=1e-5):
                return None
        return other

    def _fusions(self) -> None:
        """Layers older exporters spell out: GELU as x * 0.5 * (1 + erf(x / sqrt 2)), Hardswish as
        x * HardSigmoid(x)."""
        nodes = self.model.graph.node
        for i, n in enumerate(nodes):
            if i in self.const_nodes:
                continue
            if n.op_type == "Erf":
                chain = self._gelu_chain(i, n)
                if chain:
                    *inner, last, x = chain
                    self.skip.update(inner)
                    self.fused[last] = ("GELU", x, {"approximate": "none"})
            elif n.op_type == "HardSigmoid":
                a = _attrs(n)
                nxt = self._sole_next(n.output[0])
                if nxt and nxt[1].op_type == "Mul" and self._other(nxt[1], n.output[0]) == n.input[0] \
                        and math.isclose(a.get("alpha", 0.2), 1 / 6, rel_tol=1e-5) \
                        and math.isclose(a.get("beta", 0.5), 0.5, rel_tol=1e-6):
                    self.skip.add(i)
                    self.fused[nxt[0]] = ("Hardswish", n.input[0], {})

    def _gelu_chain(self, i: int, erf: Any) -> list[Any] | None:
        nodes = self.model.graph.node
        div = next((k for k, m in enumerate(nodes) if erf.input[0] in m.output), None)
        if div is None or not self.only_consumer(erf.input[0], i):
            return None
        d = nodes[div]
        x = d.input[0] if d.op_type == "Div" and self._other(d, d.input[0], math.sqrt(2)) else \
            next((t for t in d.input if d.op_type == "Mul" and self._other(d, t, 1 / math.sqrt(2))), None)
        if x is None or x in self.consts:
            return None
        add = self._sole_next(erf.output[0])
        if not add or add[1].op_type != "Add" or self._other(add[1], erf.output[0], 1.0) is None:
            return None
        mul = self._sole_next(add[1].output[0])
        if not mul or mul[1].op_type != "Mul" or self._other(mul[1], add[1].output[0]) != x:
            return None
        half = self._sole_next(mul[1].output[0])
        if not half or half[1].op_type != "Mul" or self._other(half[1], mul[1].output[0], 0.5) is None:
            return None
        return [div, i, add[0], mul[0], half[0], x]

    # -- the preprocessing prefix ----------------------------------------------------------------
    def prefix(self) -> tuple[dict[str, Any] | None, float | None, str]:
        """Recognise element-wise constant steps on an image input: (data settings, the input's range, the
        tensor the model proper starts from)."""
        nodes = self.model.graph.node
        t = self.input_name
        steps: list[tuple[str, np.ndarray]] = []
        used: list[int] = []
        cast = False
        if len(self.sample) != 3 or len(self.inputs) != 1:
            return None, None, t
        channels = self.sample[0]
        while True:
            cs = self.consumers.get(t, [])
            if len(cs) != 1 or t in self.graph_outputs:
                break
            i = cs[0]
            n = nodes[i]
            if n.op_type == "Cast" and not steps and _attrs(n).get("to") == 1:
                cast, t = True, n.output[0]
                used.append(i)
                continue
            if n.op_type not in ("Div", "Mul", "Sub", "Add") or len(n.input) != 2:
                break
            a, b = n.input
            if a == t and b in self.consts:
                c = self.consts[b]
            elif b == t and a in self.consts and n.op_type in ("Mul", "Add"):
                c = self.consts[a]
            else:
                break
            vec = _per_channel(np.asarray(c, dtype=np.float64), 4, channels)
            if vec is None or not np.all(np.isfinite(vec)) or (n.op_type in ("Div", "Mul") and np.any(vec == 0)):
                break
            steps.append((n.op_type, vec))
            used.append(i)
            t = n.output[0]
        if self.elem not in _FLOATS and not cast:
            self.problems.append(ImportProblem("(input)", f"the input {self.input_name!r} holds ONNX type "
                                               f"{self.elem}; LayerLab models take float values"))
        if not steps and not cast:
            self.notes.append("no preprocessing found in front of the model: the document takes the model's input "
                              "as it is (LayerLab's datasets feed 0-1 pixel values; set data.augment normalize "
                              "if the model expects normalised ones)")
            return None, None, t
        a = np.ones(channels)
        b = np.zeros(channels)
        for op, v in steps:
            if op == "Div":
                a, b = a / v, b / v
            elif op == "Mul":
                a, b = a * v, b * v
            elif op == "Sub":
                b = b - v
            else:
                b = b + v
        first = steps[0] if steps else None
        div255 = first is not None and ((first[0] == "Div" and np.allclose(first[1], 255.0))
                                        or (first[0] == "Mul" and np.allclose(first[1], 1 / 255.0)))
        pixels = div255 or (cast and self.elem not in _FLOATS)  # bytes in: 0..255 whatever follows
        rng = 255.0 if pixels else 1.0
        a01 = a * rng  # the model's input from 0..1 values: a01 * x + b
        norms: list[dict[str, Any]] = []
        rest = steps[1:] if div255 else steps
        exact = (div255 or not pixels) and rest and len(rest) % 2 == 0 and all(
            x[0] == "Sub" and y[0] == "Div" and np.all(y[1] > 0) for x, y in zip(rest[::2], rest[1::2]))
        if np.allclose(a01, 1.0, rtol=1e-6, atol=0) and np.allclose(b, 0.0, atol=1e-7):
            norms = []
        elif exact:
            norms = [_norm(x[1], y[1]) for x, y in zip(rest[::2], rest[1::2])]  # LayerLab's own export, exactly
        elif np.all(a01 > 0):
            std = 1.0 / a01
            norms = [_norm(-b * std, std)]
        else:
            self.prefix_msg = ("a preprocessing step that LayerLab's data settings cannot express (normalize needs "
                               "a positive std)")
            return None, None, self.input_name
        self.skip.update(used)
        names = [nodes[i].name or nodes[i].op_type for i in used]
        pre = {"input_range": f"0-{rng:g}", "nodes": names,
               "normalize": [{"mean": n["mean"], "std": n["std"]} for n in norms]}
        what = "raw pixels 0-255" if pixels else "values 0-1"
        self.notes.append(f"preprocessing recognised ({', '.join(names)}): the ONNX model takes {what}; "
                          + (f"data.augment normalize {pre['normalize']}" if norms else "no normalisation"))
        self.pre = pre
        return ({"augment": [{"type": "normalize", "params": n} for n in norms]} if norms else None), rng, t

    # -- the layers --------------------------------------------------------------------------------
    def convert(self, name: str, description: str) -> tuple[ImportResult, _Plan]:
        self.pre: dict[str, Any] | None = None
        data, rng, start = self.prefix()
        self.src[start] = self.doc.add("Input", {"shape": list(self.sample)}, [], name="input")
        for inp, sample, elem in list(zip(self.inputs, self.samples, self.elems))[1:]:
            params: dict[str, Any] = {"shape": list(sample)}
            if elem not in _FLOATS:
                params["dtype"] = "long"
            self.src[inp.name] = self.doc.add("Input", params, [], name=inp.name)
        self.names = self._module_names()
        for i, node in enumerate(self.model.graph.node):
            if i in self.const_nodes or i in self.skip:
                continue
            label = node.name or f"{node.op_type}_{i}"
            try:
                if i in self.fused:
                    typ, x, params = self.fused[i]
                    self._add(i, node, label, typ, params, [self.src[x]])
                    continue
                self._node(i, node, label)
            except _Unsupported as exc:
                self.problems.append(ImportProblem(f"{label} ({node.op_type})", str(exc)))
                self._placeholder(node)
        out = self.model.graph.output[0].name
        if out not in self.src or out in {i.name for i in self.inputs}:
            self.problems.append(ImportProblem("(output)", f"the output {out!r} is a constant or the input itself"))
        else:
            self.doc.add("Output", {}, [self.src[out]], name="output")
        if not self.problems:
            self._analyze()
        if self.problems:
            raise ImportError_(self.problems, self.what, "node(s) cannot be imported")
        project = self.doc.project(name, description, data)
        res = ImportResult(project, self.doc.state, mapping=dict(self.mapping),
                           source_nodes=len(self.model.graph.node), notes=self.notes, preprocessing=self.pre)
        batch = self.batch or CHECK_BATCH
        extra = tuple((inp.name, elem, sample, self._index_bound(inp.name))
                      for inp, sample, elem in list(zip(self.inputs, self.samples, self.elems))[1:])
        return res, _Plan(self.input_name, self.elem, batch, rng, extra)

    def _index_bound(self, name: str) -> int:
        """The rows of the smallest table an index input looks up (valid indices for the check)."""
        rows = [int(self.consts[n.input[0]].shape[0]) for k in self.consumers.get(name, [])
                for n in [self.model.graph.node[k]] if n.op_type == "Gather" and n.input[0] in self.consts]
        return min(rows) if rows else 1

    def _placeholder(self, node: Any) -> None:
        """A failed node's outputs come from its first input, so later nodes still convert (and report)."""
        first = next((x for x in node.input if x in self.src), None)
        for o in node.output:
            if first is not None:
                self.src[o] = self.src[first]

    def _analyze(self) -> None:
        from .analyze import analyze

        res = analyze(self.doc.graph(layout=False), "model")
        back = {v: k for k, v in self.mapping.items()}
        for e in res.errors:
            if e.level == "error":
                where = f"{back.get(e.node, e.node)} [{e.node}]" if e.node else "(graph)"
                self.problems.append(ImportProblem(where, e.message))

    def _module_names(self) -> dict[str, str]:
        """Weight tensor name -> a readable node name (``m.model.conv1.weight`` -> ``conv1``)."""
        paths: dict[str, list[str]] = {}
        for node in self.model.graph.node:
            if node.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "Gather") \
                    and len(node.input) > 1:
                w = node.input[0 if node.op_type == "Gather" else 1]
                if "." in w and "::" not in w and re.fullmatch(r"[A-Za-z0-9_.]+", w):
                    paths[w] = w.split(".")[:-1]
        if not paths:
            return {}
        common = 0
        parts = list(paths.values())
        while all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
            common += 1
        return {w: "_".join(p[common:]) for w, p in paths.items()}

    def _data(self, node: Any, k: int = 0) -> str:
        x = node.input[k] if len(node.input) > k else ""
        if not x:
            raise _Unsupported("a required input is missing")
        if x in self.src:
            return self.src[x]
        if x in self.consts:
            raise _Unsupported(f"its input {x!r} is a constant (no LayerLab layer computes from constants)")
        raise _Unsupported(f"its input {x!r} comes from no imported node")

    def _const(self, node: Any, k: int, what: str) -> np.ndarray | None:
        x = node.input[k] if len(node.input) > k else ""
        if not x:
            return None
        if x not in self.consts:
            raise _Unsupported(f"its {what} ({x!r}) is computed, not a constant")
        return self.consts[x]

    def _add(self, i: int, node: Any, label: str, typ: str, params: dict[str, Any], srcs: list[str],
             weights: dict[str, np.ndarray] | None = None, weight_name: str | None = None) -> str:
        import torch

        nid = self.doc.add(typ, params, srcs, name=self.names.get(weight_name or "") or None)
        self.mapping[label] = nid
        if weights:
            self.doc.weights(nid, {k: torch.from_numpy(np.array(v, dtype=np.float32, copy=True)) if k !=
                                   "num_batches_tracked" else torch.tensor(0) for k, v in weights.items()})
        self.src[node.output[0]] = nid
        return nid

    def _node(self, i: int, node: Any, label: str) -> None:
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            raise _Unsupported(f"{node.domain}.{op} (a custom operator) has no LayerLab layer")
        if op in _CONTROL:
            raise _Unsupported(f"control flow ({op}) has no LayerLab layer: the designer's graphs have no loops "
                               "or branches decided at run time")
        a = _attrs(node)
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            if self.prefix_msg and self._touches_input(node):
                raise _Unsupported(self.prefix_msg)
            raise _Unsupported(f"{op} has no LayerLab layer")
        handler(i, node, label, a)

    def _touches_input(self, node: Any) -> bool:
        return any(i.name in node.input for i in self.inputs)

    def _single_output(self, node: Any) -> None:
        for o in node.output[1:]:
            if o and (o in self.consumers or o in self.graph_outputs):
                raise _Unsupported(f"its extra output {o!r} is used (LayerLab layers give one output)")

    # activations
    def _op_Relu(self, i, node, label, a):  # noqa: N802 - ONNX op names
        self._add(i, node, label, "ReLU", {}, [self._data(node)])

    def _op_Sigmoid(self, i, node, label, a):  # noqa: N802
        self._add(i, node, label, "Sigmoid", {}, [self._data(node)])

    def _op_Tanh(self, i, node, label, a):  # noqa: N802
        self._add(i, node, label, "Tanh", {}, [self._data(node)])

    def _op_HardSwish(self, i, node, label, a):  # noqa: N802
        self._add(i, node, label, "Hardswish", {}, [self._data(node)])

    def _op_HardSigmoid(self, i, node, label, a):  # noqa: N802
        alpha, beta = a.get("alpha", 0.2), a.get("beta", 0.5)
        if not (math.isclose(alpha, 1 / 6, rel_tol=1e-5) and math.isclose(beta, 0.5, rel_tol=1e-6)):
            raise _Unsupported(f"HardSigmoid with alpha={alpha:g}, beta={beta:g}: LayerLab's Hardsigmoid is "
                               "relu6(x + 3) / 6 (alpha 1/6, beta 0.5)")
        self._add(i, node, label, "Hardsigmoid", {}, [self._data(node)])

    def _op_LeakyRelu(self, i, node, label, a):  # noqa: N802
        slope = float(a.get("alpha", 0.01))
        if not 0 <= slope <= 1:
            raise _Unsupported(f"LeakyRelu alpha={slope:g} is outside LayerLab's 0..1")
        self._add(i, node, label, "LeakyReLU", {"negative_slope": _f32(slope)}, [self._data(node)])

    def _op_Elu(self, i, node, label, a):  # noqa: N802
        self._add(i, node, label, "ELU", {"alpha": _f32(a.get("alpha", 1.0))}, [self._data(node)])

    def _op_Gelu(self, i, node, label, a):  # noqa: N802
        approx = a.get("approximate", b"none")
        approx = approx.decode() if isinstance(approx, bytes) else str(approx)
        self._add(i, node, label, "GELU", {"approximate": approx}, [self._data(node)])

    def _softmax(self, typ: str, i, node, label, a):
        shape = self.shapes.get(node.input[0])
        rank = len(shape) if shape else None
        axis = int(a.get("axis", -1 if self.opset >= 13 else 1))
        if rank is not None and axis < 0:
            axis += rank
        if axis == 0:
            raise _Unsupported(f"{node.op_type} over the batch axis")
        if self.opset < 13 and rank is not None and axis != rank - 1:
            raise _Unsupported(f"{node.op_type} (opset {self.opset}) over axes {axis}.. flattened together")
        self._add(i, node, label, typ, {"dim": axis if rank is None or axis != rank - 1 else -1}, [self._data(node)])

    def _op_Softmax(self, i, node, label, a):  # noqa: N802
        self._softmax("Softmax", i, node, label, a)

    def _op_LogSoftmax(self, i, node, label, a):  # noqa: N802
        self._softmax("LogSoftmax", i, node, label, a)

    # pass-through
    def _alias(self, node: Any) -> None:
        self.src[node.output[0]] = self._data(node)

    def _op_Identity(self, i, node, label, a):  # noqa: N802
        self._alias(node)

    def _op_Cast(self, i, node, label, a):  # noqa: N802
        if a.get("to") not in _FLOATS:
            raise _Unsupported(f"Cast to ONNX type {a.get('to')} (LayerLab layers compute in float)")
        self._alias(node)

    def _op_Dropout(self, i, node, label, a):  # noqa: N802
        self._single_output(node)
        ratio = self._const(node, 1, "ratio")
        p = float(ratio) if ratio is not None else float(a.get("ratio", 0.5))
        self._add(i, node, label, "Dropout", {"p": _f32(p)}, [self._data(node)])

    # convolution and pooling
    def _spatial(self, node: Any, a: dict[str, Any], kernel: list[int], what: str) -> tuple[list[int], list[int], list[int]]:
        """(strides, symmetric pads, dilations) for a Conv/Pool; asymmetric padding is reported."""
        n = len(kernel)
        strides = list(a.get("strides", [1] * n))
        dil = list(a.get("dilations", [1] * n))
        pads = list(a.get("pads", [0] * (2 * n)))
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else str(auto)
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            shape = self.sample_shape(node.input[0])
            if shape is None:
                raise _Unsupported(f"auto_pad={auto} on an input of unknown size")
            pads = [0] * (2 * n)
            for d, size in enumerate(shape[1:]):
                out = -(-size // strides[d])
                total = max(0, (out - 1) * strides[d] + (kernel[d] - 1) * dil[d] + 1 - size)
                small, big = total // 2, total - total // 2
                pads[d], pads[d + n] = (small, big) if auto == "SAME_UPPER" else (big, small)
        elif auto == "VALID":
            pads = [0] * (2 * n)
        if pads[:n] != pads[n:]:
            raise _Unsupported(f"asymmetric padding {pads} (begin {pads[:n]}, end {pads[n:]}): LayerLab's {what} "
                               "pads each side equally and there is no separate padding layer")
        return strides, pads[:n], dil

    def _op_Conv(self, i, node, label, a):  # noqa: N802
        w = self._const(node, 1, "weight")
        if w is None:
            raise _Unsupported("Conv without weights")
        b = self._const(node, 2, "bias")
        n = w.ndim - 2
        if n not in (1, 2):
            raise _Unsupported(f"a {n}-d convolution (LayerLab has Conv1d and Conv2d)")
        kernel = list(a.get("kernel_shape", w.shape[2:]))
        strides, pads, dil = self._spatial(node, a, kernel, "Conv2d" if n == 2 else "Conv1d")
        typ = "Conv2d" if n == 2 else "Conv1d"
        val = pair if n == 2 else (lambda v: int(v[0]))
        params = {"out_channels": int(w.shape[0]), "kernel_size": val(kernel), "stride": val(strides),
                  "padding": val(pads), "dilation": val(dil), "groups": int(a.get("group", 1)), "bias": b is not None}
        weights = {"weight": w} | ({"bias": b} if b is not None else {})
        nid = self._add(i, node, label, typ, params, [self._data(node)], weights, node.input[1])
        self.bias_slot[node.output[0]] = (nid, int(w.shape[0]), 1)

    def _op_ConvTranspose(self, i, node, label, a):  # noqa: N802
        w = self._const(node, 1, "weight")
        if w is None:
            raise _Unsupported("ConvTranspose without weights")
        b = self._const(node, 2, "bias")
        if w.ndim != 4:
            raise _Unsupported(f"a {w.ndim - 2}-d transposed convolution (LayerLab has ConvTranspose2d)")
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else str(auto)
        if auto not in ("NOTSET", "VALID"):
            raise _Unsupported(f"ConvTranspose with auto_pad={auto} (give explicit pads)")
        groups = int(a.get("group", 1))
        kernel = list(a.get("kernel_shape", w.shape[2:]))
        strides = list(a.get("strides", [1, 1]))
        dil = list(a.get("dilations", [1, 1]))
        pads = [0, 0, 0, 0] if auto == "VALID" else list(a.get("pads", [0, 0, 0, 0]))
        if pads[:2] != pads[2:]:
            raise _Unsupported(f"asymmetric padding {pads} (begin {pads[:2]}, end {pads[2:]}): LayerLab's "
                               "ConvTranspose2d trims each side equally")
        out_pad = list(a.get("output_padding", [0, 0]))
        if "output_shape" in a:
            ins = self.sample_shape(node.input[0])
            want = list(a["output_shape"])[-2:]
            got = ins and [(s - 1) * st - 2 * p + d * (k - 1) + op + 1
                           for s, st, p, d, k, op in zip(ins[1:], strides, pads[:2], dil, kernel, out_pad)]
            if got != want:
                raise _Unsupported(f"ConvTranspose with output_shape {want} (give pads and output_padding)")
        params = {"out_channels": int(w.shape[1]) * groups, "kernel_size": pair(kernel), "stride": pair(strides),
                  "padding": pair(pads[:2]), "output_padding": pair(out_pad), "dilation": pair(dil),
                  "groups": groups, "bias": b is not None}
        weights = {"weight": w} | ({"bias": b} if b is not None else {})
        nid = self._add(i, node, label, "ConvTranspose2d", params, [self._data(node)], weights, node.input[1])
        self.bias_slot[node.output[0]] = (nid, params["out_channels"], 1)

    def _recurrent(self, node: Any) -> None:
        raise _Unsupported(f"ONNX's {node.op_type} operator (sequence-first, with the initial state and the "
                           "transposes and slices the exporter writes around it) is not mapped back to LayerLab's "
                           f"{node.op_type} layer; import the Python export (MODEL.py:ClassName) instead")

    def _op_LSTM(self, i, node, label, a):  # noqa: N802
        self._recurrent(node)

    def _op_GRU(self, i, node, label, a):  # noqa: N802
        self._recurrent(node)

    def _op_RNN(self, i, node, label, a):  # noqa: N802
        self._recurrent(node)

    def _op_Gather(self, i, node, label, a):  # noqa: N802
        table = node.input[0]
        if table not in self.consts or int(a.get("axis", 0)) != 0 or self.consts[table].ndim != 2:
            raise _Unsupported("Gather that is not a lookup of rows of a constant 2-d table (an Embedding)")
        w = self.consts[table]
        self._add(i, node, label, "Embedding", {"num_embeddings": int(w.shape[0]), "embedding_dim": int(w.shape[1])},
                  [self._data(node, 1)], {"weight": w}, table)

    def _pool(self, typ2: str, typ1: str, i, node, label, a, avg: bool):
        self._single_output(node)
        kernel = list(a["kernel_shape"])
        n = len(kernel)
        if n not in (1, 2):
            raise _Unsupported(f"{n}-d pooling")
        strides, pads, dil = self._spatial(node, a, kernel, typ2 if n == 2 else typ1)
        if any(d != 1 for d in dil):
            raise _Unsupported(f"pooling with dilations {dil}")
        if avg and any(pads) and not a.get("count_include_pad", 0):
            raise _Unsupported("average pooling that leaves the padding out of the average (count_include_pad=0); "
                               "LayerLab's AvgPool counts the zeros")
        if a.get("ceil_mode", 0):
            shape = self.sample_shape(node.input[0])
            floor = shape and [(s + 2 * p - k) // st + 1 for s, p, k, st in zip(shape[1:], pads, kernel, strides)]
            if not shape or list(self.sample_shape(node.output[0]) or [])[1:] != floor:
                raise _Unsupported("ceil_mode=1 changes the output size here (LayerLab pools round down)")
        for k, p in zip(kernel, pads):
            if p > k // 2:
                raise _Unsupported(f"padding {p} is more than half the kernel {k}")
        val = pair if n == 2 else (lambda v: int(v[0]))
        self._add(i, node, label, typ2 if n == 2 else typ1,
                  {"kernel_size": val(kernel), "stride": val(strides), "padding": val(pads)}, [self._data(node)])

    def _op_MaxPool(self, i, node, label, a):  # noqa: N802
        self._pool("MaxPool2d", "MaxPool1d", i, node, label, a, avg=False)

    def _op_AveragePool(self, i, node, label, a):  # noqa: N802
        self._pool("AvgPool2d", "AvgPool1d", i, node, label, a, avg=True)

    def _op_GlobalAveragePool(self, i, node, label, a):  # noqa: N802
        shape = self.shapes.get(node.input[0])
        rank = len(shape) if shape else 4
        if rank not in (3, 4):
            raise _Unsupported(f"global pooling over a {rank}-d tensor")
        self._add(i, node, label, "AdaptiveAvgPool2d" if rank == 4 else "AdaptiveAvgPool1d", {"output_size": 1},
                  [self._data(node)])

    def _op_ReduceMean(self, i, node, label, a):  # noqa: N802
        shape = self.shapes.get(node.input[0])
        axes = self._const(node, 1, "axes") if self.opset >= 18 else None
        axes = [int(x) for x in (axes if axes is not None else a.get("axes", []))]
        rank = len(shape) if shape else None
        if rank != 4 or sorted(x % 4 for x in axes) != [2, 3]:
            raise _Unsupported(f"ReduceMean over axes {axes} (LayerLab averages over height and width: "
                               "AdaptiveAvgPool2d)")
        nid = self._add(i, node, label, "AdaptiveAvgPool2d", {"output_size": 1}, [self._data(node)])
        if not a.get("keepdims", 1):
            self.src[node.output[0]] = self.doc.add("Flatten", {"start_dim": 1, "end_dim": -1}, [nid])

    # batch norm
    def _op_BatchNormalization(self, i, node, label, a):  # noqa: N802
        self._single_output(node)
        if a.get("training_mode", 0):
            raise _Unsupported("BatchNormalization in training mode")
        scale, bias, mean, var = (self._const(node, k, w) for k, w in ((1, "scale"), (2, "bias"), (3, "mean"),
                                                                          (4, "variance")))
        shape = self.shapes.get(node.input[0])
        rank = len(shape) if shape else 4
        typ = "BatchNorm2d" if rank == 4 else "BatchNorm1d" if rank in (2, 3) else None
        if typ is None:
            raise _Unsupported(f"BatchNormalization over a {rank}-d tensor")
        eps = float(a.get("epsilon", 1e-5))
        momentum = min(1.0, max(0.0, 1.0 - float(a.get("momentum", 0.9))))  # ONNX keeps, torch takes in
        self._add(i, node, label, typ, {"eps": _f32(eps), "momentum": _f32(momentum), "affine": True},
                  [self._data(node)], {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var,
                                       "num_batches_tracked": np.zeros(())}, node.input[1])

    # dense
    def _op_Gemm(self, i, node, label, a):  # noqa: N802
        if a.get("transA", 0):
            raise _Unsupported("Gemm with transA=1 (the input transposed)")
        w = self._const(node, 1, "weight")
        c = self._const(node, 2, "bias")
        w = np.asarray(w, dtype=np.float64)
        w = w if a.get("transB", 0) else w.T  # Linear keeps [out, in]
        w = w * float(a.get("alpha", 1.0))
        out = int(w.shape[0])
        weights = {"weight": w}
        if c is not None:
            vec = _per_channel(np.asarray(c, dtype=np.float64), 2, out)
            if vec is None:
                raise _Unsupported(f"Gemm with a bias of shape {list(c.shape)} (Linear takes one per output)")
            weights["bias"] = vec * float(a.get("beta", 1.0))
        nid = self._add(i, node, label, "Linear", {"out_features": out, "bias": c is not None}, [self._data(node)],
                        weights, node.input[1])
        self.bias_slot[node.output[0]] = (nid, out, -1)

    def _op_MatMul(self, i, node, label, a):  # noqa: N802
        if node.input[1] not in self.consts:
            if node.input[0] in self.consts:
                raise _Unsupported("MatMul with the constant first (LayerLab's Linear multiplies from the right)")
            raise _Unsupported("MatMul of two computed tensors (as in attention) has no LayerLab layer")
        w = np.asarray(self.consts[node.input[1]], dtype=np.float64)
        if w.ndim != 2:
            raise _Unsupported(f"MatMul with a {w.ndim}-d constant")
        nid = self._add(i, node, label, "Linear", {"out_features": int(w.shape[1]), "bias": False},
                        [self._data(node)], {"weight": w.T}, node.input[1])
        self.bias_slot[node.output[0]] = (nid, int(w.shape[1]), -1)

    def _fold_bias(self, i: int, node: Any, sign: float) -> bool:
        """``conv(x) + c`` / ``linear(x) - c`` with one value per output: ``c`` goes into the layer's bias."""
        import torch

        x, c = node.input
        if c not in self.consts and sign > 0 and x in self.consts:
            x, c = c, x
        if c not in self.consts or x not in self.bias_slot or not self.only_consumer(x, i):
            return False
        nid, channels, axis = self.bias_slot[x]
        shape = self.shapes.get(x)
        rank = len(shape) if shape else (2 if axis == -1 else 4)
        vec = _per_channel(np.asarray(self.consts[c], dtype=np.float64), rank, channels, axis % rank)
        if vec is None:
            return False
        key = f"{nid}.bias"
        old = self.doc.state[key].double().numpy() if key in self.doc.state else np.zeros(channels)
        self.doc.state[key] = torch.from_numpy((old + sign * vec).astype(np.float32))
        self.doc.set_param(nid, "bias", True)
        self.src[node.output[0]] = nid
        self.bias_slot[node.output[0]] = (nid, channels, axis)
        return True

    def _op_Add(self, i, node, label, a):  # noqa: N802
        if self._fold_bias(i, node, 1.0):
            return
        self._merge("Add", i, node, label)

    def _op_Sub(self, i, node, label, a):  # noqa: N802
        if node.input[1] in self.consts and self._fold_bias(i, node, -1.0):
            return
        if self.prefix_msg and self._touches_input(node):
            raise _Unsupported(self.prefix_msg)
        raise _Unsupported("Sub has no LayerLab layer (only as a bias after a Conv or Linear, or as preprocessing "
                           "on the input)")

    def _merge(self, typ: str, i, node, label):
        if any(x in self.consts for x in node.input):
            if self.prefix_msg and self._touches_input(node):
                raise _Unsupported(self.prefix_msg)
            raise _Unsupported(f"{node.op_type} with a constant has no LayerLab layer (only a bias after a Conv or "
                               "Linear, or preprocessing on an image input, can be expressed)")
        sa, sb = (self.sample_shape(x) for x in node.input)
        if sa is not None and sb is not None and sa != sb:
            raise _Unsupported(f"{node.op_type} of shapes {list(sa)} and {list(sb)} (broadcasting) has no LayerLab layer")
        self._add(i, node, label, typ, {}, [self._data(node, 0), self._data(node, 1)])

    def _op_Mul(self, i, node, label, a):  # noqa: N802
        if any(x in self.consts for x in node.input):
            self._merge("Multiply", i, node, label)  # raises: what can be expressed, and what not
        sa, sb = (self.sample_shape(x) for x in node.input)
        if sa is not None and sb is not None and sa != sb:
            big, small = (0, 1) if sum(sa) >= sum(sb) else (1, 0)
            sbig, ssmall = (sa, sb) if big == 0 else (sb, sa)
            if len(sbig) != len(ssmall) or not all(g in (1, s) for s, g in zip(sbig, ssmall)):
                raise _Unsupported(f"Mul of shapes {list(sa)} and {list(sb)} (neither is a gate of the other)")
            self._add(i, node, label, "Scale", {}, [self._data(node, big), self._data(node, small)])
            return
        self._add(i, node, label, "Multiply", {}, [self._data(node, 0), self._data(node, 1)])

    def _op_Concat(self, i, node, label, a):  # noqa: N802
        shape = self.shapes.get(node.output[0])
        rank = len(shape) if shape else None
        axis = int(a["axis"])
        if rank is not None and axis < 0:
            axis += rank
        if axis == 0:
            raise _Unsupported("Concat along the batch axis")
        dim = axis - 1 if axis > 0 else axis  # LayerLab's Concat counts without the batch
        self._add(i, node, label, "Concat", {"dim": dim}, [self._data(node, k) for k in range(len(node.input))])

    # reshaping
    def _op_Flatten(self, i, node, label, a):  # noqa: N802
        axis = int(a.get("axis", 1))
        shape = self.shapes.get(node.input[0])
        if shape and axis < 0:
            axis += len(shape)
        if axis != 1:
            raise _Unsupported(f"Flatten at axis {axis} (LayerLab flattens everything after the batch: axis 1)")
        self._add(i, node, label, "Flatten", {}, [self._data(node)])

    def _op_Reshape(self, i, node, label, a):  # noqa: N802
        target = self._const(node, 1, "target shape")
        if target is None:
            raise _Unsupported("Reshape without a shape")
        target = [int(v) for v in np.asarray(target).reshape(-1)]
        ins = self.sample_shape(node.input[0])
        if ins is None:
            raise _Unsupported("Reshape of a tensor whose size shape inference could not work out")
        keeps_batch = bool(target) and BATCH not in target[1:] and (
            target[0] == BATCH or target[0] == -1 and all(v > 0 for v in target[1:])
            or target[0] == 0 and not a.get("allowzero", 0) or self.batch is not None and target[0] == self.batch)
        rest = [ins[k] if v == 0 and not a.get("allowzero", 0) and k < len(ins) else v
                for k, v in enumerate(target[1:])]
        if rest.count(-1) == 1:
            known = math.prod(v for v in rest if v != -1)
            if known > 0 and math.prod(ins) % known == 0:
                rest[rest.index(-1)] = math.prod(ins) // known
        if not keeps_batch or any(v < 1 for v in rest) or math.prod(rest) != math.prod(ins):
            raise _Unsupported(f"Reshape to {['batch' if v == BATCH else v for v in target]} mixes the samples "
                               f"of a batch (each sample is {list(ins)})")
        if len(rest) == 1:
            self._add(i, node, label, "Flatten", {}, [self._data(node)])
        else:
            self._add(i, node, label, "Reshape", {"shape": rest}, [self._data(node)])


class _Unsupported(Exception):
    """One node that has no registry layer; the message says why (collected, never raised out)."""


def _norm(mean: np.ndarray, std: np.ndarray) -> dict[str, Any]:
    def vals(v: np.ndarray) -> list[float]:
        out = [_f32(x) for x in np.asarray(v).reshape(-1)]
        return out[:1] if len(set(out)) == 1 else out

    return {"mean": vals(mean), "std": vals(std)}


# ---------------------------------------------------------------------------------------------
# public


def to_document(model: Any, input_shape: tuple[int, ...] | None = None, name: str = "imported",
                description: str = "", what: str = "the model") -> tuple[ImportResult, _Plan]:
    """Map the ModelProto's nodes to registry layers: (result, what the check needs)."""
    return _Converter(model, input_shape, what).convert(name, description)


def check_against_onnxruntime(model: Any, res: ImportResult, plan: _Plan, seed: int = 0) -> tuple[float, float]:
    """(max abs difference, largest output) between onnxruntime on random inputs and the compiled document
    fed what the project's data settings make of the same inputs."""
    import onnxruntime as ort
    import torch

    from ..data.augment import build_normalize

    rng = np.random.default_rng(seed)
    shape = (plan.batch, *res.project.model.nodes[0].params["shape"])
    if plan.input_range is None:
        raw = rng.standard_normal(shape).astype(np.float32)
    else:
        raw = (rng.random(shape) * plan.input_range).astype(np.float32)
        if plan.input_range == 255.0:
            raw = raw.round()
    feed = raw
    if plan.input_dtype not in _FLOATS:
        from onnx import helper

        feed = raw.astype(helper.tensor_dtype_to_np_dtype(plan.input_dtype))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    feeds = {plan.input_name: feed}
    extra = []
    for name, elem, sample, high in plan.extra:
        if elem in _FLOATS:
            v = rng.standard_normal((plan.batch, *sample)).astype(np.float32)
            extra.append(torch.from_numpy(v))
        else:
            from onnx import helper

            v = rng.integers(0, max(1, high), (plan.batch, *sample)).astype(helper.tensor_dtype_to_np_dtype(elem))
            extra.append(torch.from_numpy(v.astype(np.int64)))
        feeds[name] = v
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    want = sess.run(None, feeds)[0]
    x = torch.from_numpy(raw)
    if plan.input_range is not None:
        x = x / plan.input_range
        norm = build_normalize(res.project.data.augment, shape[1])
        if norm is not None:
            x = norm[0](x)
    with torch.no_grad():
        got = compile_with_weights(res)(x, *extra).numpy()
    if got.shape != want.shape:
        raise RuntimeError(f"the imported graph gives outputs of shape {list(got.shape)}, onnxruntime "
                           f"{list(want.shape)}")
    if not got.size:
        return 0.0, 0.0
    return float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))), float(np.max(np.abs(want)))


def import_onnx(path: str | Path, input_shape: tuple[int, ...] | None = None, name: str | None = None,
                description: str = "", tol: float = TOL) -> ImportResult:
    """Load ``path``, map it to a document of registry layers with its weights, and check it against
    onnxruntime (``max_abs_diff``). ValueError: a bad file or input shape; ImportError_: nodes without
    a layer (per node); RuntimeError: the check failed."""
    p = Path(path)
    model = load_model(p)
    res, plan = to_document(model, input_shape, name or p.stem, description, what=str(p))
    diff, size = check_against_onnxruntime(model, res, plan)
    res.max_abs_diff = diff
    allowed = tol * max(1.0, size)  # float32 rounding grows with the outputs
    if not diff <= allowed:
        raise RuntimeError(f"{p}: the imported graph's outputs differ from onnxruntime's by {diff:.3g} "
                           f"(allowed {allowed:.3g} for outputs up to {size:.3g})")
    return res
