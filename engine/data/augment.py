"""Batch-wise, on-device augmentation built from ``DataSpec.augment``.

torchvision.transforms.v2 applied to a batch tensor draws *one* set of random parameters for the
whole batch. To keep randomness per sample and stay fast, the geometric transforms
(``random_rotation``, ``affine``, ``random_resized_crop``, ``horizontal_flip``, ``vertical_flip``)
are each turned into a per-sample 3x3 sampling matrix; the matrices are multiplied in list order
and the batch is resampled once with ``affine_grid`` + ``grid_sample`` (bilinear, zero fill). A list
of flips only uses an exact ``torch.where`` flip. ``color_jitter`` draws per-sample brightness /
contrast / saturation factors (vectorised). ``normalize`` is deterministic
(``torchvision.transforms.v2.functional.normalize``) and is applied to training *and* validation
data (``build_normalize``); the random transforms apply to training batches only.

Parameters (defaults in brackets):

- ``random_rotation``: ``degrees`` [15] -> angle ~ U(-degrees, degrees)
- ``horizontal_flip`` / ``vertical_flip``: ``p`` [0.5]
- ``random_resized_crop``: ``scale`` [[0.8, 1.0]] area fraction, ``ratio`` [[0.75, 1.3333]] aspect
- ``affine``: ``degrees`` [0], ``translate`` [[0.1, 0.1]] (fraction of width/height),
  ``scale`` [[0.9, 1.1]], ``shear`` [0] (degrees, x axis)
- ``color_jitter``: ``brightness`` [0.2], ``contrast`` [0.2], ``saturation`` [0] (RGB only)
- ``random_erasing``: ``p`` [0.5], ``scale`` [[0.02, 0.33]] area fraction, ``ratio`` [[0.3, 3.3]] aspect,
  ``value`` [0] fill (one rectangle per chosen sample, vectorised as a mask; after the colour ops)
- ``normalize``: ``mean`` [[0.5]], ``std`` [[0.5]] (one value, or one per channel)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .augment_params import AUGMENT_DEFAULTS, GEOMETRIC, AugmentError, check_augment, parse_augment

__all__ = ["AUGMENT_DEFAULTS", "GEOMETRIC", "AugmentError", "BatchAugment", "build_augment", "build_normalize",
           "check_augment", "preview"]


def _uniform(n: int, lo: float, hi: float, device: torch.device, gen: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, device=device, generator=gen) * (hi - lo) + lo


def _eye(n: int, device: torch.device) -> torch.Tensor:
    return torch.eye(3, device=device).expand(n, 3, 3).clone()


class BatchAugment:
    """Random training-time transforms for a (B, C, H, W) float batch on any device."""

    def __init__(self, specs: Sequence[Any], channels: int | None = None):
        ops = [o for o in parse_augment(specs) if o.type != "normalize"]
        self.ops = ops
        self.geometric = [o for o in ops if o.type in GEOMETRIC]
        self.flips_only = all(o.type in ("horizontal_flip", "vertical_flip") for o in self.geometric)
        self.color = [o for o in ops if o.type == "color_jitter"]
        self.erasing = [o for o in ops if o.type == "random_erasing"]
        if channels is not None and channels != 3:
            for o in self.color:
                if o.params["saturation"] > 0:
                    raise AugmentError("data.augment: color_jitter.saturation needs RGB (3-channel) images")

    def __bool__(self) -> bool:
        return bool(self.ops)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.ndim != 4:
            raise AugmentError(f"augmentation expects image batches (B, C, H, W); got shape {tuple(x.shape)}")
        if self.geometric:
            x = self._flips(x, generator) if self.flips_only else self._warp(x, generator)
        for op in self.color:
            x = self._jitter(x, op.params, generator)
        for op in self.erasing:
            x = self._erase(x, op.params, generator)
        return x

    def _erase(self, x: torch.Tensor, p: dict[str, Any], gen: torch.Generator | None) -> torch.Tensor:
        n, _, h, w = x.shape
        dev = x.device
        area = _uniform(n, *p["scale"], dev, gen) * (h * w)
        logr = _uniform(n, math.log(p["ratio"][0]), math.log(p["ratio"][1]), dev, gen)
        r = torch.exp(logr)
        eh = torch.sqrt(area / r).clamp(1, h)
        ew = torch.sqrt(area * r).clamp(1, w)
        y0 = torch.rand(n, device=dev, generator=gen) * (h - eh)
        x0 = torch.rand(n, device=dev, generator=gen) * (w - ew)
        on = torch.rand(n, device=dev, generator=gen) < p["p"]
        ys = torch.arange(h, device=dev, dtype=eh.dtype).view(1, h, 1)
        xs = torch.arange(w, device=dev, dtype=ew.dtype).view(1, 1, w)
        m = ((ys >= y0.view(n, 1, 1)) & (ys < (y0 + eh).view(n, 1, 1)) & (xs >= x0.view(n, 1, 1))
             & (xs < (x0 + ew).view(n, 1, 1)) & on.view(n, 1, 1))
        return torch.where(m.unsqueeze(1), torch.as_tensor(p["value"], dtype=x.dtype, device=dev), x)

    # -- geometry --------------------------------------------------------------------------------
    def _flips(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        n = x.shape[0]
        for op in self.geometric:
            m = (torch.rand(n, device=x.device, generator=gen) < op.params["p"]).view(n, 1, 1, 1)
            dim = 3 if op.type == "horizontal_flip" else 2
            x = torch.where(m, x.flip(dim), x)
        return x

    def _warp(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        n, _, h, w = x.shape
        dev = x.device
        # normalised coords are [-1, 1] on both axes; work in an aspect-true frame (x scaled by w/h)
        asp = torch.diag(torch.tensor([w / max(h, 1), 1.0, 1.0], device=dev))
        asp_inv = torch.diag(torch.tensor([max(h, 1) / w, 1.0, 1.0], device=dev))
        total = _eye(n, dev)
        for op in self.geometric:
            p = op.params
            s = _eye(n, dev)
            if op.type == "random_rotation":
                a = torch.deg2rad(_uniform(n, -p["degrees"], p["degrees"], dev, gen))
                s = asp_inv @ _rot(a) @ asp
            elif op.type in ("horizontal_flip", "vertical_flip"):
                flip = torch.where(torch.rand(n, device=dev, generator=gen) < p["p"], -1.0, 1.0)
                s[:, 0 if op.type == "horizontal_flip" else 1, 0 if op.type == "horizontal_flip" else 1] = flip
            elif op.type == "random_resized_crop":
                area = _uniform(n, *p["scale"], dev, gen)
                logr = _uniform(n, math.log(p["ratio"][0]), math.log(p["ratio"][1]), dev, gen)
                r = torch.exp(logr) * (h / w)  # ratio is width/height in pixels
                cw = torch.sqrt(area * r).clamp(max=1.0)
                ch = torch.sqrt(area / r).clamp(max=1.0)
                cx = (torch.rand(n, device=dev, generator=gen) * 2 - 1) * (1 - cw)
                cy = (torch.rand(n, device=dev, generator=gen) * 2 - 1) * (1 - ch)
                s[:, 0, 0], s[:, 1, 1], s[:, 0, 2], s[:, 1, 2] = cw, ch, cx, cy
            elif op.type == "affine":
                a = torch.deg2rad(_uniform(n, -p["degrees"], p["degrees"], dev, gen))
                sh = torch.deg2rad(_uniform(n, -p["shear"], p["shear"], dev, gen))
                sc = _uniform(n, *p["scale"], dev, gen)
                tx = _uniform(n, -p["translate"][0], p["translate"][0], dev, gen) * 2
                ty = _uniform(n, -p["translate"][1], p["translate"][1], dev, gen) * 2
                fwd = _eye(n, dev)
                fwd[:, 0, 0] = sc
                fwd[:, 1, 1] = sc
                shear = _eye(n, dev)
                shear[:, 0, 1] = torch.tan(sh)
                fwd = _rot(a) @ shear @ fwd
                fwd = asp_inv @ fwd @ asp
                fwd[:, 0, 2] = tx
                fwd[:, 1, 2] = ty
                s = torch.linalg.inv(fwd)
            total = total @ s
        grid = F.affine_grid(total[:, :2, :].to(x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    # -- colour ----------------------------------------------------------------------------------
    def _jitter(self, x: torch.Tensor, p: dict[str, float], gen: torch.Generator | None) -> torch.Tensor:
        n = x.shape[0]
        dev = x.device
        if p["brightness"] > 0:
            b = p["brightness"]
            x = x * _uniform(n, max(0.0, 1 - b), 1 + b, dev, gen).view(n, 1, 1, 1).to(x.dtype)
        if p["contrast"] > 0:
            c = p["contrast"]
            f = _uniform(n, max(0.0, 1 - c), 1 + c, dev, gen).view(n, 1, 1, 1).to(x.dtype)
            mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * f + mean
        if p["saturation"] > 0 and x.shape[1] == 3:
            s = p["saturation"]
            f = _uniform(n, max(0.0, 1 - s), 1 + s, dev, gen).view(n, 1, 1, 1).to(x.dtype)
            g = _gray(x)
            x = (x - g) * f + g
        return x.clamp(0.0, 1.0)


def _rot(a: torch.Tensor) -> torch.Tensor:
    n = a.shape[0]
    m = _eye(n, a.device)
    c, s = torch.cos(a), torch.sin(a)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 3:
        w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)
    return x.mean(1, keepdim=True)


def build_augment(specs: Sequence[Any], channels: int | None = None) -> BatchAugment | None:
    """The random training transforms, or None when there are none."""
    aug = BatchAugment(specs, channels)
    return aug if aug else None


def build_normalize(specs: Sequence[Any], channels: int) -> tuple[Callable[[torch.Tensor], torch.Tensor],
                                                                    Callable[[torch.Tensor], torch.Tensor]] | None:
    """(normalize, denormalize) for the ``normalize`` entries (applied in order), or None."""
    from torchvision.transforms.v2 import functional as TF

    norms = [o.params for o in parse_augment(specs) if o.type == "normalize"]
    if not norms:
        return None
    pairs = []
    for p in norms:
        mean, std = p["mean"], p["std"]
        if len(mean) == 1:
            mean = mean * channels
        if len(std) == 1:
            std = std * channels
        if len(mean) != channels or len(std) != channels:
            raise AugmentError(f"data.augment normalize: give 1 or {channels} values for mean and std")
        pairs.append((list(mean), list(std)))

    def normalize(x: torch.Tensor) -> torch.Tensor:
        for mean, std in pairs:
            x = TF.normalize(x, mean=mean, std=std)
        return x

    def denormalize(x: torch.Tensor) -> torch.Tensor:
        for mean, std in reversed(pairs):
            m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
            s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
            x = x * s + m
        return x

    return normalize, denormalize


def preview(images: torch.Tensor, specs: Sequence[Any], seed: int = 0) -> torch.Tensor:
    """Augmented copies of ``images`` ((B, C, H, W) float in [0, 1], CPU) for the Data view's preview.
    Seeded, so the same seed shows the same picture. ``normalize`` is not applied (display space)."""
    aug = build_augment(specs, images.shape[1])
    if aug is None:
        return images.clone()
    gen = torch.Generator(device=images.device).manual_seed(seed)
    return aug(images, gen)
