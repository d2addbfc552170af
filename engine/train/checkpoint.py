"""Checkpoints: one ``torch.save`` file of plain types (state dicts, RNG states as tensors, the project
as JSON text), written atomically and read back with ``torch.load(weights_only=True)``.

Layout::

    {"format": "layerlab-checkpoint", "version": 2, "checksum": "blake2b:<hex>",
     "trainer": trainer.state_dict(),          # models, optimizers, schedules, scaler
     "rng": device.capture_rng(), "data": loader state (generator state, step in epoch),
     "epoch": next epoch to run (0-based), "step_in_epoch": steps done in it, "global_step": int,
     "history": [per-epoch metric dicts], "callbacks": {name: state}, "partial": {sums for a
     mid-epoch snapshot}, "project": JSON text of the document, "kind": "last" | "best"}

The checksum covers every key and value (tensors by dtype, shape and bytes), so one flipped byte
anywhere -- an optimizer moment, an RNG state, the step counter -- is refused on load instead of
resuming with silently altered state. Version 1 files (before checksums) still load.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from ..fsutil import atomic_write_with, full_reason, is_disk_full

FORMAT = "layerlab-checkpoint"
VERSION = 2  # 2: carries "checksum"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not belong to this kind of run."""


class CheckpointWriteError(OSError):
    """A checkpoint that could not be written (disk full, permission); the previous file is intact."""


def _feed(h: Any, v: Any) -> None:
    """Hash ``v`` canonically: type tags, sorted dict keys, tensors as dtype + shape + raw bytes."""
    if isinstance(v, torch.Tensor):
        t = v.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(v, dict):
        h.update(b"D%d" % len(v))
        for k in sorted(v, key=lambda k: (type(k).__name__, str(k))):
            _feed(h, k)
            _feed(h, v[k])
    elif isinstance(v, (list, tuple)):
        h.update(b"L%d" % len(v))
        for item in v:
            _feed(h, item)
    elif isinstance(v, (bool, int, float, str, bytes)) or v is None:
        h.update(f"{type(v).__name__}:{v!r};".encode())
    else:
        h.update(f"{type(v).__name__}:{v!r};".encode())


