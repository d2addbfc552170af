"""Quantization of a trained classifier: static int8, dynamic int8, fp16 / bf16 weights.

Which flows, and why (measured on this CPU with torch 2.14.1; see the README's "Compress & Export"):

- ``static-int8`` and ``dynamic-int8`` go through ONNX Runtime: the float model is exported to ONNX
  (preprocessing inside, so the file takes raw 0..255 pixels), ``quant_pre_process`` prepares it, then
  ``quantize_static`` (QDQ, per-channel int8 weights, uint8 activations, calibrated on training
  images) or ``quantize_dynamic``. These were the fastest flows here and use no deprecated API;
  torch's own FX flow is deprecated and PT2E is only fast under ``torch.compile`` with freezing.
  The result is an ``.onnx`` file (no pickles).
- Static int8 keeps a *float head*: a convolution that reads the image itself (at most 3 channels)
  stays in float together with the ReLU / max-pool right after it. Its dot products are only
  ``C_in * k * k`` long (9 for a grey 3x3), too short for int8 to gain anything: ONNX Runtime's int8
  convolution took 1.8 ms there against 0.38 ms in float (batch 64 on the ``cnn`` template), more
  than half of the int8 model's time. Its ReLU is moved after its max-pool (exactly equal: max
  commutes with a non-decreasing function) so ONNX Runtime's quantize-propagation has no max-pool
  to pull the quantization in front of; otherwise the pool runs as a slow NCHW uint8 kernel
  (3.4 ms) instead of on the float block's fast NCHWc path. The head's weights are a few hundred
  numbers, so the file stays about 4x smaller. ``float_head`` finds and rewrites it.
- ``fp16`` / ``bf16`` cast the weights and save a state dict (``.pt``, loads with
  ``weights_only=True``). fp16 is a storage format: the weights are computed in fp32 (torch's fp16
  CPU kernels were 4-15x slower than fp32 on a CPU without AVX512-FP16, and gained only ~10% on one
  with it); bf16 is computed natively where oneDNN supports it (checked at run time).
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import CompressError
from .names import QUANT_METHODS as METHODS

CALIBRATION_IMAGES = 512
# a convolution reading at most this many channels (the image's own: grey or RGB) stays in float
FLOAT_HEAD_MAX_CHANNELS = 3


def _check_run(run: Any) -> None:
    if run.task in ("gan", "vae") or run.project.model is None:
        raise CompressError(f"quantize works on single-model projects (this one is a {run.task.upper()})")


def default_suffix(method: str) -> str:
    return ".onnx" if method.endswith("int8") else ".pt"


def bf16_supported() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # an old build or a platform without oneDNN
        return False


class _Calibration:
    """ONNX Runtime's CalibrationDataReader over the run's training images (raw 0..255 pixels)."""

    def __init__(self, name: str, pixels: np.ndarray, batch: int = 32):
        self.name = name
        self.batches = [pixels[i:i + batch] for i in range(0, len(pixels), batch)]
        self.i = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.i >= len(self.batches):
            return None
        self.i += 1
        return {self.name: self.batches[self.i - 1]}

    def rewind(self) -> None:
        self.i = 0


def _attr(node: Any, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(a.i)
    return default


def float_head(model: Any) -> list[dict[str, str]]:
    """Find the float head of an ONNX classifier (see the module docstring) and rewrite it in place.

    Every Conv whose weight reads at most ``FLOAT_HEAD_MAX_CHANNELS`` channels is kept in float with
    the chain of single-consumer Relu / MaxPool nodes after it; a Relu followed by a MaxPool is
    swapped to MaxPool -> Relu (the same numbers). Returns one entry per kept node: ``name`` (the
    ONNX node, for ``nodes_to_exclude``), ``op`` and ``layer`` (the project's node id when the
    weight's name gives it). Running it twice changes nothing the second time.
    """
    g = model.graph
    for i, n in enumerate(g.node):
        if not n.name:
            n.name = f"layerlab_{n.op_type}_{i}"
    inits = {t.name: list(t.dims) for t in g.initializer}
    outputs = {o.name for o in g.output}
    consumers: dict[str, list[Any]] = {}
    for n in g.node:
        for t in n.input:
            consumers.setdefault(t, []).append(n)

    def only_consumer(tensor: str) -> Any:
        c = consumers.get(tensor, [])
        return c[0] if len(c) == 1 and tensor not in outputs else None

    stale: set[str] = set()
    kept: list[dict[str, str]] = []
    order = {id(n): i for i, n in enumerate(g.node)}
    for conv in [n for n in g.node if n.op_type == "Conv"]:
        dims = inits.get(conv.input[1]) if len(conv.input) > 1 else None
        if not dims or len(dims) < 3 or dims[1] * _attr(conv, "group", 1) > FLOAT_HEAD_MAX_CHANNELS:
            continue
        w = conv.input[1]
        layer = w.split(".")[-2] if w.endswith(".weight") and "." in w else ""
        kept.append({"name": conv.name, "op": "Conv", "layer": layer})
        cur = conv.output[0]
        while (nxt := only_consumer(cur)) is not None and nxt.op_type in ("Relu", "MaxPool"):
            if nxt.op_type == "Relu":
                pool = only_consumer(nxt.output[0])
                if pool is not None and pool.op_type == "MaxPool" and len(pool.output) == 1:
                    # x -> Relu -> y -> MaxPool -> z   becomes   x -> MaxPool -> y -> Relu -> z
                    x, y, z = nxt.input[0], nxt.output[0], pool.output[0]
                    pool.input[0], pool.output[0], nxt.input[0], nxt.output[0] = x, y, y, z
                    consumers[x] = [pool if c is nxt else c for c in consumers[x]]
                    consumers[y] = [nxt]
                    order[id(pool)], order[id(nxt)] = order[id(nxt)], order[id(pool)]
                    stale.add(y)  # y now holds the pooled shape
                    nxt = pool
            kept.append({"name": nxt.name, "op": nxt.op_type, "layer": layer})
            cur = nxt.output[0]
    if stale:
        nodes = sorted(g.node, key=lambda n: order[id(n)])  # keep the node list topologically sorted
        del g.node[:]
        g.node.extend(nodes)
        keep = [v for v in g.value_info if v.name not in stale]
        del g.value_info[:]
        g.value_info.extend(keep)
    return kept


def float_onnx(run: Any, path: Path, which: str = "final") -> Path:
    """The run's float model as ONNX (raw pixels in): the int8 flows' input and their float baseline."""
    from ..export import onnx_export
    from ..export.wrap import wrap_for_export

    module = run.module("model", which)
    wrapped, pixels = wrap_for_export(module, run, "model")
    if not pixels:
        raise CompressError("int8 quantization needs an image model (an Input of shape [C, H, W])")
    b = run.bundle()
    ex = (b.val_x[:2] * 255).round()
    onnx_export(wrapped, (ex,), path, ["pixels"])
    return path


def quantize_run(run: Any, method: str, out: str | os.PathLike, *, which: str = "final", force: bool = False,
                 progress: Callable[[str, float], None] | None = None,
                 calibration_images: int = CALIBRATION_IMAGES) -> dict[str, Any]:
    """Write the quantized model to ``out``; returns ``{"path", "method", "runtime", "dtype"}``."""
    if method not in METHODS:
        raise CompressError(f"--method: unknown method {method!r} (choose {', '.join(METHODS)})")
    _check_run(run)
    from .outputs import check_output_file

    progress = progress or (lambda stage, f: None)
    suffix = default_suffix(method)
    what = {"static-int8": "a static-int8 model (ONNX)", "dynamic-int8": "a dynamic-int8 model (ONNX)",
            "fp16": "an fp16 model (a state dict)", "bf16": "a bf16 model (a state dict)"}[method]
    out = check_output_file(out, suffix=suffix, what=what, checkpoint=run.weights_path(which), run_dir=run.dir,
                            force=force)
    out.parent.mkdir(parents=True, exist_ok=True)
    if method in ("fp16", "bf16"):
        return _half(run, method, out, which, progress)
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="layerlab-quant-") as td:
        progress("exporting the float model to ONNX", 0.05)
        fp = float_onnx(run, Path(td) / "float.onnx", which)
        pre = Path(td) / "pre.onnx"
        progress("preparing the graph", 0.3)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            quant_pre_process(str(fp), str(pre))
        head: list[dict[str, str]] = []
        if method == "static-int8":
            import onnx

            model = onnx.load(str(pre))
            head = float_head(model)
            if head:
                onnx.save(model, str(pre))
        tmp = out.with_name(f".{out.name}.tmp")
        try:
            if method == "static-int8":
                progress(f"calibrating on {calibration_images} training images", 0.45)
                b = run.bundle()
                g = torch.Generator().manual_seed(0)
                idx = torch.randperm(len(b.train_x), generator=g)[:calibration_images]
                pixels = (b.train_x[idx] * 255).round().numpy().astype(np.float32)
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    quantize_static(str(pre), str(tmp), _Calibration("pixels", pixels),
                                    quant_format=QuantFormat.QDQ, per_channel=True,
                                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                    nodes_to_exclude=[h["name"] for h in head] or None)
            else:
                progress("quantizing the weights", 0.5)
                quantize_dynamic(str(pre), str(tmp), weight_type=QuantType.QInt8)
            from ..export import stamp_onnx
            from ..runs import lineage_of

            stamp_onnx(tmp, lineage_of(run))  # where it comes from, for compare (its original's digest)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
    progress("quantized", 0.9)
    rep: dict[str, Any] = {"path": str(out), "method": method, "runtime": "onnxruntime", "dtype": "int8"}
    if method == "static-int8":
        rep["float_head"] = head
    int8, total, kept = int8_share(out)
    rep.update(int8_params=int8, weight_params=total, float_ops=kept)
    if int8 == 0:
        rep["note"] = (f"nothing was quantized: ONNX Runtime's {method} flow quantizes none of this model's "
                       f"operators ({', '.join(kept) or 'no weights'}); the file is the float model")
    elif kept and int8 < 0.5 * total:
        rep["note"] = (f"only {int8:,} of {total:,} weights ({int8 / total:.0%}) were quantized: "
                       f"{', '.join(kept)} stayed in float (ONNX Runtime's {method} flow does not quantize it)")
    if rep.get("note") and method == "static-int8" and {"LSTM", "GRU"} & set(kept):
        rep["note"] += "; dynamic-int8 quantizes LSTM and GRU weights"
    rep["card"] = str(_card(run, method, out, which, head))
    return rep


WEIGHT_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul", "LSTM", "GRU", "RNN")


def int8_share(path: str | os.PathLike) -> tuple[int, int, list[str]]:
    """(int8 weight values, all weight values, the weight-bearing ONNX op types still fed float weights)."""
    import onnx

    model = onnx.load(str(path))
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    int8 = total = 0
    for t in g.initializer:
        if t.name.endswith(("_scale", "_zero_point")) or len(t.dims) <= 1 or t.data_type == onnx.TensorProto.INT64:
            continue  # scales, zero points, biases, shapes
        n = int(np.prod(t.dims))
        total += n
        if t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8):
            int8 += n
    kept = sorted({n.op_type for n in g.node if n.op_type in WEIGHT_OPS
                   and any(i in inits and inits[i].data_type == onnx.TensorProto.FLOAT and len(inits[i].dims) > 1
                           for i in n.input[1:])})
    return int8, total, kept


def _card(run: Any, method: str, out: Path, which: str, head: list[dict[str, str]] | None = None) -> Path:
    """The model card beside a quantized file, with its agreement with the float model on validation images."""
    from ..export import compare_outputs, run_onnx
    from ..export.card import write_model_card
    from ..export.wrap import wrap_for_export

    module = run.module("model", which)
    wrapped, pixels = wrap_for_export(module, run, "model")
    b = run.bundle()
    x = (b.val_x[:256] * 255).round() if pixels else b.val_x[:256]  # what the saved model takes
    with torch.no_grad():
        want = wrapped(x).numpy()
    if method.endswith("int8"):
        got = run_onnx(out, (x.numpy().astype(np.float32),))
        ver = {**compare_outputs(got, want, b.val_y[:256], run.task == "classification", tol=None),
               "runtime": "onnxruntime", "inputs": "raw pixels 0-255"}
        text = (f"{method}: ONNX Runtime {'static QDQ (calibrated on training images)' if method == 'static-int8' else 'dynamic'}"
                " int8 quantization of the float model; the differences above are the quantization's, not a failure.")
        if head:
            text += f" Kept in float: {', '.join(sorted({h['layer'] or h['name'] for h in head if h['op'] == 'Conv'}))}."
        fmt = "onnx"
    else:
        half = torch.load(out, map_location="cpu", weights_only=True)
        fresh = copy.deepcopy(module)
        fresh.load_state_dict(half)  # computed in fp32, as LayerLab does for fp16
        got_m, _ = wrap_for_export(fresh.eval(), run, "model")
        with torch.no_grad():
            got = got_m(x).numpy()
        ver = {**compare_outputs(got, want, b.val_y[:256], run.task == "classification", tol=None),
               "runtime": "torch (fp32 compute)",
               "inputs": "normalised tensors (see the card)" if pixels else "the dataset's input tensors"}
        text = f"{method}: the weights cast to {method} (a state dict; load it with weights_only=True)."
        fmt = "state-dict"
    ver.pop("ok", None)
    return write_model_card(run, "model", module, fmt, out, ver, which, extra={"Quantization": text})


def _half(run: Any, method: str, out: Path, which: str, progress: Callable[[str, float], None]) -> dict[str, Any]:
    from ..fsutil import atomic_write_with

    dtype = torch.float16 if method == "fp16" else torch.bfloat16
    progress(f"casting the weights to {method}", 0.3)
    state = run.module("model", which).state_dict()
    half = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous().clone() for k, v in state.items()}
    atomic_write_with(out, lambda fh: torch.save(half, fh))
    progress("saved", 0.9)
    compute = "fp32 (fp16 is a storage format on CPU)" if method == "fp16" else (
        "bf16" if bf16_supported() else "fp32 (this CPU has no native bf16)")
    return {"path": str(out), "method": method, "runtime": "torch", "dtype": method, "compute": compute,
            "card": str(_card(run, method, out, which))}
