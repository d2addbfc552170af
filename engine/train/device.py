"""Device choice, AMP dtype, seeding and RNG state capture (plain tensors, so checkpoints load with
``weights_only=True``)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


class DeviceError(ValueError):
    """The requested device is not available on this machine."""


def _cuda_available() -> bool:
    return torch.cuda.is_available()


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` -> cuda if available, then mps, else cpu. An explicit device that is missing is an error."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if _cuda_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not _cuda_available():
            raise DeviceError(f"device {spec!r} was requested but CUDA is not available here (use 'auto' or 'cpu')")
        dev = torch.device(spec)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {spec!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return dev
    if spec == "mps":
        if not _mps_available():
            raise DeviceError("device 'mps' was requested but Apple MPS is not available here (use 'auto' or 'cpu')")
        return torch.device("mps")
    raise DeviceError(f"unknown device {spec!r} (use auto, cpu, cuda, cuda:N or mps)")


def resolve_amp_dtype(device: torch.device, amp: bool, amp_dtype: str = "auto") -> torch.dtype | None:
    """The autocast dtype, or None when AMP is off. CPU: bf16 only. CUDA: fp16 by default (bf16 if asked).
    MPS: fp16."""
    if not amp:
        return None
    if device.type == "cpu":
        return torch.bfloat16  # CPU autocast supports bf16 (fp16 requests fall back to bf16)
    if device.type == "cuda":
        if amp_dtype == "bf16":
            return torch.bfloat16
        return torch.float16
    if device.type == "mps":
        return torch.float16
    return None


def default_threads() -> int:
    """Threads for torch in the studio's training runners: the free cores, leaving one for the UI
    (see :mod:`engine.threads`)."""
    from ..threads import choose_threads

    return choose_threads(leave_one=True)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices) for bit-reproducible CPU runs."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def capture_rng() -> dict[str, Any]:
    """Every RNG state as tensors/plain values (loadable with ``torch.load(weights_only=True)``)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    out: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
        "numpy_meta": [str(np_state[0]), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [int(py_state[0]), torch.tensor(py_state[1], dtype=torch.int64),
                   None if py_state[2] is None else float(py_state[2])],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state_all()
    if _mps_available() and hasattr(torch, "mps"):
        out["mps"] = torch.mps.get_rng_state()
    return out


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    meta = state["numpy_meta"]
    np.random.set_state((meta[0], state["numpy_keys"].numpy().astype(np.uint32), meta[1], meta[2], meta[3]))
    ver, keys, gauss = state["python"]
    random.setstate((ver, tuple(int(k) for k in keys.tolist()), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "mps" in state and _mps_available():
        torch.mps.set_rng_state(state["mps"])


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels (for timing); a no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
