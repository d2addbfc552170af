"""Dataset sources -> arrays -> a ``DataBundle`` of train/val tensors.

``digits`` is bundled (resources/datasets/digits/digits.npz, real MNIST, CC BY-SA 3.0) and is the
default. Other sources: ``torchvision:NAME`` (MNIST, FashionMNIST, KMNIST, CIFAR10; needs the files
under ``data.path``; nothing is downloaded at run time unless the user asks), ``folder`` (an
ImageFolder tree at ``data.path``), ``csv`` (pixels..., label rows like the bundled file).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .split import stratified_split

DIGITS_CLASSES = tuple(str(i) for i in range(10))


class DatasetError(ValueError):
    """A dataset that cannot be loaded; the message names the dataset/path and says why."""


def digits_path() -> Path:
    return Path(str(resources.files("resources").joinpath("datasets/digits/digits.npz")))


@functools.lru_cache(maxsize=4)
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    with np.load(digits_path()) as z:
        images = z["images"][:, None, :, :]  # (N, 1, 28, 28) uint8
        labels = z["labels"].astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def available_datasets() -> list[dict[str, str]]:
    return [
        {"name": "digits", "description": "5,000 MNIST handwritten digits (bundled, offline)"},
        {"name": "torchvision:MNIST", "description": "MNIST from files under data.path"},
        {"name": "torchvision:FashionMNIST", "description": "Fashion-MNIST from files under data.path"},
        {"name": "torchvision:CIFAR10", "description": "CIFAR-10 from files under data.path"},
        {"name": "folder", "description": "an image folder tree (one sub-folder per class) at data.path"},
        {"name": "csv", "description": "CSV rows of 784 pixels then a label, at data.path"},
    ]


def load_arrays(dataset: str, path: str | None = None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(images uint8 (N, C, H, W), labels int64 (N,), class names) for a named source."""
    if dataset == "digits":
        x, y = _load_digits()
        return x, y, DIGITS_CLASSES
    if dataset == "csv":
        return _load_csv(path)
    if dataset == "folder":
        return _load_folder(path)
    if dataset.startswith("torchvision:"):
        return _load_torchvision(dataset.split(":", 1)[1], path)
    raise DatasetError(f"unknown dataset {dataset!r} (known: digits, csv, folder, torchvision:NAME)")


def _need_path(path: str | None, what: str) -> Path:
    if not path:
        raise DatasetError(f"data.path: a {what} dataset needs a path")
    p = Path(path).expanduser()
    if not p.exists():
        raise DatasetError(f"data.path: {p} does not exist")
    return p


def _load_csv(path: str | None):
    p = _need_path(path, "csv")
    import gzip

    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rt") as fh:
            arr = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    except ValueError as exc:
        raise DatasetError(f"{p}: not a numeric CSV ({exc})") from None
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise DatasetError(f"{p}: expected rows of pixels then a label")
    n_pix = arr.shape[1] - 1
    side = int(round(n_pix**0.5))
    if side * side != n_pix:
        raise DatasetError(f"{p}: {n_pix} pixel columns is not a square image")
    x = np.clip(arr[:, :-1], 0, 255).astype(np.uint8).reshape(-1, 1, side, side)
    y = arr[:, -1]
    classes = tuple(str(c) for c in range(int(y.max()) + 1))
    return x, y, classes


def _load_folder(path: str | None):
    p = _need_path(path, "folder")
    from torchvision.datasets import ImageFolder

    try:
        ds = ImageFolder(str(p))
    except (FileNotFoundError, RuntimeError) as exc:
        raise DatasetError(f"{p}: {exc}") from None
    xs, ys = [], []
    size = None
    for img_path, label in ds.samples:
        img = ds.loader(img_path)
        img = img.convert("L") if img.mode in ("L", "1", "P", "I") else img.convert("RGB")
        if size is None:
            size = img.size
        img = img.resize(size)
        a = np.asarray(img, dtype=np.uint8)
        xs.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
        ys.append(label)
    if not xs:
        raise DatasetError(f"{p}: no images found")
    return np.stack(xs), np.asarray(ys, dtype=np.int64), tuple(ds.classes)


TORCHVISION_DATASETS = ("MNIST", "FashionMNIST", "KMNIST", "CIFAR10", "CIFAR100")


def _load_torchvision(name: str, path: str | None):
    import torchvision.datasets as tvd

    if name not in TORCHVISION_DATASETS:  # an allowlist: the name comes from the document
        raise DatasetError(f"torchvision:{name}: not supported (supported: "
                           f"{', '.join('torchvision:' + n for n in TORCHVISION_DATASETS)})")
    cls = getattr(tvd, name, None)
    if cls is None:
        raise DatasetError(f"torchvision has no dataset {name!r} in this version")
    root = _need_path(path, f"torchvision:{name}")
    try:
        ds = cls(str(root), train=True, download=False)
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        raise DatasetError(f"torchvision:{name}: {exc} (put the files under {root}; nothing is downloaded)") from None
    data = ds.data.numpy() if hasattr(ds.data, "numpy") else np.asarray(ds.data)
    x = data[:, None] if data.ndim == 3 else data.transpose(0, 3, 1, 2)
    y = np.asarray(ds.targets, dtype=np.int64)
    return x.astype(np.uint8), y, tuple(getattr(ds, "classes", [str(i) for i in range(int(y.max()) + 1)]))


@dataclass
class DataBundle:
    """Train/val tensors (float32 in [0, 1], labels int64), ready to move to a device."""

    train_x: Any
    train_y: Any
    val_x: Any
    val_y: Any
    classes: tuple[str, ...]
    input_shape: tuple[int, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to(self, device) -> DataBundle:
        return DataBundle(
            self.train_x.to(device), self.train_y.to(device), self.val_x.to(device), self.val_y.to(device),
            self.classes, self.input_shape,
        )


def load_bundle(data_spec, device=None) -> DataBundle:
    """Load the project's dataset and split it (seeded, stratified)."""
    import torch

    x, y, classes = load_arrays(data_spec.dataset, data_spec.path)
    if data_spec.limit is not None and data_spec.limit < len(y):
        rng = np.random.default_rng(data_spec.seed)
        keep = np.sort(rng.permutation(len(y))[: data_spec.limit])
        x, y = x[keep], y[keep]
    tr, va = stratified_split(y, data_spec.val_fraction, data_spec.seed)

    def f(a: np.ndarray):
        return torch.from_numpy(a).float().div_(255.0)

    bundle = DataBundle(
        f(x[tr]), torch.from_numpy(y[tr]), f(x[va]), torch.from_numpy(y[va]), classes, tuple(x.shape[1:])
    )
    return bundle.to(device) if device is not None else bundle
