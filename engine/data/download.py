"""Fetch a torchvision dataset's files into a root folder: progress, cancel, resume, checksums, one offline line.

Only ``layerlab data download`` and the Data view's Download button call this; training never downloads.
Each file streams into ``NAME.part`` (resumed with an HTTP Range request when the server allows it), is
checked against its MD5, and only then renamed into place and unpacked where torchvision expects it.
A cancelled download keeps its ``.part`` file so the next one resumes; a file that fails its checksum is
deleted (it would never become right by resuming). Files already present and correct are not fetched.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .sources import Cancelled, DatasetError


class DownloadError(Exception):
    """A download that could not finish (offline, server error, bad checksum): a failure during work, exit 1.
    The message is one line that says what to do instead."""


@dataclass(frozen=True)
class Resource:
    filename: str
    md5: str
    unpack: str = "none"  # "gunzip" (MNIST-style .gz next to its raw file), "untar", "none"


@dataclass(frozen=True)
class DatasetFiles:
    name: str
    mirrors: tuple[str, ...]  # base URLs; a file's URL is mirror + filename
    subdir: str  # where the files go under the root (torchvision's layout)
    resources: tuple[Resource, ...]


def _mnist_like(name: str) -> DatasetFiles:
    import torchvision.datasets as tvd

    cls = getattr(tvd, name)
    return DatasetFiles(name, tuple(cls.mirrors), os.path.join(name, "raw"),
                        tuple(Resource(f, md5, "gunzip") for f, md5 in cls.resources))


def registry() -> dict[str, DatasetFiles]:
    """Names -> files, with torchvision's own URLs and checksums (read from torchvision, not copied)."""
    import torchvision.datasets as tvd

    out = {n: _mnist_like(n) for n in ("MNIST", "FashionMNIST", "KMNIST")}
    c10 = tvd.CIFAR10
    base = c10.url.rsplit("/", 1)[0] + "/"
    out["CIFAR10"] = DatasetFiles("CIFAR10", (base,), "", (Resource(c10.filename, c10.tgz_md5, "untar"),))
    c100 = tvd.CIFAR100
    out["CIFAR100"] = DatasetFiles("CIFAR100", (c100.url.rsplit("/", 1)[0] + "/",), "",
                                   (Resource(c100.filename, c100.tgz_md5, "untar"),))
    sv = tvd.SVHN.split_list
    out["SVHN"] = DatasetFiles("SVHN", (sv["train"][0].rsplit("/", 1)[0] + "/",), "",
                               tuple(Resource(sv[k][1], sv[k][2]) for k in ("train", "test")))
    return out


@dataclass(frozen=True)
class DownloadProgress:
    filename: str
    done: int  # bytes of this file so far
    total: int | None  # bytes of this file (None when the server does not say)
    rate: float  # bytes per second over this transfer
    eta: float | None  # seconds left for this file


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while b := fh.read(chunk):
            h.update(b)
    return h.hexdigest()


def _fetch(url: str, part: Path, *, progress: Callable[[DownloadProgress], None] | None,
           cancel: Callable[[], bool] | None, timeout: float, filename: str) -> None:
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "layerlab"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http/https only, checked)
        status = getattr(resp, "status", 200)
        if have and status != 206:
            have = 0  # the server ignored the range: start over
        length = resp.headers.get("Content-Length")
        total = (int(length) + have) if length and length.isdigit() else None
        t0 = time.monotonic()
        got = 0
        last = 0.0
        try:
            fh = open(part, "ab" if have else "wb")  # noqa: SIM115 (closed below; write errors are reported)
        except OSError as exc:
            raise DownloadError(f"{part}: cannot write ({exc.strerror or exc})") from None
        with fh:
            while True:
                if cancel and cancel():
                    raise Cancelled()
                buf = resp.read(64 * 1024)
                if not buf:
                    break
                try:
                    fh.write(buf)
                except OSError as exc:
                    raise DownloadError(f"{part}: cannot write ({exc.strerror or exc}); the partial file is kept, "
                                        "free some space and download again to resume") from None
                got += len(buf)
                now = time.monotonic()
                if progress and (now - last > 0.1 or (total and have + got >= total)):
                    last = now
                    rate = got / max(now - t0, 1e-6)
                    eta = (total - have - got) / rate if total and rate > 0 else None
                    progress(DownloadProgress(filename, have + got, total, rate, eta))
        if total is not None and have + got < total:
            raise OSError(f"the connection closed after {have + got} of {total} bytes")


