"""Audit a dataset before training: unreadable files, exact and near duplicates (within a class, across
classes, across the train/validation split), class imbalance, odd sizes and modes, nearly blank images.

Each sample is reduced once to a 32x32 grey thumbnail (decoded with JPEG draft mode, in threads) and a
content digest (exact copies). Near copies: a blocked 16x16 cosine matrix proposes candidates, and a
32x32 correlation above ``NEAR_CORR`` confirms them. A perceptual hash (dHash, as ``imagehash`` has) was
tried first and measured unusable on small, mostly dark images such as digits: re-encoded copies differed
by a median 9 of 64 bits while different look-alike digits were within 4. Correlation separates them
(planted copies >= 0.984; of the 12.5M pairs of the bundled 5,000 digits, 18 reach 0.985, mostly straight
"1"s that are near-identical at 28x28).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from . import convert
from .sources import (
    MAX_IMAGE_BYTES,
    ROW_BAD_CELL,
    Cancelled,
    CsvSource,
    FolderSource,
    Source,
    map_in_threads,
    parse_header,
    read_regular,
)

THUMB = 32
CANDIDATE_COS = 0.95  # 16x16 thumbnails this similar are compared at 32x32 ...
NEAR_CORR = 0.985  # ... where a correlation above this is a near copy (re-encoded, resized, recoloured)
BLANK_STD = 3.0  # a 32x32 grey thumbnail with less spread than this (of 255) is nearly blank
IMBALANCE_RATIO = 3.0
MAX_FILES_PER_FINDING = 200


@dataclass(frozen=True)
class Finding:
    kind: str  # unreadable, skipped, skipped_rows, excluded, duplicate, near_duplicate, cross_class, split_leak, imbalance, odd_size, odd_mode, blank
    message: str
    files: tuple[str, ...] = ()
    indices: tuple[int, ...] = ()  # source indices (where the finding is about samples)
    action: str | None = None  # "exclude" (add files to data.exclude) where one click fixes it
    action_files: tuple[str, ...] = ()  # what that action would exclude

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "files": list(self.files[:MAX_FILES_PER_FINDING]),
                "count": len(self.files), "action": self.action,
                "action_files": list(self.action_files[:MAX_FILES_PER_FINDING])}


@dataclass
class AuditReport:
    source: str
    num_samples: int
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        counts = Counter(f.kind for f in self.findings)
        return {"source": self.source, "num_samples": self.num_samples, "seconds": round(self.seconds, 3),
                "summary": dict(counts), "findings": [f.to_json() for f in self.findings]}


# ---------------------------------------------------------------------------------------------
# per-sample reduction


def _grey_thumb(img: Image.Image) -> np.ndarray:
    if img.format == "JPEG":
        img.draft("L", (THUMB * 2, THUMB * 2))
    img = convert.to_channels(img, 1)
    return np.asarray(img.resize((THUMB, THUMB), Image.BILINEAR, reducing_gap=2.0), dtype=np.uint8)


def _reduce_folder(src: FolderSource, idx: np.ndarray, progress, cancel):
    n = len(idx)
    thumbs = np.zeros((n, THUMB, THUMB), dtype=np.uint8)
    digests: list[bytes | None] = [None] * n
    errors: dict[int, str] = {}

    def one(k: int) -> None:
        path = src.entries[int(idx[k])].path
        data = read_regular(path, MAX_IMAGE_BYTES)  # one read: the digest and the decode share it
        got = data if isinstance(data, str) else parse_header(data)
        if isinstance(got, str):
            errors[k] = got
            return
        digests[k] = hashlib.blake2b(data, digest_size=16).digest()
        try:
            thumbs[k] = _grey_thumb(got[0])
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
            errors[k] = f"cannot decode ({str(exc).strip() or type(exc).__name__})"

    map_in_threads(one, n, workers=min(8, os.cpu_count() or 2), progress=progress, cancel=cancel)
    return thumbs, digests, errors


def _reduce_arrays(src: Source, idx: np.ndarray, progress, cancel):
    import torch
    import torch.nn.functional as F

    n = len(idx)
    thumbs = np.zeros((n, THUMB, THUMB), dtype=np.uint8)
    digests: list[bytes | None] = [None] * n
    chunk = 2048
    for k0 in range(0, n, chunk):
        if cancel and cancel():
            raise Cancelled()
        x, _ = src.decode_all(idx[k0:k0 + chunk])
        for j in range(len(x)):
            digests[k0 + j] = hashlib.blake2b(np.ascontiguousarray(x[j]).tobytes(), digest_size=16).digest()
        t = torch.from_numpy(np.ascontiguousarray(x)).float()
        if t.shape[1] == 3:
            t = (t * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        else:
            t = t.mean(1, keepdim=True)
        t = F.interpolate(t, size=(THUMB, THUMB), mode="area")
        thumbs[k0:k0 + len(x)] = t[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()
        if progress:
            progress(min(n, k0 + chunk), n)
    return thumbs, digests, {}


def _unit(t, size: int):
    """Mean-centred, L2-normalised (N, size*size) vectors of (N, 1, H, W) float thumbnails."""
    import torch.nn.functional as F

    e = F.interpolate(t, size=(size, size), mode="area").flatten(1) if t.shape[-1] != size else t.flatten(1)
    e = e - e.mean(1, keepdim=True)
    return e / e.norm(dim=1, keepdim=True).clamp_min(1e-6)


def near_pairs(thumbs: np.ndarray, min_corr: float, block: int = 1024) -> np.ndarray:
    """Pairs (i < j) of (N, 32, 32) thumbnails that correlate above ``min_corr``: candidates from a blocked
    16x16 cosine matrix (cheap), each confirmed on the full 32x32 thumbnails. (M, 2) int64."""
    import torch

    if len(thumbs) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    t = torch.from_numpy(thumbs).float().unsqueeze(1)
    coarse, fine = _unit(t, 16), _unit(t, THUMB)
    out = []
    for a in range(0, len(t), block):
        sim = coarse[a:a + block] @ coarse[a:].T  # only j >= a: each pair once
        ii, jj = torch.nonzero(sim > CANDIDATE_COS, as_tuple=True)
        ii, jj = ii + a, jj + a
        keep = jj > ii
        ii, jj = ii[keep], jj[keep]
        if len(ii):
            corr = (fine[ii] * fine[jj]).sum(1)
            ok = corr > min_corr
            out.append(torch.stack([ii[ok], jj[ok]], 1))
    return torch.cat(out).numpy() if out else np.zeros((0, 2), dtype=np.int64)


class _Union:
    def __init__(self, n: int):
        self.p = np.arange(n)

    def find(self, i: int) -> int:
        p = self.p
        while p[i] != i:
            p[i] = p[p[i]]
            i = p[i]
        return int(i)

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.p[max(ra, rb)] = min(ra, rb)


# ---------------------------------------------------------------------------------------------
# the audit


def skipped_findings(src: Source) -> list[Finding]:
    """What opening the source already left out, grouped by reason (no pixels read); a CSV's rows as
    ``skipped_rows``, grouped by what is wrong with them, with examples by row and column."""
    if isinstance(src, CsvSource):
        return _skipped_rows(src)
    by_reason: dict[str, list[str]] = defaultdict(list)
    for path, why in src.skipped:
        by_reason[why.split(" (")[0]].append(path)
    return [Finding(_skip_kind(why), f"{len(paths)} file(s) left out: {why}", tuple(paths))
            for why, paths in sorted(by_reason.items(), key=lambda kv: -len(kv[1]))]


def _skipped_rows(src: CsvSource) -> list[Finding]:
    by_kind: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for line, kind, where in src.row_problems:
        by_kind[kind].append((line, where))
    out = []
    for kind, rows in sorted(by_kind.items(), key=lambda kv: -len(kv[1])):
        shown = ", ".join(f"row {line} {where}" if kind == ROW_BAD_CELL else f"row {line}: {where}"
                          for line, where in rows[:3]) + (", …" if len(rows) > 3 else "")
        out.append(Finding("skipped_rows", f"{len(rows)} row(s) left out: {kind} ({shown})",
                           tuple(f"{src.path}:row {line}" for line, _ in rows)))
    return out


_NOT_BROKEN = ("excluded", "hidden", "not in a class folder", "not an image file", "empty class folder",
               "already scanned", "nested deeper")


def _skip_kind(reason: str) -> str:
    """``excluded`` (the project said so), ``skipped`` (not a sample by design: hidden files, other
    extensions, folders outside the layout) or ``unreadable`` (a file that should be an image and is not)."""
    if reason.startswith("excluded"):
        return "excluded"
    return "skipped" if reason.startswith(_NOT_BROKEN) else "unreadable"


def audit_source(src: Source, data_spec: Any = None, *, progress: Callable[[int, int], None] | None = None,
                 cancel: Callable[[], bool] | None = None, near_corr: float = NEAR_CORR) -> AuditReport:
    """Every finding for ``src`` (split by ``data_spec``'s settings when given)."""
    from .datasets import project_split, select_limit

    t0 = time.perf_counter()
    rep = AuditReport(src.name, len(src))
    is_folder = isinstance(src, FolderSource)
    name = (lambda i: src.entries[i].path) if is_folder else (lambda i: src.info(i).path)

    rep.findings.extend(skipped_findings(src))

    idx = select_limit(len(src), data_spec) if data_spec is not None else np.arange(len(src))
    labels = src.labels[idx]
    regression = getattr(src, "regression", False)
    if data_spec is not None and len(idx) >= 2:
        tr, va = project_split(labels, data_spec, regression)
        in_val = np.zeros(len(idx), dtype=bool)
        in_val[va] = True
    else:
        in_val = np.zeros(len(idx), dtype=bool)

    if src.classes and not regression and len(src.classes) >= 2:
        counts = np.bincount(labels, minlength=len(src.classes))
        present = counts[counts > 0]
        if len(present) and present.max() > IMBALANCE_RATIO * present.min():
            big, small = int(np.argmax(counts)), int(np.argmin(np.where(counts > 0, counts, counts.max() + 1)))
            rep.findings.append(Finding(
                "imbalance", f"class imbalance: {src.classes[big]!r} has {counts[big]:,} samples, "
                f"{src.classes[small]!r} only {counts[small]:,} ({counts[big] / max(counts[small], 1):.1f}x); "
                "consider more data for the small classes, or class weights"))

    if not src.is_image:
        _table_duplicates(src, idx, labels, in_val, rep, name)
        rep.seconds = time.perf_counter() - t0
        return rep

    if is_folder:
        thumbs, digests, errors = _reduce_folder(src, idx, progress, cancel)
        _odd_sizes_and_modes(src, idx, rep)
    else:
        thumbs, digests, errors = _reduce_arrays(src, idx, progress, cancel)
    if errors:
        paths = tuple(name(int(idx[k])) for k in sorted(errors))
        rep.findings.append(Finding("unreadable", f"{len(errors)} file(s) do not decode (e.g. "
                                    f"{os.path.basename(paths[0])}: {errors[min(errors)]}); training skips them",
                                    paths, tuple(int(idx[k]) for k in sorted(errors)),
                                    "exclude" if is_folder else None, paths if is_folder else ()))
    ok = np.array([k not in errors for k in range(len(idx))], dtype=bool)

    std = thumbs.reshape(len(idx), -1).astype(np.float32).std(1)
    blank = np.flatnonzero(ok & (std < BLANK_STD))
    if len(blank):
        files = tuple(name(int(idx[k])) for k in blank)
        rep.findings.append(Finding("blank", f"{len(blank)} image(s) are nearly blank (almost one flat colour)",
                                    files, tuple(int(idx[k]) for k in blank), "exclude" if is_folder else None,
                                    files if is_folder else ()))

    # groups: exact copies by digest, near copies by dHash + thumbnail check (blank images are left out:
    # they all "match" each other and are reported above)
    n = len(idx)
    uf = _Union(n)
    exact_key: dict[bytes, int] = {}
    for k in range(n):
        if ok[k] and digests[k] is not None:
            first = exact_key.setdefault(digests[k], k)
            if first != k:
                uf.join(first, k)
    usable = np.flatnonzero(ok & (std >= BLANK_STD))
    if len(usable) >= 2:
        pairs = near_pairs(thumbs[usable], near_corr)
        for i, j in zip(usable[pairs[:, 0]], usable[pairs[:, 1]]):
            uf.join(int(i), int(j))
    groups: dict[int, list[int]] = defaultdict(list)
    for k in range(n):
        if ok[k]:
            groups[uf.find(k)].append(k)
    for members in groups.values():
        if len(members) < 2:
            continue
        _group_findings(src, idx, labels, in_val, members, digests, rep, name, is_folder, data_spec is not None)
    rep.seconds = time.perf_counter() - t0
    return rep


def _group_findings(src, idx, labels, in_val, members, digests, rep, name, is_folder, has_split) -> None:
    files = tuple(name(int(idx[k])) for k in members)
    ids = tuple(int(idx[k]) for k in members)
    exact = len({digests[k] for k in members}) == 1
    what = "exact copies" if exact else "near copies"
    labs = sorted({int(labels[k]) for k in members})
    if len(labs) > 1 and src.classes:
        names = ", ".join(repr(src.classes[c]) for c in labs)
        rep.findings.append(Finding("cross_class", f"{len(members)} {what} carry different labels ({names}): "
                                    "likely mislabeled; keep the right one", files, ids,
                                    "exclude" if is_folder else None, ()))  # which copy is wrong: the user says
    if has_split and in_val[members].any() and (~in_val[members]).any():
        val_files = tuple(name(int(idx[k])) for k in members if in_val[k])
        rep.findings.append(Finding("split_leak", f"{len(members)} {what} sit on both sides of the train/validation "
                                    "split: validation accuracy is inflated; exclude the validation copies",
                                    files, ids, "exclude" if is_folder else None, val_files if is_folder else ()))
    if len(labs) == 1:
        extra = files[1:]
        rep.findings.append(Finding("duplicate" if exact else "near_duplicate",
                                    f"{len(members)} {what} in class {src.classes[labs[0]]!r}" if src.classes else
                                    f"{len(members)} {what}", files, ids,
                                    "exclude" if is_folder else None, extra if is_folder else ()))


def _table_duplicates(src, idx, labels, in_val, rep, name) -> None:
    x, _ = src.decode_all(idx)
    seen: dict[bytes, list[int]] = defaultdict(list)
    for k in range(len(idx)):
        seen[np.ascontiguousarray(x[k]).tobytes()].append(k)
    for members in seen.values():
        if len(members) > 1:
            _group_findings(src, idx, labels, in_val, members, [b""] * len(idx), rep, name, False, True)


def _odd_sizes_and_modes(src: FolderSource, idx: np.ndarray, rep: AuditReport) -> None:
    entries = [src.entries[int(i)] for i in idx]
    modes = Counter(e.mode for e in entries)
    main_mode, main_n = modes.most_common(1)[0]
    for mode, cnt in modes.items():
        if mode != main_mode and cnt <= 0.05 * len(entries):
            files = tuple(e.path for e in entries if e.mode == mode)
            rep.findings.append(Finding("odd_mode", f"{cnt} image(s) are mode {mode} while most are {main_mode} "
                                        f"(they are converted to {'grey' if src.channels == 1 else 'RGB'})", files))
    h, w = src.image_size
    small = tuple(e.path for e in entries if e.size[0] < w / 2 or e.size[1] < h / 2)
    if small:
        rep.findings.append(Finding("odd_size", f"{len(small)} image(s) are less than half the input size {h}×{w} (H×W) "
                                    "(they are upscaled and will look blurry)", small))
    aspect = np.array([e.size[0] / e.size[1] for e in entries])
    med = float(np.median(aspect))
    odd = tuple(e.path for e, a in zip(entries, aspect) if a > 2 * med or a < med / 2)
    if odd:
        rep.findings.append(Finding("odd_size", f"{len(odd)} image(s) have an unusual shape (aspect far from the "
                                    f"typical {med:.2f}; {src.resize_mode} changes them the most)", odd))
