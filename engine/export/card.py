"""The model card: a Markdown file beside each export (what it is, how it was trained, how to feed it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_text


def _table(rows: list[tuple[str, str]]) -> str:
    return "\n".join(["| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]])


def card_path(path: Path) -> Path:
    return path.with_name(path.name + ".md")


def _last_layer(res: Any) -> str:
    """The type of the layer feeding the Output node ("" when unknown)."""
    out = res.node(res.output_id) if res.output_id else None
    srcs = list(getattr(out, "inputs", None) or []) if out is not None else []
    if srcs:
        node = res.node(srcs[0])
        return node.type if node is not None else ""
    return ""


def output_description(run: Any, role: str, res: Any) -> str:
    """What the model's output means, and how to turn it into what a user wants (classes, images)."""
    task = run.task
    if role == "generator":
        last = _last_layer(res)
        rng = "−1..1 (its last layer is Tanh)" if last == "Tanh" else "−1..1 (the scale it was trained on)"
        return (f"Images `[batch, C, H, W]` with values in {rng}: to 0–255 pixels, "
                "`((y + 1) / 2).clip(0, 1) * 255`, then round to uint8.")
    if role == "decoder":
        return ("Logits `[batch, C, H, W]`, not pixels: the image is `sigmoid(y)` in 0..1 (as LayerLab draws it), "
                "to 0–255 pixels `sigmoid(y) * 255`, then round to uint8.")
    if role == "encoder":
        k = run.project.train.vae.latent_dim if run.project.train.vae else "k"
        return (f"`[batch, 2·{k}]`: the first {k} values are the latent code's mean `mu`, the last {k} its "
                "log-variance `logvar` (`z = mu` is the code LayerLab's validation uses; "
                "`mu + exp(logvar / 2) * noise` samples).")
    if task == "classification":
        return "Class scores (logits) `[batch, classes]`: the class is `argmax`; `softmax` gives probabilities."
    if task == "binary":
        return "One logit per sample: `sigmoid(y) > 0.5` is the positive class."
    return "The model's raw output (the regression target's units)."


def _inputs_code(run: Any, role: str, module: Any, takes_pixels: bool) -> tuple[list[str], str]:
    """(lines building example inputs, the argument list) for the Use snippet."""
    if takes_pixels:
        shape = ", ".join(str(d) for d in module.input_shapes[0])
        return [f"pixels = np.zeros((1, {shape}), np.float32)  # your images: raw 0-255 values"], "pixels"
    lines, names = [], []
    for i, (shape, dtype, high) in enumerate(zip(module.input_shapes, module.input_dtypes, module.input_high)):
        dims = ", ".join(str(d) for d in shape)
        if dtype == "long":
            lines.append(f"labels = np.array([3], np.int64)  # class index 0..{high - 1}")
            names.append("labels")
        else:
            nm = "z" if i == 0 else f"x{i}"
            lines.append(f"{nm} = np.random.randn(1, {dims}).astype(np.float32)"
                         + ("  # noise: the latent code" if role in ("generator", "decoder") else ""))
            names.append(nm)
    return lines, ", ".join(names)


def use_snippet(run: Any, role: str, module: Any, fmt: str, path: Path, takes_pixels: bool) -> list[str]:
    """Python that loads the file and runs it (noise in and images out for a generator / decoder)."""
    make, argl = _inputs_code(run, role, module, takes_pixels)
    names = argl.split(", ")
    tail = {"generator": ["images = (((y + 1) / 2).clip(0, 1) * 255).round().astype(np.uint8)  # [batch, C, H, W]"],
            "decoder": ["images = (255 / (1 + np.exp(-y))).round().astype(np.uint8)  # sigmoid, [batch, C, H, W]"],
            "encoder": ["mu, logvar = np.split(y, 2, axis=1)"]}.get(role)
    if tail is None:
        tail = ["classes = y.argmax(1)"] if run.task == "classification" else []
    if fmt == "onnx":
        feed = ", ".join(f"sess.get_inputs()[{i}].name: {n}" for i, n in enumerate(names))
        return ["import numpy as np, onnxruntime as ort", f"sess = ort.InferenceSession({path.name!r})", *make,
                f"y = sess.run(None, {{{feed}}})[0]", *tail]
    torch_args = ", ".join(f"torch.from_numpy({n})" for n in names)
    if fmt == "pt2":
        return ["import numpy as np, torch", f"model = torch.export.load({path.name!r}).module()", *make,
                f"y = model({torch_args}).detach().numpy()", *tail]
    if fmt == "python":
        mod = path.stem if path.stem.isidentifier() else "exported_model"
        return ["import numpy as np, torch", f"from {mod} import load  # this file ({path.name})",
                "model = load()  # reads the weights beside it (weights_only=True)", *make,
                "with torch.no_grad():", f"    y = model({torch_args}).numpy()", *tail]
    return []


