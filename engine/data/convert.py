"""One decoded image -> the project's input shape, by visible rules (no image decides for another).

- channels: ``grey`` (1) or ``rgb`` (3); grey stays grey unless RGB is asked for, colour becomes grey by
  luminance, alpha is dropped (PIL's ``convert`` rule, the same as torchvision's ImageFolder).
- depth: 16-bit (``I;16*``, or ``I`` holding values above 255) is *scaled* to 0..255 (x / 257), never
  clipped; float images (``F``) are read as 0..1 when their maximum is <= 1, else as 0..255.
- geometry (``resize`` mode): ``resize`` stretches to H x W; ``center_crop`` scales the short side to
  cover H x W and cuts the middle (torchvision's Resize + CenterCrop); ``pad`` fits the whole image
  inside H x W and pads with black (letterbox).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
RESIZE_MODES = ("resize", "center_crop", "pad")


def is_grey_mode(mode: str) -> bool:
    return mode in GREY_MODES


def _to_8bit(img: Image.Image) -> Image.Image:
    """An 8-bit PIL image (L, RGB, ...) from any depth; 16-bit is scaled, not clipped."""
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(img).astype(np.float64)
        if mode == "I" and a.size and a.max() <= 255 and a.min() >= 0:
            scale = 1.0  # an 8-bit image stored in a 32-bit container
        else:
            a = np.clip(a, 0, 65535)
            scale = 255.0 / 65535.0
        return Image.fromarray(np.rint(a * scale).astype(np.uint8), "L")
    if mode == "F":
        a = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        a = a * 255.0 if a.size and a.max() <= 1.0 else a
        return Image.fromarray(np.rint(np.clip(a, 0, 255)).astype(np.uint8), "L")
    return img


def to_channels(img: Image.Image, channels: int) -> Image.Image:
    img = _to_8bit(img)
    want = "L" if channels == 1 else "RGB"
    return img if img.mode == want else img.convert(want)


def fit(img: Image.Image, size: tuple[int, int], mode: str) -> Image.Image:
    """``img`` brought to ``size`` = (H, W) by ``mode`` (resize | center_crop | pad)."""
    h, w = size
    iw, ih = img.size
    if (iw, ih) == (w, h):
        return img
    if mode == "resize":
        return img.resize((w, h), Image.BILINEAR, reducing_gap=3.0)
    if mode == "center_crop":
        s = max(w / iw, h / ih)
        nw, nh = max(w, round(iw * s)), max(h, round(ih * s))
        img = img.resize((nw, nh), Image.BILINEAR, reducing_gap=3.0)
        left, top = (nw - w) // 2, (nh - h) // 2
        return img.crop((left, top, left + w, top + h))
    if mode == "pad":
        s = min(w / iw, h / ih)
        nw, nh = max(1, min(w, round(iw * s))), max(1, min(h, round(ih * s)))
        img = img.resize((nw, nh), Image.BILINEAR, reducing_gap=3.0)
        out = Image.new(img.mode, (w, h))
        out.paste(img, ((w - nw) // 2, (h - nh) // 2))
        return out
    raise ValueError(f"unknown resize mode {mode!r} (known: {', '.join(RESIZE_MODES)})")


def to_chw(img: Image.Image) -> np.ndarray:
    a = np.asarray(img, dtype=np.uint8)
    return np.ascontiguousarray(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))


def thumb_array(img: Image.Image, size: int) -> np.ndarray:
    """A display thumbnail (H, W) or (H, W, 3) uint8 that fits in size x size, aspect kept."""
    img = _to_8bit(img)
    if img.mode not in ("L", "RGB"):
        img = img.convert("L" if is_grey_mode(img.mode) else "RGB")
    img.thumbnail((size, size), Image.BILINEAR, reducing_gap=2.0)
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def array_thumb(chw: np.ndarray, size: int) -> np.ndarray:
    """Thumbnail of a (C, H, W) uint8 array (in-memory sources)."""
    a = chw[0] if chw.shape[0] == 1 else chw[:3].transpose(1, 2, 0)
    img = Image.fromarray(np.ascontiguousarray(a))
    if max(img.size) != size:
        s = size / max(img.size)
        img = img.resize((max(1, round(img.size[0] * s)), max(1, round(img.size[1] * s))), Image.NEAREST
                         if s > 1 else Image.BILINEAR)
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
