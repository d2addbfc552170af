"""Data view speed: the thumbnail grid over 100,000 synthetic images, a 10,000-file folder scan, and the
audit of those 10,000 images, each next to the obvious hand-written way.

    PYTHONPATH=. QT_QPA_PLATFORM=offscreen python bench/data_browser.py [--n 100000] [--files 10000]

Targets (issue 13): first paint <= 200 ms, p99 frame gap while scrolling <= 30 ms, scan <= 10 s, audit < 60 s.
Baselines: a QListWidget holding one item with a decoded icon per image (what one writes first), and
torchvision's ImageFolder + decoding every image (the loader LayerLab had before its lazy sources).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


_PNGS: list[bytes] = []


def synthetic_thumb(i: int, size: int = 64) -> np.ndarray:
    """Decode one of 256 in-memory 96x96 PNGs and shrink it: the work of ``FolderSource.thumbnail``
    without the disk (a 100,000-file folder would dominate the machine's disk, not the grid)."""
    import io

    from PIL import Image

    if not _PNGS:
        rng = np.random.default_rng(0)
        for _ in range(256):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((96, 96), Image.BICUBIC) \
                .save(buf, "PNG")
            _PNGS.append(buf.getvalue())
    img = Image.open(io.BytesIO(_PNGS[i % 256]))
    img.thumbnail((size, size), Image.BILINEAR)
    return np.asarray(img)


def bench_grid(n: int) -> dict[str, float]:
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QIcon, QPixmap
    from PySide6.QtWidgets import QApplication, QListView, QListWidget, QListWidgetItem

    from widgets.thumbnails import ThumbnailGrid, ThumbnailModel, to_qimage

    app = QApplication.instance() or QApplication(sys.argv)
    synthetic_thumb(0)  # build the PNGs outside the timing
    labels = [f"class {i % 10}" for i in range(n)]
    t0 = time.perf_counter()
    model = ThumbnailModel(synthetic_thumb, labels=labels)
    grid = ThumbnailGrid(model, cell=64)
    grid.resize(1000, 700)
    model.set_rows(np.arange(n))
    grid.show()
    app.processEvents()
    grid.viewport().repaint()
    first = time.perf_counter() - t0
    # wait for the batched layout, then scroll like a user dragging: ~3 rows per frame
    deadline = time.perf_counter() + 20
    while grid.verticalScrollBar().maximum() < (n // 14) * 80 and time.perf_counter() < deadline:
        app.processEvents()
    bar = grid.verticalScrollBar()
    gaps, cpu = [], []
    for k in range(600):
        t, c = time.perf_counter(), time.thread_time()
        bar.setValue(min(bar.maximum(), bar.value() + 240 + (k % 7) * 10))
        app.processEvents()
        grid.viewport().repaint()
        gaps.append((time.perf_counter() - t) * 1000)
        cpu.append((time.thread_time() - c) * 1000)  # the Qt thread's own CPU: what a busy machine cannot inflate
    ready = sum(model.cached(int(i)) for i in range(n))
    model.shutdown()
    grid.close()

    # baseline: one QListWidgetItem per image, every icon decoded before the first paint
    m = min(n, 20_000)  # 100k takes minutes this way; measured on 20k and scaled linearly
    t0 = time.perf_counter()
    lw = QListWidget()
    lw.setViewMode(QListView.ViewMode.IconMode)
    lw.setIconSize(QSize(64, 64))
    lw.setUniformItemSizes(True)
    for i in range(m):
        QListWidgetItem(QIcon(QPixmap.fromImage(to_qimage(synthetic_thumb(i)))), labels[i], lw)
    lw.resize(1000, 700)
    lw.show()
    app.processEvents()
    lw.viewport().repaint()
    base = (time.perf_counter() - t0) * n / m
    lw.close()
    g = np.asarray(gaps)
    return {"first_paint_ms": first * 1000, "p50_gap_ms": float(np.percentile(g, 50)),
            "p99_cpu_ms": float(np.percentile(cpu, 99)), "p50_cpu_ms": float(np.percentile(cpu, 50)),
            "p99_gap_ms": float(np.percentile(g, 99)), "max_gap_ms": float(g.max()), "decoded": ready,
            "baseline_first_paint_ms": base * 1000}


def make_folder(root: Path, files: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(10):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    for i in range(files):
        small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        Image.fromarray(small).resize((32, 32), Image.BICUBIC).save(root / f"class{i % 10}" / f"{i:05d}.png")


def bench_folder(files: int) -> dict[str, float]:
    from engine.data.audit import audit_source
    from engine.data.sources import FolderSource
    from engine.project import DataSpec

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "imgs"
        make_folder(root, files)
        os.sync()
        t0 = time.perf_counter()
        src = FolderSource(root)
        scan = time.perf_counter() - t0
        t0 = time.perf_counter()
        x, _ = src.decode_all()
        decode = time.perf_counter() - t0
        t0 = time.perf_counter()
        rep = audit_source(src, DataSpec(dataset="folder", path=str(root)))
        audit = time.perf_counter() - t0

        from torchvision.datasets import ImageFolder

        t0 = time.perf_counter()
        ds = ImageFolder(str(root))
        tv_scan = time.perf_counter() - t0
        t0 = time.perf_counter()
        for p, _ in ds.samples:  # the old loader: decode everything up front
            np.asarray(ds.loader(p).convert("RGB"))
        old_load = time.perf_counter() - t0
    return {"scan_s": scan, "decode_all_s": decode, "audit_s": audit, "findings": len(rep.findings),
            "tv_imagefolder_scan_s": tv_scan, "old_loader_s": old_load, "samples": len(src), "shape": x.shape[1:]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000, help="thumbnails in the grid")
    ap.add_argument("--files", type=int, default=10_000, help="files in the scanned folder")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs (shared with other work; figures vary run to run)")
    g = bench_grid(args.n)
    print(f"\nthumbnail grid, {args.n:,} images (QListView + lazy model):")
    print(f"  first paint        {g['first_paint_ms']:8.1f} ms   (target <= 200)   "
          f"baseline QListWidget + decode all: {g['baseline_first_paint_ms']:9.0f} ms  "
          f"-> {g['baseline_first_paint_ms'] / max(g['first_paint_ms'], 1e-3):.0f}x faster")
    print(f"  scroll frame gaps  p50 {g['p50_gap_ms']:.1f} ms, p99 {g['p99_gap_ms']:.1f} ms (target <= 30), "
          f"max {g['max_gap_ms']:.1f} ms; {g['decoded']:,} thumbnails decoded in the background")
    print(f"  Qt-thread CPU/frame p50 {g['p50_cpu_ms']:.1f} ms, p99 {g['p99_cpu_ms']:.1f} ms (wall-clock gaps above "
          f"include waiting for a CPU; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    f = bench_folder(args.files)
    print(f"\nimage folder, {args.files:,} PNG files:")
    print(f"  scan (headers)     {f['scan_s']:8.2f} s    (target <= 10)     "
          f"torchvision ImageFolder (names only): {f['tv_imagefolder_scan_s']:.2f} s")
    print(f"  decode all         {f['decode_all_s']:8.2f} s    to {tuple(f['shape'])}; "
          f"old loader (ImageFolder + decode all, one thread): {f['old_loader_s']:.2f} s "
          f"-> {f['old_loader_s'] / max(f['decode_all_s'], 1e-3):.1f}x")
    print(f"  audit              {f['audit_s']:8.2f} s    (target < 60), {f['findings']} finding(s) on clean data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
