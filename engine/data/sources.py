"""Lazy dataset sources: one object per dataset that the Data view, ``layerlab data`` and training share.

``open_source(data_spec)`` returns a :class:`Source`: ``len()``, ``classes``, ``labels`` (int64, cheap),
``input_shape`` (C, H, W after the project's conversion choices, or (F,) for a table), ``sample(i)``
(uint8 CHW, or float32 features for a table), ``thumbnail(i, size)``, ``info(i)`` and ``skipped``
(``(path, reason)`` for everything that was left out, so nothing is dropped silently).

Opening is cheap: digits and torchvision files are arrays already; an image folder is *scanned*
(directory entries and image headers, never pixels); a CSV is parsed once. Pixels are decoded on
demand (``sample``/``thumbnail``), or all at once by ``decode_all`` (threads) when training caches them.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import stat
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from . import convert


class DatasetError(ValueError):
    """A dataset that cannot be loaded; the message names the dataset/path and says why."""


class Cancelled(Exception):
    """Raised inside a scan/decode when the caller's ``cancel()`` returned True."""


IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
                              ".pbm", ".pnm", ".tga", ".ico"})
MAX_IMAGE_PIXELS = 40_000_000  # a header declaring more is treated as a decompression bomb, never decoded
MAX_IMAGE_BYTES = 200 * 2**20
DEFAULT_MAX_SIDE = 64  # the default input size is the most common image size, shrunk to this longer side
MAX_FOLDER_DEPTH = 32
TORCHVISION_DATASETS = ("MNIST", "FashionMNIST", "KMNIST", "CIFAR10", "CIFAR100", "SVHN")


@dataclass(frozen=True)
class SampleInfo:
    index: int
    label: int
    class_name: str
    path: str  # a file path, or "NAME[i]" for in-memory datasets, or "FILE:row N" for a CSV row
    size: tuple[int, int]  # original (width, height); (features, 1) for a table row
    mode: str  # PIL mode of the original ("L", "RGB", "I;16", ...) or "table"


Progress = Callable[[int, int], None]  # (done, total)