def write_model_card(run: Any, role: str, module: Any, fmt: str, path: Path, verification: dict[str, Any],
                     which: str = "final", extra: dict[str, Any] | None = None) -> Path:
    from .. import __version__
    from ..graph import analyze

    res = analyze(run.project.graph(role), run.graph_path(role))
    p = run.project
    d = p.data
    hist = run.history()
    last = hist[-1] if hist else {}
    pre = run.preprocessing()
    takes_pixels = verification.get("inputs", "").startswith("raw pixels")
    lines = [f"# {p.name} — {role} ({fmt})", ""]
    if p.description:
        lines += [p.description, ""]
    lines += ["## Model", "", _table([
        ("file", f"`{path.name}`"), ("format", fmt), ("role", role), ("weights", f"{which} ({run.dir})"),
        ("parameters", f"{res.total_params:,}"), ("MACs per sample", f"{res.total_macs:,}"),
        ("input shape", str(list(res.node(res.input_ids[0]).output_shape or [])) if res.input_ids else "?"),
        ("output shape", str(list(res.node(res.output_id).output_shape or [])) if res.output_id else "?"),
    ]), "", "| node | type | output shape | params |", "|---|---|---|---|"]
    for n in res.nodes:
        if n.connected:
            lines.append(f"| {n.id} | {n.type} | {list(n.output_shape or [])} | {n.params:,} |")
    lines += ["", "## Input and preprocessing", ""]
    if takes_pixels:
        lines.append(f"Feed **raw pixel values 0–255** (float32, shape `[batch, {', '.join(map(str, res.node(res.input_ids[0]).output_shape or []))}]`); "
                     f"the model applies its preprocessing inside: {pre.describe()}.")
    elif pre.image and role not in ("generator", "decoder"):
        lines.append(f"These are weights only: feed the model what training fed it — pixels 0–255, {pre.describe()}.")
    else:
        lines.append("The input is a latent vector (and a class index for a conditional model), not an image.")
    lines += ["", "## Training", "", _table([
        ("dataset", d.dataset + (f" ({d.path})" if d.path else "")),
        ("split", f"{1 - d.val_fraction:.0%} train / {d.val_fraction:.0%} validation, stratified, seed {d.seed}"
         + (f", first {d.limit} samples" if d.limit else "")),
        ("task", p.train.task), ("epochs", str(len(hist) or p.train.epochs)),
        ("optimizer", f"{p.train.optimizer.name}, lr {p.train.optimizer.lr:g}"),
    ])]
    metrics = {k: v for k, v in last.items() if k.startswith("val_") or k == "train_loss"}
    if metrics:
        lines += ["", "## Metrics (last epoch)", "", _table([(k, f"{v:.4f}") for k, v in metrics.items()])]
    ver = {k: v for k, v in verification.items() if k not in ("weights",)}
    lines += ["", "## Verification", "", _table([(k, f"{v:.6g}" if isinstance(v, float) else str(v))
                                                   for k, v in ver.items()])]
    for k, v in (extra or {}).items():
        lines += ["", f"## {k}", "", str(v)]
    lines += ["", "## Output", "", output_description(run, role, res)]
    use = use_snippet(run, role, module, fmt, path, takes_pixels)
    if use:
        lines += ["", "## Use", "", "```python", *use, "```"]
    lines += ["", f"Exported {time.strftime('%Y-%m-%d %H:%M:%S %Z')} by LayerLab {__version__}.", ""]
    out = card_path(path)
    atomic_write_text(out, "\n".join(lines))
    return out
