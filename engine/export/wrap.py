"""Preprocessing inside the exported model: raw pixel values in, the project's normalisation inside."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class WithPreprocessing(nn.Module):
    """``model((pixels / scale - mean) / std ...)``: what training fed the model, from raw 0..255 pixels.

    Constants are buffers, so ONNX, ``torch.export`` and the Python file all carry them.
    """

    def __init__(self, model: nn.Module, pre: Any):
        super().__init__()
        self.model = model
        self.register_buffer("scale", torch.tensor(float(pre.scale)), persistent=False)
        means, stds = [], []
        for mean, std in pre.normalize:
            means.append(torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
            stds.append(torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.n_norm = len(means)
        for i, (m, s) in enumerate(zip(means, stds)):
            self.register_buffer(f"mean{i}", m, persistent=False)
            self.register_buffer(f"std{i}", s, persistent=False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.to(torch.float32) / self.scale
        for i in range(self.n_norm):
            x = (x - getattr(self, f"mean{i}")) / getattr(self, f"std{i}")
        return self.model(x)


def wrap_for_export(module: nn.Module, run: Any, role: str) -> tuple[nn.Module, bool]:
    """(module to export, takes raw pixels?): image inputs get the preprocessing; latents stay as they are."""
    takes_images = len(getattr(module, "input_shapes", [()])) == 1 and len(module.input_shapes[0]) == 3 \
        and getattr(module, "input_dtypes", ["float"])[0] == "float" and role not in ("generator", "decoder")
    if takes_images:
        return WithPreprocessing(module, run.preprocessing()).eval(), True
    return module.eval(), False
