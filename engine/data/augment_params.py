"""The augmentation steps' parameters: defaults and validation (torch-free, so the studio can build its
editor without importing torch on the Qt thread). The transforms themselves are in ``augment``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class AugmentError(ValueError):
    """A bad augmentation entry; the message names ``data.augment[i]...``."""


_DEFAULTS: dict[str, dict[str, Any]] = {
    "random_rotation": {"degrees": 15.0},
    "horizontal_flip": {"p": 0.5},
    "vertical_flip": {"p": 0.5},
    "random_resized_crop": {"scale": [0.8, 1.0], "ratio": [0.75, 4.0 / 3.0]},
    "affine": {"degrees": 0.0, "translate": [0.1, 0.1], "scale": [0.9, 1.1], "shear": 0.0},
    "color_jitter": {"brightness": 0.2, "contrast": 0.2, "saturation": 0.0},
    "random_erasing": {"p": 0.5, "scale": [0.02, 0.33], "ratio": [0.3, 3.3], "value": 0.0},
    "normalize": {"mean": [0.5], "std": [0.5]},
}
AUGMENT_DEFAULTS = _DEFAULTS  # public: the types and their parameters' defaults (the Data view's editor)
GEOMETRIC = ("random_rotation", "horizontal_flip", "vertical_flip", "random_resized_crop", "affine")


@dataclass(frozen=True)
class _Op:
    type: str
    params: dict[str, Any]


def _num(where: str, v: Any, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise AugmentError(f"{where}: must be a number")
    if lo is not None and v < lo:
        raise AugmentError(f"{where}: must be >= {lo}")
    if hi is not None and v > hi:
        raise AugmentError(f"{where}: must be <= {hi}")
    return float(v)


def _pair(where: str, v: Any, lo: float | None = None, hi: float | None = None) -> tuple[float, float]:
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise AugmentError(f"{where}: must be a pair [low, high]")
    a, b = (_num(where, x, lo, hi) for x in v)
    if a > b:
        raise AugmentError(f"{where}: low must not exceed high")
    return a, b


def parse_augment(specs: Sequence[Any]) -> list[_Op]:
    ops = []
    for i, s in enumerate(specs):
        typ = s.type if hasattr(s, "type") else s.get("type")
        params = dict(s.params if hasattr(s, "params") else s.get("params", {}))
        base = f"data.augment[{i}]"
        if typ not in _DEFAULTS:
            raise AugmentError(f"{base}.type: unknown augmentation {typ!r} (known: {', '.join(_DEFAULTS)})")
        for k in params:
            if k not in _DEFAULTS[typ]:
                raise AugmentError(f"{base}.params.{k}: unknown parameter for {typ} "
                                   f"(known: {', '.join(_DEFAULTS[typ])})")
        p = {**_DEFAULTS[typ], **params}
        w = f"{base}.params"
        if typ == "random_rotation":
            p["degrees"] = _num(f"{w}.degrees", p["degrees"], 0, 180)
        elif typ in ("horizontal_flip", "vertical_flip"):
            p["p"] = _num(f"{w}.p", p["p"], 0, 1)
        elif typ == "random_resized_crop":
            p["scale"] = _pair(f"{w}.scale", p["scale"], 1e-3, 1.0)
            p["ratio"] = _pair(f"{w}.ratio", p["ratio"], 1e-2, 100.0)
        elif typ == "affine":
            p["degrees"] = _num(f"{w}.degrees", p["degrees"], 0, 180)
            p["translate"] = _pair(f"{w}.translate", p["translate"], 0, 1)
            p["scale"] = _pair(f"{w}.scale", p["scale"], 1e-2, 10)
            p["shear"] = _num(f"{w}.shear", p["shear"], 0, 80)
        elif typ == "color_jitter":
            for k in ("brightness", "contrast", "saturation"):
                p[k] = _num(f"{w}.{k}", p[k], 0, 1)
        elif typ == "random_erasing":
            p["p"] = _num(f"{w}.p", p["p"], 0, 1)
            p["scale"] = _pair(f"{w}.scale", p["scale"], 1e-4, 1.0)
            p["ratio"] = _pair(f"{w}.ratio", p["ratio"], 1e-2, 100.0)
            p["value"] = _num(f"{w}.value", p["value"], 0, 1)
        elif typ == "normalize":
            for k in ("mean", "std"):
                v = p[k]
                v = [v] if isinstance(v, (int, float)) else v
                if not isinstance(v, (list, tuple)) or not v:
                    raise AugmentError(f"{w}.{k}: must be a number or a list of numbers (one per channel)")
                p[k] = [_num(f"{w}.{k}", x) for x in v]
            if any(s <= 0 for s in p["std"]):
                raise AugmentError(f"{w}.std: every std must be > 0")
        ops.append(_Op(typ, p))
    return ops


def check_augment(specs: Sequence[Any]) -> None:
    """Raise ``AugmentError`` (naming ``data.augment[i]...``) for the first bad entry."""
    parse_augment(specs)
