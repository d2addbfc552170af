"""The standalone Python export: the designer's code generator's class, its weights, and a ``load()``.

The file needs only torch. ``load()`` builds the class, reads the weights beside it with
``weights_only=True`` and, for an image model, wraps it so it takes raw 0..255 pixels and applies
the project's normalisation inside (the constants are written as numbers, never user text as code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..fsutil import atomic_write_text, atomic_write_with


def _floats(values: Any) -> str:
    return "(" + ", ".join(repr(float(v)) for v in values) + ",)"


def write_python_export(run: Any, role: str, module: Any, path: Path, pixels: bool) -> tuple[Path, str]:
    """Write ``path`` (.py) and its weights (``STEM_weights.pt``); returns (weights path, class name)."""
    from ..graph.codegen import class_name_for, python_source

    gpath = run.graph_path(role)
    cls = class_name_for(run.project.name + ("" if role == "model" else f" {role}"))
    src = python_source(run.project, gpath, class_name=cls)
    from . import python_weights_path

    weights = python_weights_path(path)
    pre = run.preprocessing()
    norm = ", ".join(f"({_floats(m)}, {_floats(s)})" for m, s in pre.normalize)
    tail = f'''

# --- added by LayerLab's export: preprocessing and loading ------------------------------------
SCALE = {float(pre.scale)!r}  # the model was trained on pixels / SCALE ...
NORMALIZE = [{norm}]  # ... then (x - mean) / std for each (mean, std), per channel
TAKES_PIXELS = {bool(pixels)!r}


class WithPreprocessing(nn.Module):
    """{cls} that takes raw pixel values (0..255) and normalises them as in training."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.register_buffer("scale", torch.tensor(SCALE), persistent=False)
        for i, (mean, std) in enumerate(NORMALIZE):
            self.register_buffer(f"mean{{i}}", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
            self.register_buffer(f"std{{i}}", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, pixels):
        x = pixels.to(torch.float32) / self.scale
        for i in range(len(NORMALIZE)):
            x = (x - getattr(self, f"mean{{i}}")) / getattr(self, f"std{{i}}")
        return self.model(x)


def load(weights=None):
    """The trained model, in eval mode (weights default to the file saved beside this one)."""
    import pathlib

    weights = weights or pathlib.Path(__file__).with_name({weights.name!r})
    model = {cls}()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return (WithPreprocessing(model) if TAKES_PIXELS else model).eval()
'''
    state = {k: v.detach().contiguous().clone() for k, v in module.state_dict().items()}
    atomic_write_with(weights, lambda fh: torch.save(state, fh))
    atomic_write_text(path, src + tail)
    return weights, cls
