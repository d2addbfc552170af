"""The comparison of variants: one row per model (the original first).

Each row: parameters, non-zero parameters, size on disk, CPU latency at batch 1 and 64 (median after
warm-up, one thread, in the runtime the variant ships in, timed alternately with the float model in
that same runtime so a busy machine slows both alike), validation accuracy and loss, and top-1
agreement with the original. Every variant is fed raw 0..255 validation pixels: torch variants
through the same preprocessing the exports carry, ONNX files as they are.

A variant is a path: a run folder (or its ``model.pt``) from prune / distill, an ``.onnx`` file from
quantize or export, a ``.safetensors`` export (its graph from its metadata), or a weights ``.pt``
(fp16 / bf16 from quantize) for the original's project. A variant that takes other inputs or gives
other outputs than the original (another project) is refused, and so is a file that is not a model.
LayerLab records where a variant comes from (``engine.runs.lineage_of``: ONNX ``metadata_props``, safetensors
metadata, a variant run folder's ``lineage.json``); one made from another project than the run's is refused
even when its shapes fit (``check_origin``), and one that records nothing is measured with a note.
``.pt2`` programs are refused with the reason (``torch.export.load`` may unpickle).
"""

from __future__ import annotations

import io
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import CompressError

ROW_KEYS = ("name", "path", "params", "nonzero_params", "size_bytes", "latency_ms_b1", "latency_ms_b64",
            "val_accuracy", "agreement")


@dataclass
class Row:
    name: str
    path: str
    runtime: str
    dtype: str
    params: int
    nonzero_params: int
    size_bytes: int
    latency_ms_b1: float
    latency_ms_b64: float
    float_latency_ms_b1: float
    float_latency_ms_b64: float
    val_accuracy: float | None
    val_loss: float | None
    agreement: float | None
    note: str = ""

    @property
    def latency_ratio_b64(self) -> float:
        return self.latency_ms_b64 / self.float_latency_ms_b64 if self.float_latency_ms_b64 else float("nan")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["latency_ratio_b64"] = self.latency_ratio_b64
        return d


@dataclass
class Loaded:
    """A variant ready to run: ``predict(pixels float32 0..255) -> logits``."""

    name: str
    path: str
    runtime: str  # "torch" | "onnxruntime"
    dtype: str
    predict: Callable[[np.ndarray], np.ndarray]
    params: int
    nonzero_params: int
    size_bytes: int
    note: str = ""


# ---------------------------------------------------------------------------------------------
# loading


class _ComputeIn(torch.nn.Module):
    """Run ``m`` in ``dtype`` (bf16) behind fp32 preprocessing; logits back in fp32."""

    def __init__(self, m: torch.nn.Module, dtype: torch.dtype):
        super().__init__()
        self.m = m.to(dtype)
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.m(x.to(self.dtype)).float()


