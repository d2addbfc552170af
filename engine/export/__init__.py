"""Export a trained run, each format verified: state dict, safetensors, ONNX, ``torch.export`` and Python.

``export_run(run, fmt, out)`` writes the file(s), checks them against PyTorch on real validation
images (onnxruntime for ONNX; a fresh Python process for ``.pt2`` and ``.py``), writes a Markdown
model card beside each, and raises ``VerificationError`` when the exported model does not give the
original's answers. A classifier exports as one model; a GAN its generator only; a VAE its encoder
and decoder as two files. Image models take raw pixel values (0..255) and apply the project's
normalisation inside (ONNX, ``.pt2`` and the Python file); weights files (``.pt``, safetensors)
hold only the weights, and the card says the preprocessing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..compress.errors import CompressError, VerificationError
from ..compress.names import EXPORT_FORMATS as FORMATS
from ..fsutil import atomic_write_text, atomic_write_with
from .wrap import wrap_for_export

SUFFIX = {"onnx": ".onnx", "safetensors": ".safetensors", "state-dict": ".pt", "pt2": ".pt2", "python": ".py"}
FLOAT_TOL = 1e-4  # max abs difference allowed between a float export and PyTorch
N_VERIFY = 256  # validation images each verification runs


def has_codegen() -> bool:
    try:
        from ..graph import codegen  # noqa: F401
    except ImportError:
        return False
    return True


def available_formats() -> list[str]:
    """The formats this install can write (``python`` needs the designer's code generator)."""
    return [f for f in FORMATS if f != "python" or has_codegen()]


@dataclass
class ExportResult:
    format: str
    role: str
    path: str
    files: list[str]
    card: str
    verification: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format, "role": self.role, "path": self.path, "files": list(self.files),
                "card": self.card, "verification": dict(self.verification)}


def export_roles(run: Any) -> list[str]:
    task = run.task
    if task == "gan":
        return ["generator"]
    if task == "vae":
        return ["encoder", "decoder"]
    return ["model"]


FORMAT_NAMES = {"onnx": "an ONNX export", "safetensors": "a safetensors export", "state-dict": "a state-dict export",
                "pt2": "a torch.export program", "python": "a Python export"}


def output_paths(run: Any, fmt: str, out: str | os.PathLike) -> dict[str, Path]:
    """Where each role goes (absolute): ``out`` itself for one model, ``STEM_encoder.EXT`` etc. for a VAE.

    ``out`` without a suffix gets the format's; another format's suffix, a folder or a path without a
    file name is a ``CompressError``."""
    from ..compress.outputs import output_target

    out = output_target(out, suffix=SUFFIX[fmt], what=FORMAT_NAMES[fmt])
    roles = export_roles(run)
    if len(roles) == 1:
        return {roles[0]: out}
    return {r: out.with_name(f"{out.stem}_{r}{out.suffix}") for r in roles}


def python_weights_path(path: Path) -> Path:
    """The weights file the Python export writes beside ``path``."""
    return path.with_name(f"{path.stem}_weights.pt")


def written_files(fmt: str, paths: dict[str, Path]) -> list[Path]:
    """Every model file an export to ``paths`` writes (not the cards)."""
    files = list(paths.values())
    if fmt == "python":
        files += [python_weights_path(p) for p in paths.values()]
    return files


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


# ---------------------------------------------------------------------------------------------
# inputs for verification


@dataclass
class VerifyInputs:
    args: tuple[torch.Tensor, ...]  # what the exported model takes (raw pixels for image models)
    labels: torch.Tensor | None  # class labels for classifiers (accuracy)
    raw_pixels: bool


def verify_inputs(run: Any, module: Any, role: str, takes_pixels: bool, n: int = N_VERIFY) -> VerifyInputs:
    if takes_pixels:
        b = run.bundle()
        k = min(n, len(b.val_x))
        pixels = (b.val_x[:k] * 255.0).round()  # the dataset's own bytes, as a user would have them
        labels = b.val_y[:k] if run.task == "classification" else None
        return VerifyInputs((pixels,), labels, True)
    gen = torch.Generator().manual_seed(0)
    args = []
    for shape, dtype, high in zip(module.input_shapes, module.input_dtypes, module.input_high):
        if dtype == "long":
            args.append(torch.randint(0, high, (n, *shape), generator=gen))
        else:
            args.append(torch.randn((n, *shape), generator=gen))
    return VerifyInputs(tuple(args), None, False)


