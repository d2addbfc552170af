"""Streaming an image folder while training vs decoding it once into memory: samples per second that the
batch pipeline delivers (no model), on a synthetic folder.

    PYTHONPATH=. python bench/data_stream.py [--files 2000] [--size 48] [--rounds 3] [--workers 2]

Modes, timed in turn in every round (so a busy machine slows them alike), one epoch each:
- memory, first epoch: ``decode_all`` (threads) + the on-device epoch: what a decoded run pays once (the
  folder scan, the same for every mode, is done once beforehand);
- memory, later epochs: the seeded gather of tensors already in memory;
- stream, 0 workers: decode every batch in this process (``data.stream: always``);
- stream, N workers: decode in N spawned worker processes (started once; startup printed apart).
Ratios are against the in-memory first epoch: what streaming costs per epoch, compared with the one-off decode.
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


def make_folder(root: Path, files: int, size: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(files):
        d = root / f"class{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        side = size + int(rng.integers(0, size // 2))  # mixed sizes: every image is resized
        img = rng.integers(0, 256, (side // 8, side // 8, 3), dtype=np.uint8)
        Image.fromarray(img).resize((side, side), Image.BICUBIC).save(d / f"{i:06d}.png")


def epoch_rate(batches) -> float:
    t0 = time.perf_counter()
    n = sum(len(y) for _, y in batches.epoch())
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--size", type=int, default=48, help="image side before the resize to 32x32")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    import torch

    from engine.data.datasets import load_bundle
    from engine.data.loader import SourceBatches, TensorBatches
    from engine.data.sources import open_source
    from engine.project import DataSpec

    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory(prefix="layerlab-stream-") as tmp:
        root = Path(tmp) / "folder"
        make_folder(root, args.files, args.size)
        spec = DataSpec(dataset="folder", path=str(root), image_size=(32, 32), channels="rgb", val_fraction=0.1,
                        batch_size=64)
        src = open_source(spec)  # scanned once: every mode below reads the same scan
        streamed = load_bundle(spec, source=src, stream="always")
        ds = streamed.train_x.dataset
        t0 = time.perf_counter()
        with_workers = SourceBatches(ds, 64, cpu, seed=0, num_workers=args.workers)
        next(iter(with_workers.epoch()))  # start the workers outside the timings
        startup = time.perf_counter() - t0
        in_process = SourceBatches(ds, 64, cpu, seed=0, num_workers=0)
        rates: dict[str, list[float]] = {k: [] for k in ("first", "later", "stream0", "streamN")}
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            bundle = load_bundle(spec, source=src, stream="never")  # decode all (threads), as a decoded run does
            mem = TensorBatches(bundle.train_x, bundle.train_y, 64, cpu, seed=0)
            n = sum(len(y) for _, y in mem.epoch())
            rates["first"].append(n / (time.perf_counter() - t0))
            rates["later"].append(epoch_rate(mem))
            rates["stream0"].append(epoch_rate(in_process))
            rates["streamN"].append(epoch_rate(with_workers))
        with_workers.close()
    med = {k: float(np.median(v)) for k, v in rates.items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.files} PNGs ({args.size}-{args.size * 3 // 2} px, RGB) -> 3x32x32, batches of 64, "
          f"{args.rounds} rounds, medians; {os.cpu_count()} CPUs, load average {load:.1f}")
    rows = [("memory, first epoch (decode_all + gather)", "first"), ("memory, later epochs (gather)", "later"),
            ("stream, 0 workers", "stream0"), (f"stream, {args.workers} workers", "streamN")]
    for label, k in rows:
        print(f"  {label:<42} {med[k]:>10,.0f} samples/s   {med[k] / med['first']:5.2f}x the first epoch")
    print(f"  {args.workers} worker processes started in {startup:.1f} s (once per run); "
          f"{args.workers} workers vs 0: {med['streamN'] / med['stream0']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
