"""Engine loop vs a minimal hand-written PyTorch loop: same model, optimizer, tensors, batch 64.

For each template (cnn, mlp) it alternates rounds (engine, raw, engine, raw, ...) in this process and
prints ``template=cnn ratio=0.98 engine_steps_s=... raw_steps_s=...`` where ratio = engine / raw
optimizer steps per second (higher is better; 1.0 = no overhead): the median of the per-round
ratios. ``cpu_ratio`` compares the median steps per CPU-second (``time.process_time``), which other
processes on a shared machine disturb less. Engine steps/s is what the loop
measures over its training steps (validation, checkpoints and setup excluded); the raw loop is timed
the same way (its permutation gather included, model/optimizer construction excluded).

    .venv/bin/python bench/engine_vs_raw.py [--steps N] [--rounds 6] [--threads 1] [--templates cnn,mlp]
                                            [--runners]

``--runners`` first compares the thread and process runners on the cnn template: training steps/s
while this thread keeps running Python (as the Qt thread does), and that work's chunk times.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.data import load_bundle  # noqa: E402
from engine.project import Project  # noqa: E402
from engine.train.loop import TrainLoop  # noqa: E402

DEFAULT_STEPS = {"cnn": 150, "mlp": 400}
INLINE = {  # used when a template file is missing
    "mlp": [("flatten", "Flatten", {}), ("fc1", "Linear", {"out_features": 256}), ("relu", "ReLU", {}),
            ("fc2", "Linear", {"out_features": 10})],
    "cnn": [("c1", "Conv2d", {"out_channels": 16, "kernel_size": 3, "padding": 1}), ("r1", "ReLU", {}),
            ("p1", "MaxPool2d", {"kernel_size": 2}),
            ("c2", "Conv2d", {"out_channels": 32, "kernel_size": 3, "padding": 1}), ("r2", "ReLU", {}),
            ("p2", "MaxPool2d", {"kernel_size": 2}), ("flatten", "Flatten", {}),
            ("fc", "Linear", {"out_features": 10})],
}


def template_project(name: str) -> dict:
    path = ROOT / "resources" / "templates" / f"{name}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    nodes = [{"id": "input", "type": "Input", "params": {"shape": [1, 28, 28]}}]
    nodes += [{"id": i, "type": t, "params": p} for i, t, p in INLINE[name]]
    nodes.append({"id": "output", "type": "Output", "params": {}})
    edges = [[a["id"], b["id"]] for a, b in zip(nodes, nodes[1:])]
    return {"format": "layerlab-project", "version": 1, "name": name, "model": {"nodes": nodes, "edges": edges}}


def engine_round(raw: dict, steps: int) -> tuple[float, float]:
    raw = copy.deepcopy(raw)
    raw["train"]["max_steps"] = steps
    p = Project.model_validate(raw)
    with tempfile.TemporaryDirectory() as d:
        fin = TrainLoop(p, d).run()
    if fin.status != "completed":
        raise SystemExit(f"engine run failed: {fin.status}")
    return fin.final["train_steps_per_s"], fin.final["train_steps_per_cpu_s"]


def raw_round(raw: dict, steps: int) -> tuple[float, float]:
    """The hand-written loop: permutation per epoch, slices, forward, loss, backward, step."""
    from engine.graph import compile_graph

    p = Project.model_validate(raw)
    torch.manual_seed(p.train.seed)
    bundle = load_bundle(p.data)
    model, _ = compile_graph(p.model)
    opt = torch.optim.Adam(model.parameters(), lr=p.train.optimizer.lr)
    loss_fn = nn.CrossEntropyLoss()
    x, y = bundle.train_x, bundle.train_y
    bs = p.data.batch_size
    gen = torch.Generator().manual_seed(p.train.seed)
    model.train()
    done = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    while done < steps:
        perm = torch.randperm(len(x), generator=gen)
        xs, ys = x[perm], y[perm]
        for i in range(0, len(x), bs):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xs[i:i + bs]), ys[i:i + bs])
            loss.backward()
            opt.step()
            done += 1
            if done >= steps:
                break
    loss.item()
    return steps / (time.perf_counter() - t0), steps / (time.process_time() - c0)


def _ui_work(seconds: float) -> list[float]:
    """Pure-Python work on this ("UI") thread: milliseconds per chunk."""
    out = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        sum(i * i for i in range(5000))
        out.append((time.perf_counter() - t) * 1e3)
    return out


def runners_bench(name: str, seconds: float = 4.0) -> None:
    """Thread vs process runner: training steps/s while this thread keeps doing Python work (as the Qt
    thread does), and how long that work's chunks take (median / p95)."""
    from engine.train.events import Progress
    from engine.train.runner import make_runner

    raw = copy.deepcopy(template_project(name))
    raw.setdefault("train", {}).update({"device": "cpu", "epochs": 1000})
    p = Project.model_validate(raw)
    idle = _ui_work(seconds / 2)
    print(f"runners template={name} mode=idle ui_chunk_ms_median={statistics.median(idle):.2f} "
          f"ui_chunk_ms_p95={sorted(idle)[int(len(idle) * 0.95)]:.2f}", flush=True)
    for mode in ("thread", "process"):
        r = make_runner(mode)
        with tempfile.TemporaryDirectory() as d:
            r.start(p, d)
            while not isinstance(r.wait_event(120), Progress):
                pass
            work = _ui_work(seconds)
            prog = [e for e in r.poll(100000) if isinstance(e, Progress)]
            r.close()
        sps = (prog[-1].global_step - prog[0].global_step) / (prog[-1].t - prog[0].t) if len(prog) > 1 else 0.0
        print(f"runners template={name} mode={mode} train_steps_s={sps:.1f} "
              f"ui_chunk_ms_median={statistics.median(work):.2f} "
              f"ui_chunk_ms_p95={sorted(work)[int(len(work) * 0.95)]:.2f}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=None, help="steps per round (default: cnn 150, mlp 400)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--templates", default="cnn,mlp")
    ap.add_argument("--runners", action="store_true", help="also compare the thread and process runners")
    args = ap.parse_args()
    if args.runners:
        runners_bench("cnn")
    torch.set_num_threads(args.threads)
    for name in args.templates.split(","):
        steps = args.steps or DEFAULT_STEPS.get(name, 200)
        raw = copy.deepcopy(template_project(name))
        raw.setdefault("data", {})["batch_size"] = 64
        raw["data"]["augment"] = []
        tr = raw.setdefault("train", {})
        tr.update({"device": "cpu", "epochs": 1000, "max_steps": steps, "amp": False, "compile": False,
                   "early_stopping": {"enabled": False}})
        tr["schedule"] = {"name": "constant"}
        tr.setdefault("optimizer", {})["name"] = "adam"
        engine_round(raw, min(steps, 20))  # warm-up both paths (allocator, lazy imports)
        raw_round(raw, min(steps, 20))
        eng, ref = [], []
        for i in range(args.rounds):  # alternate which side goes first
            if i % 2 == 0:
                eng.append(engine_round(raw, steps))
                ref.append(raw_round(raw, steps))
            else:
                ref.append(raw_round(raw, steps))
                eng.append(engine_round(raw, steps))
        # medians over the rounds; ratio = median of the per-round ratios (neighbouring rounds see
        # similar machine load). cpu_ratio uses process CPU time, which other processes disturb less.
        e = statistics.median(a[0] for a in eng)
        r = statistics.median(b[0] for b in ref)
        ratio = statistics.median(a[0] / b[0] for a, b in zip(eng, ref))
        ec, rc = statistics.median(a[1] for a in eng), statistics.median(b[1] for b in ref)
        print(f"template={name} ratio={ratio:.3f} engine_steps_s={e:.1f} raw_steps_s={r:.1f} "
              f"cpu_ratio={ec / rc:.3f} engine_steps_cpu_s={ec:.1f} raw_steps_cpu_s={rc:.1f} "
              f"rounds={args.rounds} steps={steps} threads={args.threads}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
