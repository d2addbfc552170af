"""LayerLab's batched augmentation (engine.data.augment: per-sample matrices composed, one grid_sample)
next to kornia.augmentation (per-sample parameters too, one warp per geometric op), same recipe, same batch.

    pip install 'layerlab[bench]'   # kornia
    PYTHONPATH=. python bench/augment_kornia.py [--device cpu|cuda] [--batch 256]

Prints milliseconds per batch (median of runs; CPU time on the CPU, wall time on CUDA) and the ratio, for grey 28x28 and RGB 32x32 batches.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.data.augment import build_augment  # noqa: E402

RECIPES = {
    "rotation+flip": [{"type": "random_rotation", "params": {"degrees": 15}}, {"type": "horizontal_flip"}],
    "crop+affine+flip": [{"type": "random_resized_crop", "params": {"scale": [0.8, 1.0]}},
                         {"type": "affine", "params": {"degrees": 10, "translate": [0.1, 0.1], "scale": [0.9, 1.1]}},
                         {"type": "horizontal_flip"}],
    "flip+jitter+erasing": [{"type": "horizontal_flip"}, {"type": "color_jitter"}, {"type": "random_erasing"}],
}


def kornia_pipeline(name: str, h: int, w: int):
    import kornia.augmentation as K

    if name == "rotation+flip":
        ops = [K.RandomRotation(15.0, p=1.0), K.RandomHorizontalFlip(p=0.5)]
    elif name == "crop+affine+flip":
        ops = [K.RandomResizedCrop((h, w), scale=(0.8, 1.0), p=1.0),
               K.RandomAffine(10.0, translate=(0.1, 0.1), scale=(0.9, 1.1), p=1.0), K.RandomHorizontalFlip(p=0.5)]
    else:
        ops = [K.RandomHorizontalFlip(p=0.5), K.ColorJitter(0.2, 0.2, 0.0, 0.0, p=1.0),
               K.RandomErasing(scale=(0.02, 0.33), ratio=(0.3, 3.3), p=0.5)]
    return K.AugmentationSequential(*ops)


def timed(fn, x, device, runs: int = 30) -> float:
    for _ in range(3):
        fn(x)
    out = []
    for _ in range(runs):
        if device.type == "cuda":
            torch.cuda.synchronize()
        # CPU: process CPU time (all intra-op threads), which a busy shared machine does not inflate the way
        # it inflates wall time; CUDA: wall time after a sync
        clock = time.perf_counter if device.type == "cuda" else time.process_time
        t = clock()
        fn(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append((clock() - t) * 1000)
    return statistics.median(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (1: CPU time is not inflated by spinning)")
    args = ap.parse_args()
    try:
        import kornia
    except ImportError:
        print("kornia is not installed: pip install 'layerlab[bench]'")
        return 2
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    print(f"device {dev}, batch {args.batch}, torch {torch.__version__}, kornia {kornia.__version__}, "
          f"{args.threads} threads (a shared machine: compare the ratios)")
    print(f"{'recipe':<22} {'shape':<12} {'layerlab ms':>12} {'kornia ms':>10} {'kornia/layerlab':>16}")
    for c, h, w in ((1, 28, 28), (3, 32, 32)):
        x = torch.rand(args.batch, c, h, w, device=dev)
        for name, spec in RECIPES.items():
            ours = build_augment(spec, c)
            theirs = kornia_pipeline(name, h, w).to(dev)
            a = timed(ours, x, dev)
            b = timed(theirs, x, dev)
            print(f"{name:<22} {f'{c}x{h}x{w}':<12} {a:>12.2f} {b:>10.2f} {b / a:>15.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
