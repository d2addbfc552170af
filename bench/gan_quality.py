"""GAN sample quality on the bundled digits, judged by a CNN classifier trained on the real digits.

Trains the ``dcgan`` template (or ``--template cgan``) on CPU within a wall-time budget, trains a
small CNN classifier on the real digits side by side (plain PyTorch), generates 500 samples and
prints::

    confident_frac=0.xx classes_covered=N/10 train_wall_s=... epochs=... steps=...

``confident_frac``: share of samples the classifier gives a top-class probability >= 0.8;
``classes_covered``: how many digits appear among the confident samples (goal: >= 0.70 and 10/10).
The GAN is trained through the real training loop when ``engine.train.api`` is available
(``--direct`` forces a plain loop over the trainer). Writes docs/gan_samples.png and, with ``--vae``,
trains the ``vae`` template too and writes docs/vae_recon.png with its per-epoch losses.

    .venv/bin/python bench/gan_quality.py [--budget 170] [--template dcgan] [--vae] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.data import load_bundle  # noqa: E402
from engine.generate import generate  # noqa: E402
from engine.project import load_project  # noqa: E402
from engine.templates import load_template  # noqa: E402
from engine.train import make_trainer  # noqa: E402
from engine.train.gridutil import interleave_rows, make_grid, save_png  # noqa: E402
from engine.train.trainer import StepContext, TrainContext  # noqa: E402


def classifier() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 49, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def train_classifier(data, epochs: int = 8, seed: int = 0) -> tuple[nn.Module, float]:
    """A plain-PyTorch CNN on the real digits; returns (model in eval mode, val accuracy)."""
    torch.manual_seed(seed)
    model = classifier()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = data.train_x, data.train_y
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            idx = perm[i : i + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(data.val_x).argmax(1) == data.val_y).float().mean().item()
    return model, acc


def train_direct(project, data, budget_s: float, run_dir: str):
    """A minimal loop over the trainer (the same calls the real loop makes), stopped by wall time."""
    torch.manual_seed(project.train.seed)
    tr = make_trainer(project)
    tr.setup(TrainContext(project, torch.device("cpu"), data, run_dir))
    bs = project.data.batch_size
    n = len(data.train_x)
    spe = math.ceil(n / bs)
    g = torch.Generator().manual_seed(project.train.seed)
    t0 = time.perf_counter()
    step = 0
    epoch = 0
    history = []
    while epoch < project.train.epochs and time.perf_counter() - t0 < budget_s:
        perm = torch.randperm(n, generator=g)
        for i in range(spe):
            idx = perm[i * bs : (i + 1) * bs]
            sc = StepContext(epoch, i + 1, step, spe)
            tr.train_step((data.train_x[idx], data.train_y[idx]), sc)
            step += 1
            if hasattr(tr, "wants_samples") and tr.wants_samples(sc):
                tr.samples(epoch, step)
        m = tr.end_epoch(epoch)
        tr.samples(epoch, step)
        history.append(m)
        print(f"  epoch {epoch}: " + " ".join(f"{k}={v:.3f}" for k, v in m.items()), flush=True)
        epoch += 1
    return tr, time.perf_counter() - t0, epoch, step, history


def train_loop(project, budget_s: float, run_dir: str, threads: int):
    """Through the real loop (``engine.train.api.train_project``), stopped when the budget is spent.

    Returns (checkpoint dict, train wall seconds, epochs run, global steps, per-epoch history).
    """
    from engine.train.api import train_project
    from engine.train.events import EpochEnd, Progress, Started
    from engine.train.loop import Control

    control = Control()
    t0 = [time.perf_counter()]

    def on_event(ev) -> None:
        if isinstance(ev, Started):
            t0[0] = time.perf_counter()
        elif isinstance(ev, EpochEnd):
            print(f"  epoch {ev.epoch}: " + " ".join(f"{k}={v:.3f}" for k, v in ev.metrics.items()), flush=True)
        if isinstance(ev, (Progress, EpochEnd)) and time.perf_counter() - t0[0] > budget_s:
            control.put("stop")

    report = train_project(project, run_dir, overrides={"train.device": "cpu", "train.threads": threads},
                           on_event=on_event, control=control)
    wall = time.perf_counter() - t0[0]
    for d in report.get("diagnostics", []):
        print(f"  diagnostic {d['code']}: {d['message']}")
    if report["status"] == "failed":
        raise SystemExit(f"training failed: {report.get('error')}")
    ckpt = torch.load(report["checkpoints"]["last"], map_location="cpu", weights_only=True)
    return ckpt, wall, len(report["epochs"]), report["global_step"], report["epochs"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--template", default="dcgan")
    ap.add_argument("--project", help="a GAN project file to train instead of a template")
    ap.add_argument("--budget", type=float, default=170.0, help="GAN training wall-time budget in seconds")
    ap.add_argument("--epochs", type=int, help="override the template's epochs (the budget still applies)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--direct", action="store_true", help="plain loop over the trainer instead of the real loop")
    ap.add_argument("--vae", action="store_true", help="also train the vae template and write docs/vae_recon.png")
    ap.add_argument("--vae-budget", type=float, default=90.0)
    ap.add_argument("--vae-only", action="store_true", help="skip the GAN (implies --vae)")
    ap.add_argument("--out", default=str(ROOT / "docs"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    if args.vae_only:
        args.vae = True
    else:
        gan_quality(args, out)
    if args.vae:
        vae_recon(args, out)
    return 0


def gan_quality(args: argparse.Namespace, out: Path) -> None:
    project = load_project(args.project) if args.project else load_template(args.template)
    if args.epochs:
        project.train.epochs = args.epochs
    data = load_bundle(project.data)
    t0 = time.perf_counter()
    clf, clf_acc = train_classifier(data)
    with torch.no_grad():
        real_conf = (torch.softmax(clf(data.val_x), 1).max(1).values >= 0.8).float().mean().item()
    print(f"classifier val_accuracy={clf_acc:.4f} real_confident_frac={real_conf:.2f} "
          f"({time.perf_counter() - t0:.1f}s)", flush=True)

    with tempfile.TemporaryDirectory() as run_dir:
        if args.direct:
            tr, wall, epochs, steps, _ = train_direct(project, data, args.budget, run_dir)
            state = tr.state_dict()
        else:
            state, wall, epochs, steps, _ = train_loop(project, args.budget, run_dir, args.threads)
        n_frames = len(list((Path(run_dir) / "samples").glob("*.png")))
    mon = (state.get("trainer", state) or {}).get("monitor") or {}
    if mon.get("last_ratio") is not None:
        print(f"fixed-grid diversity / real diversity: last={mon['last_ratio']:.2f} peak={mon['peak_ratio']:.2f}")
    imgs = generate(project, state, args.samples, seed=123)
    with torch.no_grad():
        prob = torch.softmax(clf(torch.from_numpy(imgs)), 1)
    top, cls = prob.max(1)
    confident = top >= 0.8
    frac = confident.float().mean().item()
    covered = len(set(cls[confident].tolist()))
    counts = np.bincount(cls[confident].numpy(), minlength=10)
    print(
        f"confident_frac={frac:.2f} classes_covered={covered}/10 train_wall_s={wall:.1f} "
        f"epochs={epochs} steps={steps} timeline_frames={n_frames}"
    )
    print(f"confident samples per class: {counts.tolist()}")
    if args.template and project.train.gan and project.train.gan.ema > 0:
        raw = torch.from_numpy(generate(project, state, args.samples, seed=123, use_ema=False))
        with torch.no_grad():
            rtop = torch.softmax(clf(raw), 1).max(1).values
        print(f"(raw generator without EMA: confident_frac={(rtop >= 0.8).float().mean().item():.2f})")
    save_png(out / "gan_samples.png", make_grid(torch.from_numpy(imgs[:64]), 8))
    print(f"wrote {out / 'gan_samples.png'}")


def vae_recon(args: argparse.Namespace, out: Path) -> None:
    """Train the vae template (budgeted), save a reconstruction grid, print per-epoch losses."""
    vproject = load_template("vae")
    vdata = load_bundle(vproject.data)
    with tempfile.TemporaryDirectory() as run_dir:
        if args.direct:
            vtr, vwall, vep, vsteps, hist = train_direct(vproject, vdata, args.vae_budget, run_dir)
        else:
            ck, vwall, vep, vsteps, hist = train_loop(vproject, args.vae_budget, run_dir, args.threads)
            vtr = make_trainer(vproject)
            vtr.setup(TrainContext(vproject, torch.device("cpu"), vdata, run_dir))
            vtr.load_state_dict(ck["trainer"])
        x = vdata.val_x[:32]
        rec = vtr.reconstruct(x)
    grid = make_grid(interleave_rows(x, rec, 8), 8)
    save_png(out / "vae_recon.png", grid)
    vals = " ".join(f"{h['val_recon']:.1f}" for h in hist)
    print(f"vae epochs={vep} steps={vsteps} wall_s={vwall:.1f} val_recon_per_epoch=[{vals}] "
          f"final_val_loss={hist[-1]['val_loss']:.1f}")
    print(f"wrote {out / 'vae_recon.png'}")


if __name__ == "__main__":
    raise SystemExit(main())