def checksum(data: dict[str, Any]) -> str:
    """The checksum of a checkpoint's content (every key except ``checksum`` itself)."""
    h = hashlib.blake2b(digest_size=20)
    _feed(h, {k: v for k, v in data.items() if k != "checksum"})
    return "blake2b:" + h.hexdigest()


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> str:
    """Write ``payload`` atomically (temp file + ``os.replace``): a crash mid-write keeps the old file.

    A full disk (or any failed write) raises ``CheckpointWriteError`` with one line naming the path and
    saying that the previous checkpoint there is intact."""
    data = {"format": FORMAT, "version": VERSION, **payload}
    data["checksum"] = checksum(data)
    try:
        atomic_write_with(path, lambda fh: torch.save(data, fh))
    except (OSError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and not is_disk_full(exc):
            raise
        why = full_reason(exc) if is_disk_full(exc) else (getattr(exc, "strerror", None) or str(exc))
        kept = (f"the previous {Path(path).name} is intact" if Path(path).is_file()
                else "no earlier checkpoint was saved there")
        raise CheckpointWriteError(f"cannot write checkpoint {path}: {why}; {kept}") from None
    return str(path)


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (``weights_only=True``: no code is unpickled)."""
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(f"{p}: is a folder, not a checkpoint file (e.g. {p / 'checkpoints' / 'last.pt'})")
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint file not found")
    data = _safe_load(p, map_location, "LayerLab checkpoint")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not a LayerLab checkpoint (a plain weights file such as model.pt cannot resume "
                              "training; use DIR/checkpoints/last.pt)")
    return verified(p, data)


def verified(p: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Version, checksum and layout checks of a loaded checkpoint."""
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{p}: not a valid LayerLab checkpoint (its version field is {_short(version)}, "
                              "expected a whole number >= 1)")
    if version > VERSION:
        raise CheckpointError(f"{p}: written by a newer LayerLab (checkpoint version {version}; this LayerLab "
                              f"reads up to {VERSION}); update LayerLab to resume from it")
    if version >= 2:
        want = data.get("checksum")
        if not isinstance(want, str) or checksum(data) != want:
            raise CheckpointError(f"{p}: the checkpoint is corrupt (its checksum does not match its content: the "
                                  "file was damaged or edited); resume from another checkpoint, e.g. best.pt")
    if not isinstance(data.get("trainer"), dict):
        raise CheckpointError(f"{p}: the checkpoint holds no training state (no 'trainer' section)")
    return data


def checkpoint_summary(path: str | os.PathLike) -> dict[str, Any]:
    """What a checkpoint file holds, for lists and labels: ``kind``, ``epoch`` (0-based, the last epoch
    it completed, or the one it stopped inside), ``global_step``, ``mid_epoch``, ``saved_at``, and the
    run time its history adds up to (``wall_s``). Memory-maps the file: the weights are not read."""
    p = Path(path)
    try:
        data = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - some files cannot be mapped (old zip layout): read it whole
        data = _safe_load(p, "cpu", "LayerLab checkpoint")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not a LayerLab checkpoint")
    mid = int(data.get("step_in_epoch", 0) or 0) > 0
    nxt = int(data.get("epoch", 0))
    history = data.get("history") or []
    return {
        "kind": str(data.get("kind", p.stem)),
        "epoch": nxt if mid else max(0, nxt - 1),
        "global_step": int(data.get("global_step", 0)),
        "mid_epoch": mid,
        "saved_at": float(data.get("saved_at", 0.0) or 0.0),
        "wall_s": float(sum(float(r.get("wall_s", 0.0) or 0.0) for r in history if isinstance(r, dict))),
    }


def _short(v: Any) -> str:
    text = repr(v) if not isinstance(v, torch.Tensor) else f"a tensor of shape {list(v.shape)}"
    return text if len(text) <= 40 else text[:37] + "..."


def model_state_from(path: str | os.PathLike, name: str = "model") -> dict[str, torch.Tensor]:
    """The weights of one module from a checkpoint (or from a plain ``model.pt`` state dict)."""
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(f"{p}: is a folder, not a weights file")
    if not p.is_file():
        raise CheckpointError(f"{p}: file not found")
    data = _safe_load(p, "cpu", "weights file")
    if isinstance(data, dict) and data.get("format") == FORMAT:
        data = verified(p, data)  # the same checks as for resuming (version, checksum)
        models = data["trainer"].get("models", {})
        if not isinstance(models, dict):
            raise CheckpointError(f"{p}: the checkpoint holds no model weights")
        if name not in models:
            raise CheckpointError(f"{p}: no module named {name!r} (has {', '.join(models)})")
        return models[name]
    if isinstance(data, dict) and name in data and isinstance(data[name], dict):
        return data[name]
    return data


def read_torch_file(path: str | os.PathLike, what: str = "weights file") -> Any:
    """Any LayerLab ``.pt`` file (checkpoint or state dict) read with ``weights_only=True`` on the CPU;
    a ``CheckpointError`` with one plain line when it cannot be read."""
    return _safe_load(Path(path), "cpu", what)


def _safe_load(p: Path, map_location: Any, what: str) -> Any:
    """``torch.load(weights_only=True)`` with one plain line for every way a file can be unreadable."""
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt, truncated, foreign, or holding objects weights_only refuses
        raise CheckpointError(f"{p}: not a readable {what}: {_why_unreadable(p, exc)}") from None


def _why_unreadable(p: Path, exc: BaseException) -> str:
    text = str(exc)
    try:
        empty = p.stat().st_size == 0
    except OSError:
        empty = False
    if empty:
        return "the file is empty"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, EOFError) or "truncated" in text.lower() or "central directory" in text.lower():
        return "the file is truncated or corrupt"
    if "GLOBAL" in text or "Unsupported global" in text:
        return ("it holds Python objects other than tensors and plain values, which LayerLab refuses to "
                "load (weights_only=True; no code from a file is ever run)")
    return "the file is corrupt or not a PyTorch checkpoint"


def state_mismatch(saved: dict[str, Any], modules: dict[str, Any]) -> str | None:
    """One line describing how saved module state dicts differ from ``modules`` (None when they fit)."""
    for name, module in modules.items():
        if name not in saved:
            return f"it has no {name!r} model (it has {', '.join(saved) or 'none'})"
        want = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        have = {k: tuple(v.shape) for k, v in saved[name].items() if hasattr(v, "shape")}
        problems = []
        missing = [k for k in want if k not in have]
        extra = [k for k in have if k not in want]
        if missing:
            problems.append(f"this model has {_names(missing)} which the checkpoint lacks")
        if extra:
            problems.append(f"the checkpoint has {_names(extra)} which this model lacks")
        for k, shape in want.items():
            if k in have and have[k] != shape:
                problems.append(f"{k} is {list(have[k])} in the checkpoint but {list(shape)} here")
        if problems:
            n = len(problems) - 2
            more = f" (and {n} more difference{'s' if n > 1 else ''})" if n > 0 else ""
            return "; ".join(problems[:2]) + more
    return None


def _names(keys: list[str], n: int = 3) -> str:
    shown = ", ".join(keys[:n])
    return shown + (f" and {len(keys) - n} more" if len(keys) > n else "")
