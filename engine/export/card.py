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
    if fmt == "onnx":
        lines += ["", "## Use", "", "```python", "import numpy as np, onnxruntime as ort",
                  f"sess = ort.InferenceSession({path.name!r})",
                  "logits = sess.run(None, {sess.get_inputs()[0].name: pixels.astype(np.float32)})[0]", "```"]
    lines += ["", f"Exported {time.strftime('%Y-%m-%d %H:%M:%S %Z')} by LayerLab {__version__}.", ""]
    out = card_path(path)
    atomic_write_text(out, "\n".join(lines))
    return out
