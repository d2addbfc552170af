"""Image grids: a batch of image tensors -> one uint8 picture (numpy), and PNG writing.

Used by the GAN/VAE trainers for their live sample grids and by ``layerlab generate``; the
supervised trainer may reuse it for its prediction grids. Built on ``torchvision.utils.make_grid``.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence

import numpy as np
import torch

from ..fsutil import atomic_write_bytes
from .events import GridGeometry


def grid_shape(n: int, nrow: int | None = None) -> tuple[int, int]:
    """(rows, cols) for ``n`` images: ``nrow`` images per row, else a near-square layout."""
    if n < 1:
        raise ValueError("a grid needs at least one image")
    cols = nrow if nrow is not None else math.ceil(math.sqrt(n))
    cols = max(1, min(cols, n))
    return math.ceil(n / cols), cols


def grid_geometry(n: int, cell_h: int, cell_w: int, nrow: int | None = None, padding: int = 2) -> GridGeometry:
    """The layout :func:`make_grid` gives ``n`` images of ``cell_h`` x ``cell_w`` (torchvision's rule:
    ``nrow`` per row, rows = ceil(n / nrow), ``padding`` around every cell)."""
    rows, cols = grid_shape(n, nrow)
    if n == 1:
        padding = 0  # torchvision returns a single image as it is, without a frame
    return GridGeometry(rows=rows, cols=cols, cell_h=int(cell_h), cell_w=int(cell_w), padding=int(padding), n=int(n))


def images_geometry(images, nrow: int | None = None, padding: int = 2) -> GridGeometry:
    """:func:`grid_geometry` of a batch ``(N, C, H, W)`` or ``(N, H, W)``."""
    shape = tuple(images.shape)
    return grid_geometry(shape[0], shape[-2], shape[-1], nrow, padding)


def make_grid(
    images: torch.Tensor,
    nrow: int | None = None,
    *,
    value_range: tuple[float, float] = (0.0, 1.0),
    padding: int = 2,
    pad_value: float = 0.0,
) -> np.ndarray:
    """A batch ``(N, C, H, W)`` (or ``(N, H, W)``) of images in ``value_range`` -> uint8 grid.

    ``nrow`` is the number of images per row (torchvision's naming); default near-square.
    Returns ``(H, W)`` for 1-channel images and ``(H, W, 3)`` for 3-channel ones. Values outside
    ``value_range`` are clipped. ``pad_value`` is in [0, 1] (0 = black separators).
    """
    from torchvision.utils import make_grid as tv_make_grid

    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4:
        raise ValueError(f"expected images shaped (N, C, H, W), got {tuple(images.shape)}")
    n, c = images.shape[:2]
    if n == 0:
        raise ValueError("a grid needs at least one image")
    if c not in (1, 3):
        raise ValueError(f"a grid shows 1- or 3-channel images, got {c} channels")
    lo, hi = value_range
    if not hi > lo:
        raise ValueError(f"value_range must be increasing, got {value_range}")
    x = images.detach().float().cpu()
    x = ((x - lo) / (hi - lo)).clamp_(0.0, 1.0)
    _, cols = grid_shape(n, nrow)
    g = tv_make_grid(x, nrow=cols, padding=padding, pad_value=pad_value)  # (3, H, W) or (C, H, W)
    arr = g.mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8)
    if c == 1:
        return arr[0].numpy().copy()
    return arr.permute(1, 2, 0).numpy().copy()


def interleave_rows(top: torch.Tensor, bottom: torch.Tensor, cols: int) -> torch.Tensor:
    """Two equally sized batches -> one batch whose grid rows alternate: ``cols`` of top, ``cols`` of bottom.

    Used for "original row / reconstruction row" pictures.
    """
    if top.shape != bottom.shape:
        raise ValueError(f"interleave_rows needs equal shapes, got {tuple(top.shape)} and {tuple(bottom.shape)}")
    n = top.shape[0]
    out: list[torch.Tensor] = []
    for i in range(0, n, cols):
        out.append(top[i : i + cols])
        out.append(bottom[i : i + cols])
    return torch.cat(out)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 ``(H, W)`` or ``(H, W, 3)`` array as PNG bytes."""
    import imageio.v3 as iio

    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"PNG images must be uint8, got {image.dtype}")
    if image.ndim not in (2, 3):
        raise ValueError(f"expected (H, W) or (H, W, 3), got {image.shape}")
    buf = io.BytesIO()
    iio.imwrite(buf, image, extension=".png")
    return buf.getvalue()


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write ``image`` as a PNG atomically (temp file + rename)."""
    atomic_write_bytes(path, png_bytes(image))


def read_png(path: str | os.PathLike) -> np.ndarray:
    import imageio.v3 as iio

    return np.asarray(iio.imread(path))


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean Euclidean distance between all pairs of rows of ``x`` flattened to (N, D) (0 for N < 2).

    A cheap diversity measure of a batch of samples (used for mode-collapse checks).
    """
    x = x.detach().float().reshape(x.shape[0], -1)
    n = x.shape[0]
    if n < 2:
        return 0.0
    d = torch.cdist(x, x)
    return float(d.sum() / (n * (n - 1)))


__all__: Sequence[str] = (
    "grid_shape", "grid_geometry", "images_geometry", "make_grid", "interleave_rows", "png_bytes", "save_png", "read_png", "mean_pairwise_distance",
)
