"""Training speed on a busy machine: the ``cnn`` template for a fixed number of steps, quiet and beside
one and two busy processes, with three thread settings side by side:

- ``torch default``: what ``layerlab train`` did before (torch's own thread count = every core, OpenMP
  threads spinning while they wait);
- ``1 thread``: the hand-picked baseline the issue measured (never oversubscribes);
- ``layerlab``: what LayerLab now does (``engine.threads``: as many threads as there are free cores,
  measured when training starts, and passive OpenMP waiting).

Each run is a fresh process (OpenMP reads its environment when torch loads). Prints steps/s, the ratio
to the same setting's quiet speed, and LayerLab's ratio to one thread under the same load.

    python bench/under_load.py [--steps 150] [--busy 0 1 2]

The machine's load before the run is printed: on a shared machine the figures move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OMP_VARS = ("OMP_WAIT_POLICY", "KMP_BLOCKTIME", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "LAYERLAB_TORCH_THREADS")
SETTINGS = ("torch default", "1 thread", "layerlab")


def child(setting: str, steps: int) -> None:
    """Train and print {"steps_per_s": ..., "threads": ...} as the last stdout line."""
    if setting == "layerlab":
        from engine.threads import apply_thread_env, choose_threads

        apply_thread_env()
        threads = choose_threads()
    import tempfile

    import torch

    from engine.templates import load_template
    from engine.train.loop import TrainLoop

    if setting == "1 thread":
        threads = 1
    elif setting == "torch default":
        threads = torch.get_num_threads()
    project = load_template("cnn")
    project.data.limit = 2048
    project.train.epochs = 1000
    project.train.max_steps = steps
    project.train.checkpoint_every = 100000
    with tempfile.TemporaryDirectory() as d:
        fin = TrainLoop(project, d, emit=lambda ev: None, threads=threads).run()
    print(json.dumps({"steps_per_s": fin.final.get("train_steps_per_s", 0.0), "threads": threads,
                      "status": fin.status}))


def run(setting: str, steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in OMP_VARS}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, __file__, "--child", setting, "--steps", str(steps)], env=env,
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"{setting}: the training child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def busy(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--busy", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the settings this many times, interleaved, and keep each one's median "
                         "(a shared machine's load drifts between runs)")
    ap.add_argument("--child", choices=SETTINGS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.steps)
        return 0
    la = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f} before the run "
          "(other users' work counts as load too)")
    print(f"cnn template, {args.steps} steps, batch 32; steps/s of training time"
          + (f", median of {args.rounds} interleaved rounds" if args.rounds > 1 else "") + "\n")
    results: dict[tuple[str, int], dict] = {}
    for k in args.busy:
        procs = busy(k)
        try:
            time.sleep(1.0 if k else 0.0)  # let the busy processes take their cores
            runs: dict[str, list[dict]] = {s: [] for s in SETTINGS}
            for _ in range(max(1, args.rounds)):
                for s in SETTINGS:
                    runs[s].append(run(s, args.steps))
            for s, rs in runs.items():
                rs.sort(key=lambda r: r["steps_per_s"])
                results[(s, k)] = rs[len(rs) // 2]
        finally:
            for p in procs:
                p.kill()
                p.wait()
    head = f"{'setting':<14}" + "".join(f"{f'{k} busy':>22}" for k in args.busy)
    print(head)
    for s in SETTINGS:
        cells = []
        for k in args.busy:
            r = results[(s, k)]
            quiet = results.get((s, 0), {}).get("steps_per_s") or 0.0
            ratio = f" ({r['steps_per_s'] / quiet:.2f}x)" if quiet and k else ""
            cells.append(f"{r['steps_per_s']:8.1f}/s {r['threads']}t{ratio}")
        print(f"{s:<14}" + "".join(f"{c:>22}" for c in cells))
    la = os.getloadavg()
    print(f"\nload average after the run: {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f}")
    for k in args.busy:
        one = results[("1 thread", k)]["steps_per_s"]
        ll = results[("layerlab", k)]["steps_per_s"]
        old = results[("torch default", k)]["steps_per_s"]
        print(f"{k} busy: layerlab / 1 thread = {ll / one:.2f}x, layerlab / torch default = {ll / old:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
