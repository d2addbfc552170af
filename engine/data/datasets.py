"""Sources -> a ``DataBundle`` of train/val tensors (what the trainers consume).

``digits`` is bundled (resources/datasets/digits/digits.npz, real MNIST, CC BY-SA 3.0) and is the
default. Other sources (see :mod:`engine.data.sources`): ``torchvision:NAME`` (MNIST, FashionMNIST, KMNIST,
CIFAR10, CIFAR100, SVHN; files under ``data.path``, fetched only by ``layerlab data download``),
``folder`` (an ImageFolder tree at ``data.path``), ``csv`` (a table with a target column).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .sources import DatasetError, open_source
from .split import split_indices

DIGITS_CLASSES = tuple(str(i) for i in range(10))

__all__ = ["DIGITS_CLASSES", "DataBundle", "DatasetError", "available_datasets", "digits_path", "load_arrays",
           "load_bundle", "load_digits"]


def digits_path() -> Path:
    return Path(str(resources.files("resources").joinpath("datasets/digits/digits.npz")))


@functools.lru_cache(maxsize=4)
def load_digits() -> tuple[np.ndarray, np.ndarray]:
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
        {"name": "torchvision:KMNIST", "description": "Kuzushiji-MNIST from files under data.path"},
        {"name": "torchvision:CIFAR10", "description": "CIFAR-10 from files under data.path"},
        {"name": "torchvision:SVHN", "description": "SVHN (street-view house numbers) from files under data.path"},
        {"name": "folder", "description": "an image folder tree (one sub-folder per class) at data.path"},
        {"name": "csv", "description": "a CSV table at data.path (pick the target column)"},
    ]


@dataclass
class _Spec:
    dataset: str
    path: str | None = None


def load_arrays(dataset: str, path: str | None = None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(samples (N, ...), labels int64 (N,), class names) for a named source, everything decoded."""
    src = open_source(_Spec(dataset, path))
    x, keep = src.decode_all()
    return x, src.labels[keep], src.classes


@dataclass
class DataBundle:
    """Train/val tensors (float32; images in [0, 1]; labels int64, or float32 regression targets)."""

    train_x: Any
    train_y: Any
    val_x: Any
    val_y: Any
    classes: tuple[str, ...]
    input_shape: tuple[int, ...]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    train_index: Any = None  # source indices of the rows of train_x / val_x (for the Data view, audit)
    val_index: Any = None
    stream_reason: str = ""  # why train_x streams from the source (empty: it is decoded)

    @property
    def streamed(self) -> bool:
        """True when ``train_x`` is a lazy ``SourceSamples`` view decoded per batch, not a tensor."""
        return bool(self.stream_reason)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to(self, device) -> DataBundle:
        return DataBundle(
            self.train_x.to(device), self.train_y.to(device), self.val_x.to(device), self.val_y.to(device),
            self.classes, self.input_shape, self.skipped, self.train_index, self.val_index, self.stream_reason,
        )


def select_limit(n: int, data_spec: Any) -> np.ndarray:
    """The sample indices a project uses (``data.limit``: a seeded subset, kept in source order)."""
    if data_spec.limit is not None and data_spec.limit < n:
        rng = np.random.default_rng(data_spec.seed)
        return np.sort(rng.permutation(n)[: data_spec.limit])
    return np.arange(n)


def project_split(labels: np.ndarray, data_spec: Any, regression: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) positions into ``labels`` by the project's split settings."""
    return split_indices(labels, val_fraction=data_spec.val_fraction, seed=data_spec.seed,
                         stratified=getattr(data_spec, "stratified", True) and not regression,
                         folds=getattr(data_spec, "folds", 0) or 0, fold=getattr(data_spec, "fold", 0) or 0)