class Source:
    """Base: subclasses set ``kind``, ``name``, ``classes``, ``labels``, ``input_shape``, ``skipped``."""

    kind = "array"
    name = ""
    classes: tuple[str, ...] = ()
    labels: np.ndarray
    input_shape: tuple[int, ...] = ()
    skipped: list[tuple[str, str]]
    is_image = True

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def targets(self) -> np.ndarray:
        """Regression targets (float32); the labels' values unless the source has real-valued targets."""
        return self.labels.astype(np.float32)

    def sample(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def thumbnail(self, i: int, size: int = 64) -> np.ndarray | None:
        return convert.array_thumb(self.sample(i), size) if self.is_image else None

    def info(self, i: int) -> SampleInfo:
        raise NotImplementedError

    def decode_all(self, indices: Sequence[int] | np.ndarray | None = None, *, progress: Progress | None = None,
                   cancel: Callable[[], bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(array (N, *input_shape), kept indices): every sample of ``indices`` that decodes.
        Failures are appended to ``skipped`` with the reason and left out of the result."""
        idx = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        out = np.stack([self.sample(int(i)) for i in idx]) if len(idx) else np.zeros((0, *self.input_shape))
        if progress:
            progress(len(idx), len(idx))
        return out, idx

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.classes)) if len(self.labels) else np.zeros(0, int)
        return {c: int(counts[k]) if k < len(counts) else 0 for k, c in enumerate(self.classes)}

    def describe(self) -> dict[str, Any]:
        """The summary ``layerlab data inspect`` prints and reports."""
        return {"source": self.name, "kind": self.kind, "num_samples": len(self), "classes": self.class_counts(),
                "input_shape": list(self.input_shape),
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped]}


# ---------------------------------------------------------------------------------------------
# in-memory arrays: digits, torchvision


class ArraySource(Source):
    """Images already in memory as (N, C, H, W) uint8 (digits, torchvision files)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, classes: Sequence[str], name: str,
                 kind: str = "array", root: str | None = None):
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = tuple(str(c) for c in classes)
        self.name = name
        self.kind = kind
        self.root = root
        self.input_shape = tuple(int(v) for v in images.shape[1:])
        self.skipped = []

    def sample(self, i: int) -> np.ndarray:
        return self.images[i]

    def info(self, i: int) -> SampleInfo:
        lab = int(self.labels[i])
        c, h, w = self.input_shape
        return SampleInfo(i, lab, self.classes[lab], f"{self.name}[{i}]", (w, h), "L" if c == 1 else "RGB")

    def decode_all(self, indices=None, *, progress=None, cancel=None):
        idx = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        if progress:
            progress(len(idx), len(idx))
        return self.images[idx], idx


def _digits_source() -> ArraySource:
    from .datasets import DIGITS_CLASSES, load_digits

    x, y = load_digits()
    return ArraySource(x, y, DIGITS_CLASSES, "digits", kind="digits")


def _torchvision_source(name: str, root: str | None) -> ArraySource:
    import torchvision.datasets as tvd

    if name not in TORCHVISION_DATASETS:  # an allowlist: the name comes from the document
        raise DatasetError(f"torchvision:{name}: not supported (supported: "
                           f"{', '.join('torchvision:' + n for n in TORCHVISION_DATASETS)})")
    if not root:
        raise DatasetError(f"data.path: a torchvision:{name} dataset needs the folder holding its files; "
                           f"{_get_files(name, 'ROOT')}")
    root_p = Path(root).expanduser()
    if not root_p.exists():
        raise DatasetError(f"torchvision:{name}: the root folder {root_p} does not exist; {_get_files(name, root_p)}")
    cls = getattr(tvd, name, None)
    if cls is None:
        raise DatasetError(f"torchvision has no dataset {name!r} in this version")
    if name == "SVHN":
        why = svhn_needs()
        if why:
            raise DatasetError(f"torchvision:SVHN: {why}")
    expected = _expected_files(cls, name, root_p)
    missing = [f for f in expected if not f.is_file()]
    if missing:
        shown = ", ".join(str(f.relative_to(root_p)) for f in missing[:2]) + (" …" if len(missing) > 2 else "")
        what = (f"all {len(missing)} of its files are" if len(missing) == len(expected) > 1 else
                f"{len(missing)} of its files {'is' if len(missing) == 1 else 'are'}")
        raise DatasetError(f"torchvision:{name}: {what} missing under {root_p} ({shown}); {_get_files(name, root_p)}")
    hint = (f"put the official files under {root_p}, or run `layerlab data download {name} --root {root_p}`; "
            "nothing is downloaded during training")
    try:
        if name == "SVHN":
            ds = cls(str(root_p), split="train", download=False)
        else:
            ds = cls(str(root_p), train=True, download=False)
    except ImportError as exc:
        raise DatasetError(f"torchvision:{name}: needs {exc.name or 'a missing package'} to read its files") from None
    except (RuntimeError, OSError, ValueError, TypeError, AssertionError, EOFError, KeyError) as exc:
        why = str(exc).strip() if not isinstance(exc, AssertionError) else ""
        why = why or f"the files are not valid {name} files ({type(exc).__name__})"
        if "corrupted" in why:  # torchvision's integrity check: a file not the official one (MD5)
            why = ("its files are corrupted or not the official ones: torchvision reads only those, checked "
                   "by MD5 before anything is read")
        elif "download=True" in why:  # torchvision's own hint: LayerLab never downloads while opening
            why = "its files are not where torchvision looks for them"
        raise DatasetError(f"torchvision:{name}: {why} ({hint})") from None
    data = ds.data.numpy() if hasattr(ds.data, "numpy") else np.asarray(ds.data)
    if data.ndim == 3:
        x = data[:, None]
    elif name == "SVHN":
        x = data  # already (N, 3, 32, 32)
    else:
        x = data.transpose(0, 3, 1, 2)
    y = np.asarray(getattr(ds, "targets", None) if hasattr(ds, "targets") else ds.labels, dtype=np.int64)
    if name == "SVHN":
        y = y % 10  # torchvision maps the '10' label to 0 already; be safe
    classes = getattr(ds, "classes", None) or [str(i) for i in range(int(y.max()) + 1)]
    return ArraySource(np.ascontiguousarray(x.astype(np.uint8)), y, classes, f"torchvision:{name}",
                       kind="torchvision", root=str(root_p))


def _get_files(name: str, root: Any) -> str:
    return (f"run `layerlab data download {name} --root {root}` (or Download in the Data tab), "
            "or use the bundled digits")


def _expected_files(cls: Any, name: str, root: Path) -> list[Path]:
    """The files torchvision opens (or checks) for the training split, where it looks for them."""
    try:
        if name == "SVHN":
            return [root / cls.split_list["train"][1]]
        if hasattr(cls, "base_folder") and hasattr(cls, "train_list"):  # CIFAR10/100
            base = root / cls.base_folder
            return [base / f for f, _ in cls.train_list + cls.test_list] + [base / cls.meta["filename"]]
        if hasattr(cls, "resources"):  # MNIST-like: the unpacked raw files
            return [root / name / "raw" / os.path.splitext(os.path.basename(u))[0] for u, _ in cls.resources]
    except (AttributeError, KeyError, TypeError, IndexError):  # another torchvision layout: let it say
        pass
    return []


SCIPY_FIX = "pip install scipy (or LayerLab's data extra: pip install -e '.[data]')"


def svhn_needs() -> str | None:
    """Why SVHN's files cannot be read here (its .mat files need SciPy), or None."""
    try:
        import scipy.io  # noqa: F401
    except ImportError:
        return f"reading SVHN's .mat files needs SciPy, which is not installed: {SCIPY_FIX}"
    return None


def not_a_dataset_image(path: str | Path) -> str:
    """Why a single image file is not a dataset, and the layout to point at instead."""
    p = Path(path)
    root = p.parent.parent if p.parent.name and p.parent.parent != p.parent else p.parent
    return (f"{p}: an image file is not a dataset; give the folder that holds one sub-folder per class "
            f"(ROOT/CLASS/images, e.g. {root}{os.sep} if {p.parent.name or 'this folder'} is a class folder)")


def _need_path(path: str | None, what: str) -> Path:
    if not path:
        raise DatasetError(f"data.path: a {what} dataset needs a path")
    p = Path(path).expanduser()
    if not p.exists():
        raise DatasetError(f"data.path: {p} does not exist")
    return p


# ---------------------------------------------------------------------------------------------
# image folders


@dataclass(frozen=True)
class _Entry:
    path: str
    label: int
    size: tuple[int, int]  # (w, h)
    mode: str


def read_regular(path: str, limit: int) -> bytes | str:
    """The bytes of a regular file (at most ``limit``), or the reason it cannot be used. Opens with O_NONBLOCK
    and checks fstat before reading, so a FIFO or a device behind a name can never block or flood."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return f"cannot open ({exc.strerror or exc})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        if st.st_size == 0:
            return "empty file (0 bytes)"
        if st.st_size > MAX_IMAGE_BYTES:
            return f"file too large ({st.st_size / 2**20:.0f} MiB > {MAX_IMAGE_BYTES // 2**20} MiB)"
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(limit)
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    finally:
        os.close(fd)


def parse_header(data: bytes) -> tuple[Image.Image, tuple[int, int], str] | str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            mode = img.mode
    except Image.DecompressionBombError:
        return "decompression bomb (the header declares far too many pixels)"
    except UnidentifiedImageError:
        return "not an image (unrecognised contents)"
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        return f"unreadable image ({str(exc).strip() or type(exc).__name__})"
    if w < 1 or h < 1:
        return f"image has no pixels ({h}×{w}, H×W)"
    if w * h > MAX_IMAGE_PIXELS:
        return f"decompression bomb ({h}×{w} H×W = {w * h / 1e6:.0f} Mpx > {MAX_IMAGE_PIXELS / 1e6:.0f} Mpx)"
    return img, (w, h), mode


HEADER_BYTES = 64 * 1024  # enough for every format's header (PNG/JPEG/GIF/TIFF/WebP/BMP) in practice


def read_header(path: str) -> tuple[tuple[int, int], str] | str:
    """((w, h), mode) from the image header, or the reason the file cannot be used (pixels are not read)."""
    data = read_regular(path, HEADER_BYTES)
    if isinstance(data, str):
        return data
    got = parse_header(data)
    if isinstance(got, str) and len(data) == HEADER_BYTES:
        full = read_regular(path, MAX_IMAGE_BYTES)  # a header past 64 KiB (big EXIF/ICC blocks): read it all
        got = parse_header(full) if not isinstance(full, str) else full
    return got if isinstance(got, str) else (got[1], got[2])


def open_image(path: str) -> Image.Image:
    """The decoded image (pixels loaded), one read of the file. Raises ValueError with a plain reason."""
    data = read_regular(path, MAX_IMAGE_BYTES)
    if isinstance(data, str):
        raise ValueError(data)
    got = parse_header(data)
    if isinstance(got, str):
        raise ValueError(got)
    img = got[0]
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        msg = str(exc).strip() or type(exc).__name__
        if "truncated" in msg:
            msg = "truncated image (" + msg + ")"
        raise ValueError(f"cannot decode ({msg})") from None
    return img


def _os_reason(exc: OSError, is_link: bool = False) -> str:
    import errno

    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if is_link and exc.errno == errno.ENOENT:
        return "dangling symlink"
    return f"cannot read ({exc.strerror or exc})"


def map_in_threads(fn: Callable[[int], None], n: int, *, workers: int, chunks: int = 100,
                   progress: Progress | None = None, cancel: Callable[[], bool] | None = None) -> None:
    """``fn(k)`` for every k in range(n) on a thread pool, in about ``chunks`` batches; between batches
    ``cancel`` is checked (raising Cancelled) and ``progress(done, n)`` is reported."""
    step = max(1, n // chunks)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for k0 in range(0, n, step):
            if cancel and cancel():
                raise Cancelled()
            list(pool.map(fn, range(k0, min(n, k0 + step))))
            if progress:
                progress(min(n, k0 + step), n)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("~$") or name in ("Thumbs.db", "desktop.ini")


class FolderSource(Source):
    """An ImageFolder tree: ``root/CLASS/**/image``. Scanning reads directory entries and image headers only.

    Skipped (each listed with a reason): hidden entries, files outside class folders, non-image extensions,
    non-regular files (FIFOs, sockets, devices), dangling or looping symlinks, zero-byte, unreadable or
    bomb-sized headers, excluded paths, and class folders with no usable image.
    """

    kind = "folder"

    def __init__(self, root: str | Path, *, image_size: Sequence[int] | None = None, resize: str = "resize",
                 channels: str = "auto", exclude: Sequence[str] = (), progress: Progress | None = None,
                 cancel: Callable[[], bool] | None = None):
        self.root = Path(root).expanduser()
        self.name = str(self.root)
        if not self.root.exists():
            raise DatasetError(f"data.path: {self.root} does not exist")
        if not self.root.is_dir():
            raise DatasetError(f"data.path: {self.root} is not a folder (an image folder has one sub-folder per class)")
        if resize not in convert.RESIZE_MODES:
            raise DatasetError(f"data.resize: unknown mode {resize!r} (known: {', '.join(convert.RESIZE_MODES)})")
        self.resize_mode = resize
        self.skipped = []
        self._excluded = {os.path.normpath(e) for e in exclude}
        self._lock = threading.Lock()
        self.entries = self._scan(progress, cancel)
        if not self.entries:
            why = "; ".join(f"{Path(p).name}: {r}" for p, r in self.skipped[:3])
            raise DatasetError(f"{self.root}: no usable images found"
                               + (f" ({len(self.skipped)} skipped, e.g. {why})" if self.skipped else
                                  " (an image folder has one sub-folder per class, each holding images)"))
        self.labels = np.fromiter((e.label for e in self.entries), dtype=np.int64, count=len(self.entries))
        modes = Counter(e.mode for e in self.entries)
        sizes = Counter(e.size for e in self.entries)
        self.mode_counts = dict(modes.most_common())
        self.size_counts = sizes
        if channels == "auto":
            self.channels = 1 if all(convert.is_grey_mode(m) for m in modes) else 3
        elif channels in ("grey", "gray"):
            self.channels = 1
        elif channels == "rgb":
            self.channels = 3
        else:
            raise DatasetError(f"data.channels: unknown value {channels!r} (known: auto, grey, rgb)")
        if image_size is not None:
            h, w = int(image_size[0]), int(image_size[1])
        else:
            # the most common size when most images share it, else the median width and height; then
            # shrunk to DEFAULT_MAX_SIDE. One odd image never decides, and a folder of photos does not
            # become a 12-megapixel input by default.
            (w, h), top = min(sizes.items(), key=lambda kv: (-kv[1], kv[0][0] * kv[0][1]))
            if top * 2 < len(self.entries):
                w = int(np.median([e.size[0] for e in self.entries]))
                h = int(np.median([e.size[1] for e in self.entries]))
            s = min(1.0, DEFAULT_MAX_SIDE / max(w, h))
            w, h = max(1, round(w * s)), max(1, round(h * s))
        self.image_size = (h, w)
        self.input_shape = (self.channels, h, w)

    # -- scanning -----------------------------------------------------------------------------
    def _skip(self, path: str, reason: str) -> None:
        with self._lock:
            self.skipped.append((path, reason))

    def _visible_is_dir(self, e: os.DirEntry) -> bool | None:
        """Whether a directory entry is a folder; None (and listed as skipped) when hidden or unreadable."""
        if _hidden(e.name):
            self._skip(e.path, "hidden")
            return None
        try:
            return e.is_dir(follow_symlinks=True)
        except OSError as exc:
            self._skip(e.path, _os_reason(exc, e.is_symlink()))
            return None

    def _scan(self, progress: Progress | None, cancel: Callable[[], bool] | None) -> list[_Entry]:
        try:
            top = sorted(os.scandir(self.root), key=lambda e: e.name)
        except OSError as exc:
            raise DatasetError(f"data.path: cannot list {self.root} ({exc.strerror or exc})") from None
        class_dirs: list[tuple[str, str]] = []
        seen_dirs: set[tuple[int, int]] = set()
        for e in top:
            is_dir = self._visible_is_dir(e)
            if is_dir is None:
                continue
            if is_dir:
                class_dirs.append((e.name, e.path))
            else:
                self._skip(e.path, "not in a class folder (put images in ROOT/CLASS/)")
        files: list[tuple[str, str]] = []  # (class name, file path)
        # the root and every class folder count as seen before any walk: a link back up (cats/up -> ROOT)
        # must not pull another class's images in under this class's label
        others: dict[str, tuple[int, int]] = {}
        try:
            st = os.stat(self.root)
            seen_dirs.add((st.st_dev, st.st_ino))
        except OSError:
            pass
        for cname, cpath in class_dirs:
            try:
                st = os.stat(cpath)
                others[cname] = (st.st_dev, st.st_ino)
            except OSError:
                pass
        seen_dirs.update(others.values())
        for cname, cpath in class_dirs:
            if cancel and cancel():
                raise Cancelled()
            before = len(files)
            if cname in others:
                seen_dirs.discard(others[cname])  # its own folder is walked now (once)
            self._walk(cname, cpath, files, seen_dirs, 0)
            if len(files) == before:
                self._skip(cpath, "empty class folder (no image files)")
        total = len(files)
        headers: list[Any] = [None] * total

        def read(k: int) -> None:
            headers[k] = read_header(files[k][1])

        # header reads are I/O bound; a few threads hide the latency of slow (network, cold) disks
        map_in_threads(read, total, workers=min(8, (os.cpu_count() or 2) * 2), progress=progress, cancel=cancel)
        usable: dict[str, list[tuple[str, tuple[int, int], str]]] = {}
        for (cname, path), got in zip(files, headers):
            if isinstance(got, str):
                self._skip(path, got)
            else:
                usable.setdefault(cname, []).append((path, got[0], got[1]))
        for cname, _ in class_dirs:
            if cname not in usable and any(c == cname for c, _ in files):
                self._skip(os.path.join(self.root, cname), "class folder has no usable image")
        self.classes = tuple(sorted(usable))
        entries = []
        for label, cname in enumerate(self.classes):
            for path, size, mode in usable[cname]:
                entries.append(_Entry(path, label, size, mode))
        return entries

    def _walk(self, cname: str, dpath: str, out: list[tuple[str, str]], seen: set[tuple[int, int]], depth: int) -> None:
        try:
            st = os.stat(dpath)
        except OSError as exc:
            self._skip(dpath, f"cannot read folder ({exc.strerror or exc})")
            return
        key = (st.st_dev, st.st_ino)
        if key in seen:
            self._skip(dpath, "already scanned (a symlink loop, or a link to another class folder)")
            return
        if depth > MAX_FOLDER_DEPTH:
            self._skip(dpath, f"nested deeper than {MAX_FOLDER_DEPTH} folders")
            return
        seen.add(key)
        try:
            entries = sorted(os.scandir(dpath), key=lambda e: e.name)
        except OSError as exc:
            self._skip(dpath, f"cannot list folder ({exc.strerror or exc})")
            return
        for e in entries:
            rel = os.path.normpath(os.path.relpath(e.path, self.root))
            if rel in self._excluded:
                self._skip(e.path, "excluded by the project (data.exclude)")
                continue
            is_dir = self._visible_is_dir(e)
            if is_dir is None:
                continue
            if is_dir:
                self._walk(cname, e.path, out, seen, depth + 1)
                continue
            ext = os.path.splitext(e.name)[1].lower()
            if ext not in IMAGE_EXTENSIONS:
                self._skip(e.path, f"not an image file ({ext or 'no extension'})")
                continue
            try:
                os.stat(e.path)
            except OSError as exc:
                self._skip(e.path, _os_reason(exc, e.is_symlink()))
                continue
            out.append((cname, e.path))

    def __getstate__(self) -> dict[str, Any]:  # picklable for DataLoader worker processes (the lock is not)
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- samples ------------------------------------------------------------------------------
    def _convert(self, img: Image.Image) -> np.ndarray:
        img = convert.to_channels(img, self.channels)
        return convert.to_chw(convert.fit(img, self.image_size, self.resize_mode))

    def sample(self, i: int) -> np.ndarray:
        """(C, H, W) uint8; raises ValueError naming the reason when the file does not decode."""
        return self._convert(open_image(self.entries[i].path))

    def thumbnail(self, i: int, size: int = 64) -> np.ndarray | None:
        """A display thumbnail, or None when the file does not decode."""
        e = self.entries[i]
        try:
            img = open_image(e.path)
        except ValueError:
            return None
        return convert.thumb_array(img, size)

    def info(self, i: int) -> SampleInfo:
        e = self.entries[i]
        return SampleInfo(i, e.label, self.classes[e.label], e.path, e.size, e.mode)

    def path(self, i: int) -> str:
        return self.entries[i].path

    def decode_all(self, indices=None, *, progress=None, cancel=None):
        idx = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        out = np.zeros((len(idx), *self.input_shape), dtype=np.uint8)  # sized by the target, not any image
        ok = np.ones(len(idx), dtype=bool)

        def one(k: int) -> None:
            if cancel and cancel():
                raise Cancelled()
            try:
                out[k] = self.sample(int(idx[k]))
            except ValueError as exc:
                ok[k] = False
                self._skip(self.entries[int(idx[k])].path, str(exc))

        # PIL decoders release the GIL, so threads decode in parallel without pickling anything
        map_in_threads(one, len(idx), workers=min(8, os.cpu_count() or 2), chunks=50, progress=progress,
                       cancel=cancel)
        return out[ok], idx[ok]

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["modes"] = self.mode_counts
        d["sizes"] = {f"{h}x{w}": n for (w, h), n in self.size_counts.most_common(10)}  # H x W, as image_size
        d["distinct_sizes"] = len(self.size_counts)
        d["conversion"] = {"image_size": list(self.image_size), "resize": self.resize_mode,
                           "channels": "grey" if self.channels == 1 else "rgb"}
        return d


# ---------------------------------------------------------------------------------------------
# CSV tables


ROW_BAD_CELL = "a NaN, empty or text cell"
ROW_CELL_COUNT = "a different number of cells than the first row"
_ROW_PATH = re.compile(r":row \d+$")


def skipped_noun(skipped: Sequence[tuple[str, str]]) -> str:
    """``row(s)`` when everything skipped is a CSV row (``FILE:row N``), else ``file(s)``."""
    return "row(s)" if skipped and all(_ROW_PATH.search(path) for path, _ in skipped) else "file(s)"


def _num(cell: str) -> float | None:
    try:
        v = float(cell)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


class CsvSource(Source):
    """A CSV table: one target column (``target``: a name, an index, or None for the last column), the
    other columns numeric features. Rows with a NaN, infinite, empty or text cell are skipped and listed by
    row and column. ``layout``: ``image`` reads the features as a square grey image of 0..255 pixels (the
    bundled ``pixels..., label`` files); ``table`` as a feature vector; ``auto`` picks image when there is no
    header and the features are a perfect square of integers in 0..255."""

    kind = "csv"

    def __init__(self, path: str | Path, *, target: str | int | None = None, header: bool | None = None,
                 layout: str = "auto", regression: bool = False):
        p = Path(path).expanduser()
        self.name = str(p)
        self.path = p
        self.skipped = []
        self.row_problems: list[tuple[int, str, str]] = []  # (line, ROW_* category, where: "column 'x'", ...)
        if not p.exists():
            raise DatasetError(f"data.path: {p} does not exist")
        if not p.is_file():
            raise DatasetError(f"data.path: {p} is not a regular file")
        rows = self._read_rows(p)
        if not rows:
            raise DatasetError(f"{p}: the file has no rows")
        if header is None:
            # a header: every cell is text, or a text cell sits above a number in the same column
            r0 = rows[0]
            r1 = rows[1] if len(rows) > 1 else []
            header = all(_num(c) is None for c in r0) or any(
                _num(c) is None and k < len(r1) and _num(r1[k]) is not None for k, c in enumerate(r0))
        names = [c.strip() for c in rows[0]] if header else [f"column {k + 1}" for k in range(len(rows[0]))]
        body = rows[1:] if header else rows
        first_line = 2 if header else 1
        ncol = len(names)
        if ncol < 2:
            raise DatasetError(f"{p}: needs at least 2 columns (features and a target)")
        t = self._target_index(target, names, header)
        self.columns = names
        self.target_column = names[t]
        feat_cols = [k for k in range(ncol) if k != t]
        feats, tvals, rownums = [], [], []
        text_cells: Counter[int] = Counter()
        for r, row in enumerate(body):
            line = first_line + r
            if len(row) != ncol:
                self.skipped.append((f"{p}:row {line}", f"has {len(row)} cells, the header/first row has {ncol}"))
                self.row_problems.append((line, ROW_CELL_COUNT, f"{len(row)} cells, not {ncol}"))
                continue
            bad = None
            vals = []
            for k in feat_cols:
                v = _num(row[k])
                if v is None:
                    bad = bad or (k, row[k])
                    text_cells[k] += 1
                vals.append(v)
            if bad is not None:
                k, cell = bad
                self.skipped.append((f"{p}:row {line}", f"column {k + 1} ({names[k]!r}): {cell.strip()!r} "
                                                         "is not a finite number"))
                self.row_problems.append((line, ROW_BAD_CELL, f"column {names[k]!r}"))
                continue
            tv = row[t].strip()
            if regression and _num(tv) is None:
                self.skipped.append((f"{p}:row {line}", f"target column {t + 1} ({names[t]!r}): {tv!r} is not "
                                                         "a finite number (regression needs numbers)"))
                self.row_problems.append((line, ROW_BAD_CELL, f"target column {names[t]!r}"))
                continue
            if not tv or tv.lower() in ("nan", "na", "null", "none"):
                self.skipped.append((f"{p}:row {line}", f"target column {t + 1} ({names[t]!r}) is empty"))
                self.row_problems.append((line, ROW_BAD_CELL, f"target column {names[t]!r}"))
                continue
            feats.append(vals)
            tvals.append(tv)
            rownums.append(line)
        for k, n in text_cells.items():
            if n > len(body) // 2:
                raise DatasetError(f"{p}: column {k + 1} ({names[k]!r}) is text in {n} of {len(body)} rows; "
                                   "features must be numbers (drop the column, or make it the target)")
        if not feats:
            why = f" ({len(self.skipped)} rows skipped, e.g. {self.skipped[0][1]})" if self.skipped else ""
            raise DatasetError(f"{p}: no usable rows{why}")
        x = np.asarray(feats, dtype=np.float64)
        self.rows = np.asarray(rownums, dtype=np.int64)
        self.regression = regression
        if regression:
            self._targets = np.asarray([float(v) for v in tvals], dtype=np.float32)
            self.classes = ()
            self.labels = np.zeros(len(tvals), dtype=np.int64)
        else:
            uniq = sorted(set(tvals), key=lambda s: (_num(s) is None, _num(s) if _num(s) is not None else 0, s))
            lookup = {v: k for k, v in enumerate(uniq)}
            self.classes = tuple(_pretty(v) for v in uniq)
            self.labels = np.asarray([lookup[v] for v in tvals], dtype=np.int64)
            self._targets = self.labels.astype(np.float32)
        nf = x.shape[1]
        side = int(round(nf ** 0.5))
        integral = bool(np.all(x == np.round(x))) and x.min() >= 0 and x.max() <= 255
        if layout == "auto":
            layout = "image" if (not header and side * side == nf and nf >= 4 and integral) else "table"
        if layout == "image":
            if side * side != nf:
                raise DatasetError(f"{p}: {nf} feature columns is not a square image (data.csv_layout: image)")
            if not integral:
                raise DatasetError(f"{p}: image pixels must be integers 0..255 (data.csv_layout: image)")
            self.x = x.astype(np.uint8).reshape(-1, 1, side, side)
            self.input_shape = (1, side, side)
            self.is_image = True
        elif layout == "table":
            self.x = x.astype(np.float32)
            self.input_shape = (nf,)
            self.is_image = False
        else:
            raise DatasetError(f"data.csv_layout: unknown layout {layout!r} (known: auto, image, table)")
        self.layout = layout
        self.feature_names = [names[k] for k in feat_cols]

    @staticmethod
    def _read_rows(p: Path) -> list[list[str]]:
        import gzip

        try:
            if p.suffix == ".gz":
                with gzip.open(p, "rt", newline="") as fh:
                    text = fh.read()
            else:
                text = p.read_text(encoding="utf-8-sig")
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{p}: cannot read the CSV ({str(exc).strip() or type(exc).__name__})") from None
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        return [row for row in csv.reader(io.StringIO(text), dialect) if row and any(c.strip() for c in row)]

    @staticmethod
    def _target_index(target: str | int | None, names: list[str], header: bool) -> int:
        if target is None:
            return len(names) - 1
        if isinstance(target, int):
            k = target if target >= 0 else len(names) + target
            if not 0 <= k < len(names):
                raise DatasetError(f"data.csv_target: column {target} is out of range (the file has "
                                   f"{len(names)} columns)")
            return k
        if target in names:
            return names.index(target)
        if target.strip().lstrip("-").isdigit():
            return CsvSource._target_index(int(target), names, header)
        raise DatasetError(f"data.csv_target: no column named {target!r} (columns: {', '.join(names[:12])}"
                           f"{' …' if len(names) > 12 else ''})")

    @property
    def targets(self) -> np.ndarray:
        return self._targets

    def sample(self, i: int) -> np.ndarray:
        return self.x[i]

    def info(self, i: int) -> SampleInfo:
        lab = int(self.labels[i])
        cname = self.classes[lab] if self.classes else f"{self._targets[i]:g}"
        size = (self.input_shape[-1], self.input_shape[-2]) if self.is_image else (self.input_shape[0], 1)
        return SampleInfo(i, lab, cname, f"{self.path}:row {int(self.rows[i])}", size,
                          "L" if self.is_image else "table")

    def decode_all(self, indices=None, *, progress=None, cancel=None):
        idx = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        if progress:
            progress(len(idx), len(idx))
        return self.x[idx], idx

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({"layout": self.layout, "target_column": self.target_column, "features": len(self.feature_names),
                  "task": "regression" if self.regression else "classification"})
        if self.regression:
            t = self._targets
            d["target_range"] = [float(t.min()), float(t.max())]
            d["classes"] = {}
        return d


def _pretty(v: str) -> str:
    n = _num(v)
    return str(int(n)) if n is not None and n == int(n) else v


# ---------------------------------------------------------------------------------------------
# the one entry point


def open_source(data_spec: Any, *, task: str | None = None, progress: Progress | None = None,
                cancel: Callable[[], bool] | None = None) -> Source:
    """The project's dataset as a lazy :class:`Source`. ``task`` ("regression") makes a CSV target real-valued."""
    ds = data_spec.dataset
    g = lambda name, default=None: getattr(data_spec, name, default)  # noqa: E731  (older specs lack fields)
    if ds == "digits":
        src: Source = _digits_source()
    elif ds == "folder":
        p = _need_path(data_spec.path, "folder")
        src = FolderSource(p, image_size=g("image_size"), resize=g("resize", "resize") or "resize",
                           channels=g("channels", "auto") or "auto", exclude=g("exclude", ()) or (),
                           progress=progress, cancel=cancel)
    elif ds == "csv":
        p = _need_path(data_spec.path, "csv")
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
            raise DatasetError(not_a_dataset_image(p))
        src = CsvSource(p, target=g("csv_target"), header=g("csv_header"), layout=g("csv_layout", "auto") or "auto",
                        regression=task == "regression")
    elif ds.startswith("torchvision:"):
        src = _torchvision_source(ds.split(":", 1)[1], data_spec.path)
    else:
        raise DatasetError(f"unknown dataset {ds!r} (known: digits, csv, folder, torchvision:NAME)")
    if ds in ("digits",) or ds.startswith("torchvision:"):
        src = _maybe_convert(src, data_spec)
    return src


class ConvertedSource(Source):
    """An in-memory image source brought to the project's channels/size (e.g. MNIST as RGB 32x32)."""

    def __init__(self, base: ArraySource, channels: int, size: tuple[int, int], resize: str):
        self.base = base
        self.kind, self.name, self.classes, self.labels = base.kind, base.name, base.classes, base.labels
        self.skipped = base.skipped
        self.channels, self.image_size, self.resize_mode = channels, size, resize
        self.input_shape = (channels, *size)

    def sample(self, i: int) -> np.ndarray:
        a = self.base.sample(i)
        img = Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0))
        img = convert.to_channels(img, self.channels)
        return convert.to_chw(convert.fit(img, self.image_size, self.resize_mode))

    def thumbnail(self, i: int, size: int = 64) -> np.ndarray | None:
        return self.base.thumbnail(i, size)

    def info(self, i: int) -> SampleInfo:
        return self.base.info(i)


def _maybe_convert(src: ArraySource, spec: Any) -> Source:
    ch_rule = getattr(spec, "channels", "auto") or "auto"
    size = getattr(spec, "image_size", None)
    c, h, w = src.input_shape
    want_c = c if ch_rule == "auto" else (1 if ch_rule in ("grey", "gray") else 3)
    want_size = (int(size[0]), int(size[1])) if size else (h, w)
    if want_c == c and want_size == (h, w):
        return src
    return ConvertedSource(src, want_c, want_size, getattr(spec, "resize", "resize") or "resize")