def _torch_predict(module: torch.nn.Module, run: Any, dtype: torch.dtype | None = None) -> Callable:
    from ..export.wrap import WithPreprocessing

    inner = module if dtype is None else _ComputeIn(module, dtype)
    wrapped = WithPreprocessing(inner, run.preprocessing()).eval()

    def predict(pixels: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(pixels)
        with torch.inference_mode():
            return wrapped(x).float().numpy()

    return predict


def _counts(module: torch.nn.Module) -> tuple[int, int]:
    ps = list(module.parameters())
    return sum(p.numel() for p in ps), sum(int(torch.count_nonzero(p)) for p in ps)


def state_bytes(module: torch.nn.Module) -> int:
    """The size of the module's fp32 state dict as ``torch.save`` writes it (what ``model.pt`` holds)."""
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.tell()


def load_original(run: Any, which: str = "final") -> Loaded:
    module = run.module("model", which)
    params, nz = _counts(module)
    return Loaded("original", str(run.weights_path(which)), "torch", "fp32", _torch_predict(module, run), params, nz,
                  state_bytes(module))


def _ort_session(path: str | Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()  # the same options for a variant and its float twin
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # ORT's default, said out loud
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


# the preprocessing constants every raw-pixel export carries (``WithPreprocessing``'s buffers, under the
# fixed-arity adapter ``m``): not parameters of the model
_PREPROCESSING = re.compile(r"m\.(scale|mean\d+|std\d+)")


def _io_of(run: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(input shape, output shape) of a run's model, without the batch axis."""
    from ..graph import analyze

    res = analyze(run.project.graph("model"), "model")
    out = res.node(res.output_id) if res.output_id else None
    return tuple(run.input_shape()), tuple((out.output_shape if out else None) or ())


def _refuse_other_project(path: Path, want: tuple[tuple[int, ...], tuple[int, ...]],
                          got: tuple[tuple[Any, ...], tuple[Any, ...]]) -> None:
    """``CompressError`` when a variant takes other inputs or gives other outputs than the original."""
    for what, w, g in (("input", want[0], got[0]), ("output", want[1], got[1])):
        if not g and w:  # a shape the file does not say: the run below shows what it gives
            continue
        if len(g) != len(w) or any(isinstance(d, int) and d != e for d, e in zip(g, w)):
            raise CompressError(f"{path}: not a variant of this model: its {what} is {list(g)} per sample, the "
                                f"original's {list(w)} (compare variants of the same project)")


NO_METADATA = "no LayerLab metadata: cannot check it comes from this run"


def check_origin(original_run: Any, path: Path, meta: dict[str, str]) -> str:
    """``CompressError`` when ``meta`` (what LayerLab recorded in the variant) says it was made from another
    project than ``original_run``'s; the note to show when the file records nothing ("" when it checks out).

    A variant matches when its original's digest (else its own) is the run's project digest or the run's
    own original's (a pruned run compared with its sibling variants)."""
    from ..runs import DIGEST_KEY, NAME_KEY, ORIGINAL_KEY, SOURCE_KEY, lineage_of

    theirs = meta.get(ORIGINAL_KEY) or meta.get(DIGEST_KEY)
    if not theirs:
        return NO_METADATA
    ours = lineage_of(original_run)
    if theirs in (ours[DIGEST_KEY], ours[ORIGINAL_KEY]) or meta.get(DIGEST_KEY) == ours[DIGEST_KEY]:
        return ""
    made = f"project {meta[NAME_KEY]!r}" if meta.get(NAME_KEY) else "another project"
    if meta.get(SOURCE_KEY):
        made += f" (run {meta[SOURCE_KEY]})"
    raise CompressError(f"{path}: made from {made}, not from this run's project {original_run.project.name!r} "
                        f"({original_run.dir.name}): its ratios vs float would be against the wrong model "
                        "(compare it with the run it was made from)")


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def load_onnx(path: str | Path, name: str | None = None,
              expect: tuple[tuple[int, ...], tuple[int, ...]] | None = None, origin_of: Any = None) -> Loaded:
    """An ONNX variant; ``expect`` = (input shape, output shape) it must have (else ``CompressError``);
    ``origin_of``: the run it must have been made from (``check_origin`` on its ``metadata_props``)."""
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    try:
        sess = _ort_session(path)
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - a file onnxruntime cannot read is bad input, said in one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CompressError(f"{path}: not an ONNX model onnxruntime can load ({first[:200]})") from None
    inp = sess.get_inputs()[0].name
    if expect is not None:
        _refuse_other_project(path, expect, (tuple(sess.get_inputs()[0].shape[1:]),
                                             tuple(sess.get_outputs()[0].shape[1:])))
    note = ""
    if origin_of is not None:  # shapes that fit say nothing of the project: what the file records does
        note = check_origin(origin_of, path, {p.key: p.value for p in model.metadata_props})
    params = nz = 0
    dtypes = set()
    for init in model.graph.initializer:
        if init.name.endswith(("_scale", "_zero_point")) or len(init.dims) == 0 or _PREPROCESSING.fullmatch(init.name):
            continue
        if init.data_type == onnx.TensorProto.INT64:  # shapes and indices (a Reshape's target), not weights
            continue
        a = numpy_helper.to_array(init)
        params += a.size
        nz += int(np.count_nonzero(a))
        dtypes.add(str(a.dtype))
    dtype = "int8" if {"int8", "uint8"} & dtypes else "fp32"

    def predict(pixels: np.ndarray) -> np.ndarray:
        return sess.run(None, {inp: pixels})[0]

    return Loaded(name or path.stem, str(path), "onnxruntime", dtype, predict, params, nz, path.stat().st_size,
                  note)


def _half_label(dtypes: set[Any]) -> tuple[str, str, torch.dtype | None]:
    """(dtype label, note, compute dtype) of a weights file from its floating dtypes."""
    if torch.bfloat16 in dtypes:
        from .quantize import bf16_supported

        if bf16_supported():
            return "bf16", "computed in bf16", torch.bfloat16
        return "bf16", "bf16 storage; computed in fp32 (no native bf16 here)", None
    if torch.float16 in dtypes:
        return "fp16", "fp16 is a storage format on CPU: computed in fp32", None
    return "fp32", "", None


def _load_safetensors(original_run: Any, p: Path, name: str | None) -> Loaded:
    """A safetensors export: the graph from its metadata, the rest (data, preprocessing) the original's."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file

    from ..graph import compile_graph
    from ..project import Project
    from ..runs import Run
    from ..train.checkpoint import state_mismatch

    try:
        with safe_open(str(p), "pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(p))
    except Exception as exc:  # noqa: BLE001 - not a safetensors file: bad input
        raise CompressError(f"{p}: not a readable safetensors file ({str(exc)[:200]})") from None
    origin = check_origin(original_run, p, meta)
    project = original_run.project
    if meta.get("layerlab_graph"):
        try:
            doc = project.model_dump(mode="json", exclude_none=True)
            doc["model"] = json.loads(meta["layerlab_graph"])
            project = Project.model_validate(doc)
            module, _ = compile_graph(project.graph("model"), graph_path="model")
        except Exception as exc:  # noqa: BLE001 - a graph that does not build is bad input
            raise CompressError(f"{p}: the graph in its metadata does not build ({str(exc)[:200]})") from None
    else:
        module, _ = compile_graph(project.graph("model"), graph_path="model")
    run = Run(original_run.dir, project, weights=p)
    _refuse_other_project(p, _io_of(original_run), _io_of(run))
    bad = state_mismatch({"model": state}, {"model": module})
    if bad:
        raise CompressError(f"{p}: its weights do not fit its graph: {bad}")
    module.load_state_dict(state)
    module.eval()
    label, note, compute = _half_label({v.dtype for v in state.values() if v.is_floating_point()})
    params, nz = _counts(module)
    return Loaded(name or p.stem, str(p), "torch", label, _torch_predict(module, run, compute), params, nz,
                  p.stat().st_size, _join(note, origin))


def _folder_origin(original_run: Any, p: Path, run: Any) -> str:
    """``check_origin`` for a run folder: its ``lineage.json`` (prune, distill), else its own project."""
    from ..runs import DIGEST_KEY, NAME_KEY, SOURCE_KEY, project_digest, read_lineage

    meta = read_lineage(run.dir)
    if not meta:
        if project_digest(run.project) == project_digest(original_run.project):
            return ""  # the same project (another training of it)
        return NO_METADATA
    return check_origin(original_run, p, {NAME_KEY: run.project.name, SOURCE_KEY: run.dir.name, **meta,
                                          DIGEST_KEY: project_digest(run.project)})


def load_variant(original_run: Any, path: str | os.PathLike, name: str | None = None) -> Loaded:
    """A variant from its path (see the module docstring); ``CompressError`` for a file that is not one."""
    from ..runs import open_run

    p = Path(path)
    if not p.exists():
        raise CompressError(f"{p}: variant not found")
    if p.suffix == ".onnx":
        return load_onnx(p, name, expect=_io_of(original_run), origin_of=original_run)
    if p.suffix == ".safetensors":
        return _load_safetensors(original_run, p, name)
    if p.suffix == ".pt2":
        raise CompressError(f"{p}: a torch.export program is not measured here (torch.export.load may unpickle "
                            "the file, which LayerLab never does with a file it did not just write); compare the "
                            "same model's .onnx or .safetensors export, or its run folder")
    if p.is_dir() or (p.suffix == ".pt" and p.name == "model.pt" and (p.parent / "project.json").is_file()):
        run = open_run(p)
        if run.project.model is None or run.task != original_run.task:
            raise CompressError(f"{p}: not a variant of this model (a {run.task} run; the original is a "
                                f"{original_run.task} model)")
        _refuse_other_project(p, _io_of(original_run), _io_of(run))
        origin = _folder_origin(original_run, p, run)
        module = run.module("model")
        weights = run.weights_path("final")
        params, nz = _counts(module)
        label = name or (p.name if p.is_dir() else p.parent.name)
        return Loaded(label, str(weights), "torch", "fp32", _torch_predict(module, run), params, nz,
                      weights.stat().st_size, origin)
    if p.suffix == ".pt":
        run = open_run(p, original_run.project)
        state = run.state_dict("model")
        dtypes = {v.dtype for v in state.values() if hasattr(v, "is_floating_point") and v.is_floating_point()}
        module = run.module("model")
        params, nz = _counts(module)
        label, note, compute = _half_label(dtypes)
        # a plain state dict has no slot for metadata, but it loaded by name and shape into this run's own
        # graph (open_run above refuses anything else), which is the identity that matters for its ratios
        return Loaded(name or p.stem, str(p), "torch", label, _torch_predict(module, run, compute), params, nz,
                      p.stat().st_size, note)
    raise CompressError(f"{p}: not a variant (give a run folder, a model.pt, an .onnx, a .safetensors or a "
                        "weights .pt file)")


# ---------------------------------------------------------------------------------------------
# measuring


def _once(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> float:
    t0 = time.perf_counter()
    f(x)
    return (time.perf_counter() - t0) * 1e3


def time_pair(f: Callable, ref: Callable, x: np.ndarray, repeats: int, warmup: int = 3) -> tuple[float, float]:
    """Median ms of ``f`` and of ``ref`` on ``x``, timed alternately after a warm-up."""
    for _ in range(warmup):
        f(x)
        ref(x)
    a, b = [], []
    for _ in range(repeats):
        a.append(_once(f, x))
        b.append(_once(ref, x))
    return statistics.median(a), statistics.median(b)


def _scores(logits: np.ndarray, y: np.ndarray, ref_pred: np.ndarray | None) -> tuple[float, float, float | None]:
    z = logits.astype(np.float64)
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    loss = float(-logp[np.arange(len(y)), y].mean())
    pred = logits.argmax(1)
    acc = float((pred == y).mean())
    agree = float((pred == ref_pred).mean()) if ref_pred is not None else None
    return acc, loss, agree


def _predict_all(f: Callable, pixels: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([f(pixels[i:i + batch]) for i in range(0, len(pixels), batch)])


class Comparison:
    """Measures variants of one trained run against its original (see the module docstring)."""

    def __init__(self, run: Any, which: str = "final", repeats_b1: int = 60, repeats_b64: int = 20,
                 workdir: str | None = None):
        if run.task != "classification" or run.project.model is None:
            raise CompressError("compare needs a classification project (accuracy and top-1 agreement)")
        self.run = run
        self.which = which
        self.repeats = (repeats_b1, repeats_b64)
        b = run.bundle()
        self.pixels = (b.val_x * 255).round().numpy().astype(np.float32)
        self.labels = b.val_y.numpy()
        reps = -(-64 // len(self.pixels))
        self.x1 = self.pixels[:1]
        self.x64 = np.concatenate([self.pixels] * reps)[:64]
        self.original = load_original(run, which)
        self.ref_pred = _predict_all(self.original.predict, self.pixels).argmax(1)
        self._tmp = tempfile.TemporaryDirectory(prefix="layerlab-compare-") if workdir is None else None
        self._workdir = Path(workdir or self._tmp.name)
        self._float_onnx: Loaded | None = None

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Comparison:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def float_in(self, runtime: str) -> Loaded:
        """The original float model in ``runtime`` (for ONNX: exported once, on demand)."""
        if runtime == "torch":
            return self.original
        if self._float_onnx is None:
            from .quantize import float_onnx

            path = float_onnx(self.run, self._workdir / "float.onnx", self.which)
            self._float_onnx = load_onnx(path, "original (onnxruntime)")
        return self._float_onnx

    def row(self, v: Loaded) -> Row:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            ref = self.float_in(v.runtime)
            if ref is v:  # the float model itself: one timing, ratio 1 by definition
                lat1 = f1 = time_pair(v.predict, v.predict, self.x1, max(1, self.repeats[0] // 2))[0]
                lat64 = f64 = time_pair(v.predict, v.predict, self.x64, max(1, self.repeats[1] // 2))[0]
            else:
                lat1, f1 = time_pair(v.predict, ref.predict, self.x1, self.repeats[0])
                lat64, f64 = time_pair(v.predict, ref.predict, self.x64, self.repeats[1])
        finally:
            torch.set_num_threads(threads)
        logits = _predict_all(v.predict, self.pixels)
        acc, loss, agree = _scores(logits, self.labels, self.ref_pred)
        return Row(v.name, v.path, v.runtime, v.dtype, v.params, v.nonzero_params, v.size_bytes, lat1, lat64, f1, f64,
                   acc, loss, agree, v.note)

    def rows(self, variants: list[Loaded], progress: Callable[[str, float], None] | None = None) -> list[Row]:
        progress = progress or (lambda s, f: None)
        out = []
        allv = [self.original, *variants]
        for i, v in enumerate(allv):
            progress(f"measuring {v.name}", i / len(allv))
            out.append(self.row(v))
        progress("measured", 1.0)
        return out


def compare_paths(run: Any, paths: list[str], *, which: str = "final",
                  progress: Callable[[str, float], None] | None = None, **kw: Any) -> list[Row]:
    with Comparison(run, which, **kw) as c:
        return c.rows([load_variant(run, p) for p in paths], progress)


def format_table(rows: list[Row]) -> str:
    head = (f"{'variant':<22} {'runtime':<12} {'dtype':<5} {'params':>9} {'nonzero':>9} {'size KiB':>9} "
            f"{'b1 ms':>7} {'b64 ms':>7} {'b64 vs float':>12} {'val acc':>8} {'val loss':>8} {'agree':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        acc = "-" if r.val_accuracy is None else f"{r.val_accuracy:.2%}"
        loss = "-" if r.val_loss is None else f"{r.val_loss:.4f}"
        agree = "-" if r.agreement is None else f"{r.agreement:.1%}"
        lines.append(f"{r.name[:22]:<22} {r.runtime[:12]:<12} {r.dtype:<5} {r.params:>9,} {r.nonzero_params:>9,} "
                     f"{r.size_bytes / 1024:>9.1f} {r.latency_ms_b1:>7.3f} {r.latency_ms_b64:>7.2f} "
                     f"{r.latency_ratio_b64:>11.2f}x {acc:>8} {loss:>8} {agree:>6}")
    notes = [f"  {r.name}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["notes:", *notes] if notes else []))