def _unpack(path: Path, how: str) -> None:
    if how == "gunzip":
        out = path.with_suffix("")
        tmp = out.with_name(out.name + ".tmp")
        try:
            with gzip.open(path, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
        except (OSError, EOFError) as exc:
            tmp.unlink(missing_ok=True)
            raise DownloadError(f"{path}: not a valid .gz file ({exc})") from None
        os.replace(tmp, out)
    elif how == "untar":
        try:
            with tarfile.open(path, "r:gz") as tar:
                _extract_inside(tar, path.parent)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DownloadError(f"{path}: cannot unpack ({exc})") from None


def _extract_inside(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract ``tar`` under ``dest`` and nowhere else. tarfile's "data" filter refuses absolute paths, ``..``,
    links that point outside, and device files; a Python too old to have it (before 3.10.12 / 3.11.4) gets the
    same rule by hand: plain files and folders with relative paths that stay inside."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    root = dest.resolve()
    members = tar.getmembers()
    for m in members:
        target = (root / m.name).resolve()
        if not (m.isfile() or m.isdir()) or os.path.isabs(m.name) or not target.is_relative_to(root):
            raise tarfile.TarError(f"refusing member {m.name!r}: not a plain file or folder inside {dest}")
    tar.extractall(dest, members=members)  # every member was checked above


def download(name: str, root: str | os.PathLike, *, mirror: str | None = None,
             progress: Callable[[DownloadProgress], None] | None = None, cancel: Callable[[], bool] | None = None,
             timeout: float = 15.0, log: Callable[[str], None] | None = None,
             files: DatasetFiles | None = None) -> list[Path]:
    """Fetch ``name``'s files under ``root`` (or ``mirror`` instead of the official URLs); the paths written.

    Raises ``Cancelled`` (the ``.part`` file stays for resuming), or ``DownloadError`` with one clear line.
    """
    reg = registry() if files is None else {name: files}
    if name not in reg:
        raise DatasetError(f"{name}: no download known (known: {', '.join(sorted(reg))})")
    spec = reg[name]
    say = log or (lambda msg: None)
    dest = Path(root).expanduser() / spec.subdir
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"{dest}: cannot create the folder ({exc.strerror or exc})") from None
    mirrors = (mirror,) if mirror else spec.mirrors
    for m in mirrors:
        if urllib.parse.urlparse(m).scheme not in ("http", "https"):
            raise DatasetError(f"{m}: a mirror must be an http(s) URL")
    written = []
    for res in spec.resources:
        target = dest / res.filename
        if target.exists() and md5sum(target) == res.md5:
            say(f"{res.filename}: present, checksum ok")
            _unpack_if_needed(target, res)
            written.append(target)
            continue
        part = target.with_name(target.name + ".part")
        errors = []
        for m in mirrors:
            url = m.rstrip("/") + "/" + res.filename
            try:
                _fetch(url, part, progress=progress, cancel=cancel, timeout=timeout, filename=res.filename)
                break
            except (Cancelled, DownloadError):
                raise
            except urllib.error.HTTPError as exc:
                errors.append(f"{url}: HTTP {exc.code} {exc.reason}")
                if exc.code == 416:  # a stale .part longer than the file: start over next time
                    part.unlink(missing_ok=True)
            except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
                why = getattr(exc, "reason", None) or exc
                errors.append(f"{urllib.parse.urlparse(url).netloc}: {why}")
        else:
            hosts = ", ".join(errors[:3])
            raise DownloadError(
                f"could not reach {hosts}; put the files ({', '.join(r.filename for r in spec.resources)}) in "
                f"{dest}, or use the bundled digits dataset")
        got = md5sum(part)
        if got != res.md5:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{res.filename}: checksum mismatch (got md5 {got}, expected {res.md5}); the "
                                "damaged file was deleted, download again")
        os.replace(part, target)
        say(f"{res.filename}: downloaded, checksum ok")
        _unpack_if_needed(target, res)
        written.append(target)
    return written


def _unpack_if_needed(target: Path, res: Resource) -> None:
    if res.unpack == "gunzip" and target.with_suffix("").exists():
        return
    if res.unpack == "untar" and any(p.is_dir() for p in target.parent.glob("cifar-*-py*")):
        return
    _unpack(target, res.unpack)


def partial_files(name: str, root: str | os.PathLike) -> list[Path]:
    """Leftover ``.part`` files of an interrupted download (what ``--clean`` removes)."""
    spec = registry().get(name)
    if spec is None:
        return []
    d = Path(root).expanduser() / spec.subdir
    return [d / (r.filename + ".part") for r in spec.resources if (d / (r.filename + ".part")).exists()]