def compare_outputs(got: np.ndarray, want: np.ndarray, labels: torch.Tensor | None, classify: bool,
                    tol: float | None = FLOAT_TOL) -> dict[str, Any]:
    """max abs diff, top-1 agreement and accuracy (classifiers); ``ok`` against ``tol``."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return {"ok": False, "reason": f"output shape {list(got.shape)} differs from PyTorch's {list(want.shape)}"}
    diff = float(np.max(np.abs(got - want))) if got.size else 0.0
    rep: dict[str, Any] = {"n": int(got.shape[0]), "max_abs_diff": diff}
    if classify and got.ndim == 2:
        a, b = got.argmax(1), want.argmax(1)
        rep["agreement"] = float((a == b).mean())
        if labels is not None:
            y = labels.numpy()
            rep["accuracy"] = float((a == y).mean())
            rep["reference_accuracy"] = float((b == y).mean())
    rep["ok"] = bool(np.isfinite(diff) and (tol is None or diff <= tol))
    if not rep["ok"]:
        rep["reason"] = f"max abs difference {diff:.3g} exceeds {tol:g}"
    return rep


# ---------------------------------------------------------------------------------------------
# fixed-arity adapters (torch.export / ONNX want named positional inputs, not *inputs)


class _One(torch.nn.Module):
    def __init__(self, m: torch.nn.Module):
        super().__init__()
        self.m = m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.m(x)


class _Two(torch.nn.Module):
    def __init__(self, m: torch.nn.Module):
        super().__init__()
        self.m = m

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.m(x, y)


def fixed_arity(m: torch.nn.Module, n_inputs: int) -> torch.nn.Module:
    if n_inputs == 1:
        return _One(m).eval()
    if n_inputs == 2:
        return _Two(m).eval()
    raise CompressError(f"exporting a model with {n_inputs} inputs is not supported (1 or 2)")


def input_names(takes_pixels: bool, n: int) -> list[str]:
    return ["pixels"] if takes_pixels else [f"input{i}" for i in range(n)]


def stamp_onnx(path: str | Path, metadata: dict[str, str]) -> None:
    """Set ``metadata`` in the ONNX file's ``metadata_props`` (replacing keys it already has), in place."""
    import onnx

    model = onnx.load(str(path))
    keep = [(p.key, p.value) for p in model.metadata_props if p.key not in metadata]
    del model.metadata_props[:]
    for k, v in [*keep, *metadata.items()]:
        model.metadata_props.add(key=k, value=str(v))
    onnx.save(model, str(path))


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """The ONNX file's ``metadata_props`` as a dict (the graph's weights are not read)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def onnx_export(m: torch.nn.Module, args: tuple[torch.Tensor, ...], path: Path, names: list[str],
                metadata: dict[str, str] | None = None) -> None:
    """Single-file ONNX with a dynamic batch axis (the dynamo exporter); ``metadata`` into ``metadata_props``."""
    from torch.export import Dim

    mod = fixed_arity(m, len(args))
    batch = Dim("batch", min=1, max=1 << 16)
    dyn = tuple({0: batch} for _ in args)
    ex = tuple(a[:2] if len(a) >= 2 else a.repeat(2, *[1] * (a.ndim - 1)) for a in args)  # batch >= 2 stays dynamic
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        import contextlib
        import io
        import warnings

        # the exporter prints its progress, and torch's own deprecation / tracing notes (FutureWarning,
        # UserWarning about its internals) are nothing a user can act on
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(mod, ex, str(tmp), dynamo=True, external_data=False, dynamic_shapes=dyn,
                              input_names=names, output_names=["output"])
        if metadata:
            stamp_onnx(tmp, metadata)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def run_onnx(path: str | Path, args: tuple[np.ndarray, ...], batch: int = 256) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    outs = []
    for i in range(0, len(args[0]), batch):
        feed = {n: a[i:i + batch] for n, a in zip(names, args)}
        outs.append(sess.run(None, feed)[0])
    return np.concatenate(outs)


def _np_args(args: tuple[torch.Tensor, ...]) -> tuple[np.ndarray, ...]:
    return tuple(a.numpy().astype(np.int64 if a.dtype == torch.long else np.float32) for a in args)


# ---------------------------------------------------------------------------------------------
# fresh-process checks (.pt2 and .py)


def run_in_fresh_process(kind: str, path: Path, args: tuple[torch.Tensor, ...], extra: dict[str, Any] | None = None,
                         timeout: float = 300.0) -> np.ndarray:
    """Load ``path`` in a new Python process (nothing shared with this one) and run it on ``args``."""
    with tempfile.TemporaryDirectory(prefix="layerlab-verify-") as td:
        inp = Path(td) / "inputs.npz"
        outp = Path(td) / "output.npy"
        np.savez(inp, *_np_args(args))
        extra = {k: (str(Path(v).resolve()) if k == "weights" else v) for k, v in (extra or {}).items()}
        # the child starts in the temp folder: every path it gets is absolute
        cmd = [sys.executable, "-m", "engine.export.fresh", kind, str(Path(path).resolve()), str(inp), str(outp),
               json.dumps(extra)]
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=td)
        if proc.returncode != 0 or not outp.is_file():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise VerificationError(f"{path}: loading it in a fresh Python process failed: {last}")
        return np.load(outp)


# ---------------------------------------------------------------------------------------------
# the formats


def _torch_ref(m: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> np.ndarray:
    with torch.no_grad():
        return m(*args).float().numpy()


def _state_of(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().clone() for k, v in module.state_dict().items()}


def _export_weights(fmt: str, run: Any, role: str, module: Any, path: Path, vin: VerifyInputs) -> dict[str, Any]:
    from ..graph import compile_graph

    state = _state_of(module)
    if fmt == "safetensors":
        from safetensors.torch import load_file, save

        from ..runs import lineage_of

        meta = {"format": "pt", "layerlab_role": role, "layerlab_graph": json.dumps(
            run.project.graph(role).model_dump(mode="json", exclude_none=True)), **lineage_of(run)}
        data = save(state, metadata=meta)  # bytes, written like every other file (mode from the umask)
        atomic_write_with(path, lambda fh: fh.write(data))
        loaded = load_file(str(path))
    else:
        atomic_write_with(path, lambda fh: torch.save(state, fh))
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    fresh, _ = compile_graph(run.project.graph(role), graph_path=run.graph_path(role))
    fresh.load_state_dict(loaded)
    fresh.eval()
    ref_m, _ = wrap_for_export(module, run, role)
    got_m, _ = wrap_for_export(fresh, run, role)
    return compare_outputs(_torch_ref(got_m, vin.args), _torch_ref(ref_m, vin.args), vin.labels,
                           run.task == "classification", tol=0.0)


def _export_onnx(run: Any, role: str, module: Any, path: Path, vin: VerifyInputs) -> dict[str, Any]:
    wrapped, pixels = wrap_for_export(module, run, role)
    from ..runs import lineage_of

    onnx_export(wrapped, vin.args, path, input_names(pixels, len(vin.args)), metadata=lineage_of(run))
    got = run_onnx(path, _np_args(vin.args))
    rep = compare_outputs(got, _torch_ref(wrapped, vin.args), vin.labels, run.task == "classification")
    rep["runtime"] = "onnxruntime"
    return rep


def _export_pt2(run: Any, role: str, module: Any, path: Path, vin: VerifyInputs) -> dict[str, Any]:
    from torch.export import Dim

    wrapped, _ = wrap_for_export(module, run, role)
    mod = fixed_arity(wrapped, len(vin.args))
    batch = Dim("batch", min=1, max=1 << 16)
    ex = tuple(a[:2] for a in vin.args)
    ep = torch.export.export(mod, ex, dynamic_shapes=tuple({0: batch} for _ in ex))
    atomic_write_with(path, lambda fh: torch.export.save(ep, fh))
    got = run_in_fresh_process("pt2", path, vin.args)
    rep = compare_outputs(got, _torch_ref(wrapped, vin.args), vin.labels, run.task == "classification")
    rep["runtime"] = "torch.export.load in a fresh process"
    return rep


def _export_python(run: Any, role: str, module: Any, path: Path, vin: VerifyInputs) -> dict[str, Any]:
    from .python import write_python_export

    wrapped, pixels = wrap_for_export(module, run, role)
    weights, class_name = write_python_export(run, role, module, path, pixels)  # weights: python_weights_path
    got = run_in_fresh_process("python", path, vin.args, {"weights": str(weights), "class_name": class_name})
    rep = compare_outputs(got, _torch_ref(wrapped, vin.args), vin.labels, run.task == "classification")
    rep["runtime"] = "the generated Python file imported in a fresh process"
    rep["weights"] = str(weights)
    return rep


def export_run(run: Any, fmt: str, out: str | os.PathLike, *, which: str = "final", force: bool = False,
               progress: Callable[[str, float], None] | None = None) -> list[ExportResult]:
    """Export every role of ``run`` in ``fmt`` to ``out``; raises ``VerificationError`` when one fails.

    ``out`` is checked first (``engine.compress.outputs``): the format's suffix, never the run's own files,
    an existing file only with ``force``. Whatever goes wrong after that (a failed or crashing
    verification included), the files this call wrote and their cards are removed before the error
    propagates: no file that was not verified is left behind.
    """
    if fmt not in available_formats():
        raise CompressError(f"--format: unknown format {fmt!r} (choose {', '.join(available_formats())})")
    from ..compress.outputs import check_writable
    from .card import card_path, write_model_card

    progress = progress or (lambda stage, f: None)
    paths = output_paths(run, fmt, out)
    check_writable(written_files(fmt, paths), checkpoint=run.weights_path(which), run_dir=run.dir, force=force)
    targets = [*written_files(fmt, paths), *(card_path(p) for p in paths.values())]
    before = {f: _signature(f) for f in targets}
    results = []
    try:
        for i, (role, path) in enumerate(paths.items()):
            base = i / len(paths)
            progress(f"exporting {role} as {fmt}", base)
            module = run.module(role, which)
            _, pixels = wrap_for_export(module, run, role)
            vin = verify_inputs(run, module, role, pixels)
            path.parent.mkdir(parents=True, exist_ok=True)
            if fmt in ("safetensors", "state-dict"):
                rep = _export_weights(fmt, run, role, module, path, vin)
            elif fmt == "onnx":
                rep = _export_onnx(run, role, module, path, vin)
            elif fmt == "pt2":
                rep = _export_pt2(run, role, module, path, vin)
            else:
                rep = _export_python(run, role, module, path, vin)
            rep["inputs"] = "raw pixels 0-255" if pixels and fmt in ("onnx", "pt2", "python") else (
                "normalised tensors (see the card)" if pixels else "latent / index tensors")
            progress(f"verified {role}", base + 0.9 / len(paths))
            if not rep.get("ok"):  # no file that looks fine but answers differently is left behind
                raise VerificationError(f"{path}: verification failed ({rep.get('reason', 'outputs differ')}); "
                                        "the file was removed")
            files = [str(path)] + ([rep["weights"]] if "weights" in rep else [])
            card = write_model_card(run, role, module, fmt, path, rep, which)
            results.append(ExportResult(fmt, role, str(path), files, str(card), rep))
    except BaseException as exc:
        for f in targets:  # what this call wrote (a file replaced with --force is gone either way)
            if _signature(f) != before[f]:
                f.unlink(missing_ok=True)
            f.with_name(f".{f.name}.tmp").unlink(missing_ok=True)
        if isinstance(exc, VerificationError) and "removed" not in str(exc):
            raise VerificationError(f"{exc} (the exported file was removed)") from None
        raise
    progress("done", 1.0)
    return results


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")