def memory_budget() -> int:
    """Bytes a dataset may take in memory: half of the RAM available now (a floor of 1 GiB), or
    ``LAYERLAB_DATA_MEMORY_GB`` when set."""
    import os

    env = os.environ.get("LAYERLAB_DATA_MEMORY_GB")
    if env:
        try:
            return int(float(env) * 2**30)
        except ValueError:
            pass
    try:
        with open("/proc/meminfo") as fh:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh if ":" in line}
        avail = info.get("MemAvailable", info.get("MemFree", 0))
    except (OSError, ValueError, IndexError):
        avail = 8 * 2**30
    return max(2**30, avail // 2)


STREAM_MODES = ("auto", "always", "never")


def _estimate(n: int, shape: tuple[int, ...]) -> int:
    return n * int(np.prod(shape)) * 5  # uint8 decode + float32 copy


def load_bundle(data_spec, device=None, *, task: str | None = None, source=None, progress=None,
                cancel=None, stream: str = "never") -> DataBundle:
    """Open (or take) the project's source, decode the samples it uses, and split them (seeded).

    ``stream`` (``data.stream``): ``never`` decodes everything up front and refuses what would not fit in
    :func:`memory_budget`; ``always`` decodes only the validation split and leaves the training split to be
    decoded per batch (``train_x`` is then a :class:`~engine.data.loader.SourceSamples`); ``auto`` streams
    when decoding everything would not fit. The split is the same either way."""
    import torch

    if stream not in STREAM_MODES:
        raise DatasetError(f"data.stream: unknown mode {stream!r} (known: {', '.join(STREAM_MODES)})")
    src = source if source is not None else open_source(data_spec, task=task, progress=None, cancel=cancel)
    regression = task == "regression"
    use = select_limit(len(src), data_spec)
    need = _estimate(len(use), tuple(src.input_shape))
    budget = memory_budget()
    shape = "x".join(str(v) for v in src.input_shape)
    if stream == "always" or (stream == "auto" and need > budget):
        why = ("data.stream is always" if stream == "always" else
               f"decoded, its {len(use):,} samples of {shape} would need {need / 2**30:.1f} GiB, more than the "
               f"{budget / 2**30:.1f} GiB LayerLab allows itself here")
        return _streamed_bundle(src, use, data_spec, regression, budget, why, device, progress, cancel)
    if need > budget:
        # the project chose never: say what streaming would do; other callers (evaluation) need it all decoded
        hint = ("set data.stream to auto (decode per batch while training), " if
                getattr(data_spec, "stream", None) == "never" else "")
        raise DatasetError(
            f"{src.name}: {len(use):,} samples of {shape} need {need / 2**30:.1f} GiB in memory, more than the "
            f"{budget / 2**30:.1f} GiB LayerLab allows itself here; {hint}lower data.image_size or set data.limit")
    x, kept = src.decode_all(use, progress=progress, cancel=cancel)
    if len(kept) == 0:
        raise DatasetError(f"{src.name}: no sample could be decoded ({len(src.skipped)} skipped)")
    y = (src.targets if regression else src.labels)[kept]
    tr, va = project_split(src.labels[kept], data_spec, regression)

    bundle = DataBundle(
        _as_float(x[tr]), torch.from_numpy(y[tr]), _as_float(x[va]), torch.from_numpy(y[va]),
        src.classes if src.classes else ("value",), tuple(src.input_shape), list(src.skipped), kept[tr], kept[va],
    )
    return bundle.to(device) if device is not None else bundle


def _as_float(a: np.ndarray):
    import torch

    t = torch.from_numpy(np.ascontiguousarray(a))
    return t.float().div_(255.0) if a.dtype == np.uint8 else t.float()


def _streamed_bundle(src, use: np.ndarray, data_spec, regression: bool, budget: int, why: str, device,
                     progress, cancel) -> DataBundle:
    """The validation split decoded (it is evaluated every epoch), the training split left to the batches."""
    import torch

    from .loader import SourceDataset, SourceSamples

    y_all = src.targets if regression else src.labels
    tr, va = project_split(src.labels[use], data_spec, regression)
    val_need = _estimate(len(va), tuple(src.input_shape))
    if val_need > budget:
        raise DatasetError(
            f"{src.name}: even streaming the training data, the validation split ({len(va):,} samples) needs "
            f"{val_need / 2**30:.1f} GiB in memory, more than the {budget / 2**30:.1f} GiB LayerLab allows itself "
            "here; lower data.val_fraction or data.image_size, or set data.limit")
    vx, vkept = src.decode_all(use[va], progress=progress, cancel=cancel)
    train_index = use[tr]
    dataset = SourceDataset(src, train_index, y_all[train_index])
    bundle = DataBundle(
        SourceSamples(dataset), torch.from_numpy(np.ascontiguousarray(y_all[train_index])), _as_float(vx),
        torch.from_numpy(np.ascontiguousarray(y_all[vkept])), src.classes if src.classes else ("value",),
        tuple(src.input_shape), list(src.skipped), train_index, vkept, stream_reason=why,
    )
    return bundle.to(device) if device is not None else bundle
