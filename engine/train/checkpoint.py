"""Checkpoints: one ``torch.save`` file of plain types (state dicts, RNG states as tensors, the project
as JSON text), written atomically and read back with ``torch.load(weights_only=True)``.

Layout::

    {"format": "layerlab-checkpoint", "version": 1,
     "trainer": trainer.state_dict(),          # models, optimizers, schedules, scaler
     "rng": device.capture_rng(), "data": loader state (generator state, step in epoch),
     "epoch": next epoch to run (0-based), "step_in_epoch": steps done in it, "global_step": int,
     "history": [per-epoch metric dicts], "callbacks": {name: state}, "partial": {sums for a
     mid-epoch snapshot}, "project": JSON text of the document, "kind": "last" | "best"}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..fsutil import atomic_write_with

FORMAT = "layerlab-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not belong to this kind of run."""


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> str:
    """Write ``payload`` atomically (temp file + ``os.replace``): a crash mid-write keeps the old file."""
    data = {"format": FORMAT, "version": VERSION, **payload}
    atomic_write_with(path, lambda fh: torch.save(data, fh))
    return str(path)


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (``weights_only=True``: no code is unpickled)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint file not found")
    try:
        data = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt, truncated or not a torch file
        raise CheckpointError(f"{p}: not a readable LayerLab checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not a LayerLab checkpoint")
    if int(data.get("version", 0)) > VERSION:
        raise CheckpointError(f"{p}: written by a newer LayerLab (checkpoint version {data.get('version')})")
    return data


def model_state_from(path: str | os.PathLike, name: str = "model") -> dict[str, torch.Tensor]:
    """The weights of one module from a checkpoint (or from a plain ``model.pt`` state dict)."""
    p = Path(path)
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{p}: file not found") from None
    except Exception as exc:
        raise CheckpointError(f"{p}: not a readable weights file ({type(exc).__name__}: {exc})") from None
    if isinstance(data, dict) and data.get("format") == FORMAT:
        models = data["trainer"].get("models", {})
        if name not in models:
            raise CheckpointError(f"{p}: no module named {name!r} (has {', '.join(models)})")
        return models[name]
    if isinstance(data, dict) and name in data and isinstance(data[name], dict):
        return data[name]
    return data
