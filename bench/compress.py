"""Compress & Export, measured: every flow issue 12 names, on the `cnn` and `mlp` templates, one table.

Trains the `cnn` and `mlp` templates on the bundled digits through the engine (one torch thread), or
reuses them from ``--runs DIR``, then runs each flow through the same engine functions the CLI verbs
use (``quantize_run``, ``prune_run``, ``distill_run``, ``export_run``, ``Comparison``):

- static int8 cnn, dynamic int8 mlp (ONNX Runtime), fp16 / bf16 weights (torch)
- global unstructured 80% + 1 fine-tuning epoch, structured 50% + 1 epoch (cnn)
- ONNX export (verified in onnxruntime on raw 0-255 pixels)
- distillation: a student half the teacher's size, distilled, beside the same student from scratch
  for the same epochs, over several seeds (mean, spread and every seed's figure), for each protocol
  STUDENT:EPOCHS:AUGMENT (augment ``teacher``: the teacher's data settings; ``shift``: the student's
  and its baseline's images also shifted / scaled / rotated, the teacher scoring the same views)

Latency ratios: each variant is timed ALTERNATELY with the float model in the variant's own runtime
(ONNX variants against the float ONNX model in onnxruntime, torch variants against the float torch
model), medians after warm-up, one thread; ``--rounds`` such paired measurements give the median and
the range of the ratio. The load average is printed at the start, after each section and at the
end: figures taken under load are noisy (ratios less than milliseconds).

    PYTHONPATH=. LAYERLAB_TORCH_THREADS=1 .venv/bin/python bench/compress.py [--runs DIR] [--quick]
        [--rounds 7] [--seeds 0,1,2] [--json OUT.json]

``--quick``: a smoke run (600 images, 1 epoch, 1 seed, few repeats); its goals are not meaningful.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LAYERLAB_TORCH_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from engine.compress.compare import Comparison, load_variant  # noqa: E402
from engine.compress.distill import distill_run  # noqa: E402
from engine.compress.prune import prune_run  # noqa: E402
from engine.compress.quantize import quantize_run  # noqa: E402
from engine.export import export_run  # noqa: E402
from engine.project import Project, load_project  # noqa: E402
from engine.runs import open_run  # noqa: E402
from engine.templates import load_template  # noqa: E402
from engine.train.api import train_project  # noqa: E402

# distillation protocols (STUDENT:EPOCHS:AUGMENT): the cnn-half student for the cnn template's 3 epochs
# with the teacher's data settings and with shifted images, and the mlp-256 student for the mlp
# template's 12 epochs
DEFAULT_PROTOCOLS = "cnn-half:3:teacher,cnn-half:3:shift,mlp-256:12:teacher"
# distillation students, each about half its teacher's parameters
STUDENTS = {
    # the cnn template at half the channels (conv 16/32): 207,018 parameters against 421,834
    "cnn-half": ("cnn", lambda: _cnn_half()),
    # a one-hidden-layer MLP (784-256-10): 203,530 parameters against the cnn's 421,834
    "mlp-256": ("cnn", lambda: _mlp_256()),
}


def load() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.2f} / {b:.2f} / {c:.2f}"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _cnn_half() -> Project:
    p = load_template("cnn")
    p.name = "cnn-half student"
    p.model.node("conv1").params["out_channels"] = 16
    p.model.node("conv2").params["out_channels"] = 32
    return p


def _mlp_256() -> Project:
    t = load_template("cnn")  # the teacher's training settings (optimizer, schedule); epochs set per protocol
    nodes = [("input", "Input", {"shape": [1, 28, 28]}), ("flatten", "Flatten", {}),
             ("fc1", "Linear", {"out_features": 256}), ("relu1", "ReLU", {}), ("drop1", "Dropout", {"p": 0.3}),
             ("fc2", "Linear", {"out_features": 10}), ("output", "Output", {})]
    graph = {"nodes": [{"id": i, "type": k, "params": p} for i, k, p in nodes],
             "edges": [[a[0], b[0]] for a, b in zip(nodes, nodes[1:])]}
    return Project.model_validate({"name": "mlp-256 student", "data": t.data.model_dump(mode="json"),
                                   "model": graph, "train": t.train.model_dump(mode="json")})


def teacher(runs: Path, name: str, quick: bool) -> Any:
    """The template trained on the digits (cached in ``runs``)."""
    d = runs / (f"{name}-quick" if quick else name)
    if not (d / "model.pt").is_file():
        p = load_template(name)
        p.train.threads = 1
        p.train.device = "cpu"
        if quick:
            p.data.limit = 600
            p.train.epochs = 1
        log(f"training the {name} template into {d} ...")
        t0 = time.perf_counter()
        rep = train_project(p, d)
        if rep["status"] != "completed":
            raise SystemExit(f"training {name} failed: {rep.get('error')}")
        log(f"  {time.perf_counter() - t0:.0f} s")
    return open_run(d)


def ratio_rounds(c: Comparison, variant: Any, rounds: int) -> dict[str, Any]:
    """``rounds`` rows of one variant (each timed alternately with its float twin): ratios and the last row."""
    r1, r64, rows = [], [], []
    for _ in range(rounds):
        row = c.row(variant)
        rows.append(row)
        r1.append(row.latency_ms_b1 / row.float_latency_ms_b1)
        r64.append(row.latency_ms_b64 / row.float_latency_ms_b64)
    last = rows[-1]
    return {"row": last.to_json(), "b1": _dist(r1), "b64": _dist(r64),
            "ms_b64": statistics.median(r.latency_ms_b64 for r in rows),
            "float_ms_b64": statistics.median(r.float_latency_ms_b64 for r in rows),
            "ms_b1": statistics.median(r.latency_ms_b1 for r in rows),
            "float_ms_b1": statistics.median(r.float_latency_ms_b1 for r in rows)}


def _dist(v: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "all": v}


def _fmt_dist(d: dict[str, Any] | None) -> str:
    if not d:
        return "-"
    return f"{d['median']:.2f}x [{d['min']:.2f}-{d['max']:.2f}]"


def measure(run: Any, paths: dict[str, str], rounds: int, repeats: tuple[int, int]) -> dict[str, Any]:
    """Per variant: size, accuracy (drop), latency ratios against the float twin; the original first."""
    out: dict[str, Any] = {}
    with Comparison(run, repeats_b1=repeats[0], repeats_b64=repeats[1]) as c:
        base = c.row(c.original).to_json()
        out["original"] = {"row": base}
        for name, path in paths.items():
            v = load_variant(run, path, name)
            m = ratio_rounds(c, v, rounds)
            row = m["row"]
            m["size_ratio"] = base["size_bytes"] / row["size_bytes"]
            m["drop_pt"] = 100 * (base["val_accuracy"] - row["val_accuracy"])
            out[name] = m
            log(f"  measured {name}: b64 {_fmt_dist(m['b64'])} (load {load()})")
    return out


def goal(name: str, m: dict[str, Any], structured_ok: bool | None = None) -> tuple[str, bool | None]:
    s, d, b64 = m["size_ratio"], m["drop_pt"], m["b64"]["median"]
    if name == "cnn static int8":
        return "size >= 3.5x, drop <= 0.5 pt, b64 <= 0.7x", s >= 3.5 and d <= 0.5 and b64 <= 0.7
    if name == "mlp dynamic int8":
        return "size >= 3.5x, drop <= 0.5 pt", s >= 3.5 and d <= 0.5
    if name == "cnn global 80% + ft":
        return "drop <= 1 pt", d <= 1.0
    if name == "cnn structured 50% + ft":
        return ("b64 <= 0.6x, drop <= 1 pt, opens and trains",
                b64 <= 0.6 and d <= 1.0 and bool(structured_ok))
    return "", None


def structured_project_trains(folder: Path, work: Path) -> bool:
    """The smaller project opens (loads, compiles with no errors) and trains a few steps."""
    from engine.graph import analyze_project

    p = load_project(folder / "project.json")
    if not all(r.ok for r in analyze_project(p).values()):
        return False
    p.train.max_steps, p.train.epochs, p.train.threads = 3, 1, 1
    return train_project(p, work / "structured-retrain")["status"] == "completed"


def run_distill(teacher_run: Any, student: str, epochs: int, seeds: list[int], work: Path, temperature: float,
                alpha: float, augment: str) -> dict[str, Any]:
    res: dict[str, Any] = {"student": student, "epochs": epochs, "temperature": temperature, "alpha": alpha,
                           "augment": augment, "seeds": seeds, "distilled": [], "scratch": [],
                           "distilled_loss": [], "scratch_loss": []}
    for seed in seeds:
        sp = STUDENTS[student][1]()
        sp.train.seed = seed
        sp.train.threads = 1
        sp.train.device = "cpu"
        out = work / f"distill-{student}-e{epochs}-{augment}-s{seed}"
        t0 = time.perf_counter()
        rep = distill_run(teacher_run, sp, out, epochs=epochs, temperature=temperature, alpha=alpha, baseline=True,
                          augment=augment)
        res["distilled"].append(rep["distilled"]["val_accuracy"])
        res["scratch"].append(rep["scratch"]["val_accuracy"])
        res["distilled_loss"].append(rep["distilled"]["val_loss"])
        res["scratch_loss"].append(rep["scratch"]["val_loss"])
        res["student_params"], res["teacher_params"] = rep["student_params"], rep["teacher_params"]
        log(f"  {student} seed {seed}: distilled {rep['distilled']['val_accuracy']:.2%}, scratch "
            f"{rep['scratch']['val_accuracy']:.2%} ({time.perf_counter() - t0:.0f} s, load {load()})")
    return res


def _ms(v: list[float]) -> str:
    m = statistics.mean(v)
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{100 * m:.2f} ± {100 * sd:.2f}%"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, help="cache folder for the trained templates (default: a temporary one)")
    ap.add_argument("--quick", action="store_true", help="a short smoke run (goals not meaningful)")
    ap.add_argument("--rounds", type=int, help="paired latency measurements per variant (default 7; quick 1)")
    ap.add_argument("--seeds", help="distillation seeds (default 0,1,2; quick 0)")
    ap.add_argument("--students", default=DEFAULT_PROTOCOLS,
                    help=f"distillation protocols STUDENT:EPOCHS:AUGMENT (default {DEFAULT_PROTOCOLS})")
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--alpha", type=float, default=0.7)
    ap.add_argument("--no-distill", action="store_true", help="skip the distillation (the longest part)")
    ap.add_argument("--json", type=Path, help="write every figure here")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    rounds = a.rounds or (1 if a.quick else 7)
    repeats = (10, 4) if a.quick else (60, 20)
    seeds = [int(s) for s in (a.seeds or ("0" if a.quick else "0,1,2")).split(",")]
    protocols = []
    for spec in filter(None, a.students.split(",")):
        s, ep, aug = (spec.split(":") + ["3", "teacher"][len(spec.split(":")) - 1:])[:3]
        if s not in STUDENTS or aug not in ("teacher", "shift"):
            raise SystemExit(f"--students: {spec!r}: give STUDENT:EPOCHS:AUGMENT with STUDENT one of "
                             f"{', '.join(STUDENTS)} and AUGMENT teacher or shift")
        protocols.append((s, 1 if a.quick else int(ep), aug))
    import onnxruntime

    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    head = (f"bench/compress.py{' --quick' if a.quick else ''}: {started}; load average at start {load()}; "
            f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); torch {torch.__version__}, "
            f"onnxruntime {onnxruntime.__version__}; 1 thread; {rounds} paired latency rounds per variant")
    log(head)
    report: dict[str, Any] = {"started": started, "load_start": os.getloadavg(), "quick": a.quick, "rounds": rounds}
    tmp = tempfile.TemporaryDirectory(prefix="layerlab-bench-compress-")
    runs = a.runs or Path(tmp.name) / "runs"
    work = Path(tmp.name) / "work"
    work.mkdir(parents=True)
    try:
        cnn, mlp = teacher(runs, "cnn", a.quick), teacher(runs, "mlp", a.quick)
        report["load_after_training"] = os.getloadavg()
        # -- the flows
        log(f"quantizing and pruning (load {load()}) ...")
        cnn_paths = {
            "cnn static int8": quantize_run(cnn, "static-int8", work / "cnn_int8.onnx")["path"],
            "cnn fp16 weights": quantize_run(cnn, "fp16", work / "cnn_fp16.pt")["path"],
            "cnn bf16 weights": quantize_run(cnn, "bf16", work / "cnn_bf16.pt")["path"],
        }
        prune_run(cnn, "global", 0.8, work / "cnn_global80", finetune_epochs=1)
        cnn_paths["cnn global 80% + ft"] = str(work / "cnn_global80")
        prune_run(cnn, "structured", 0.5, work / "cnn_structured50", finetune_epochs=1)
        cnn_paths["cnn structured 50% + ft"] = str(work / "cnn_structured50")
        exp = export_run(cnn, "onnx", work / "cnn.onnx")[0]
        cnn_paths["cnn -> ONNX"] = exp.path
        mlp_paths = {"mlp dynamic int8": quantize_run(mlp, "dynamic-int8", work / "mlp_int8.onnx")["path"]}
        structured_ok = structured_project_trains(work / "cnn_structured50", work)
        log(f"measuring (load {load()}) ...")
        figures = measure(cnn, cnn_paths, rounds, repeats)
        mlp_figures = measure(mlp, mlp_paths, rounds, repeats)
        figures["mlp original"] = mlp_figures.pop("original")
        figures.update(mlp_figures)
        report["load_after_measuring"] = os.getloadavg()
        report["flows"] = figures
        report["export_verification"] = exp.verification
        # -- distillation
        distill = []
        for student, epochs, aug in [] if a.no_distill else protocols:
            log(f"distilling into {student} for {epochs} epochs, augment {aug}, over seeds {seeds} (load {load()}) ...")
            distill.append(run_distill(cnn, student, epochs, seeds, work, a.temperature, a.alpha, aug))
        report["distillation"] = distill
        report["load_end"] = os.getloadavg()
    finally:
        tmp.cleanup()

    # -- the table
    orig = figures["original"]["row"]
    print(head)
    print(f"teachers: cnn {orig['val_accuracy']:.2%} ({orig['params']:,} parameters, {orig['size_bytes'] / 1024:.0f} KiB), "
          f"mlp {figures['mlp original']['row']['val_accuracy']:.2%} "
          f"({figures['mlp original']['row']['size_bytes'] / 1024:.0f} KiB); {cnn.bundle().val_x.shape[0]} "
          "validation images")
    print()
    hdr = (f"{'flow':<24} {'runtime':<11} {'size KiB':>8} {'smaller':>7} {'val acc':>7} {'drop pt':>7} "
           f"{'b1 vs float':>19} {'b64 vs float':>19} {'b64 ms (float)':>15}  goal -> met")
    print(hdr)
    print("-" * len(hdr))
    for name, m in figures.items():
        if name in ("original", "mlp original"):
            continue
        row = m["row"]
        text, ok = goal(name, m, structured_ok)
        verdict = "" if ok is None else (" -> met" if ok else " -> NOT MET")
        if name == "cnn -> ONNX":
            v = report["export_verification"]
            text, ok = "max abs diff <= 1e-4, accuracy = LayerLab's", (
                v["max_abs_diff"] <= 1e-4 and v["accuracy"] == v["reference_accuracy"])
            verdict = (f" (max abs diff {v['max_abs_diff']:.1e}; raw 0-255 pixels of {v['n']} validation images: "
                       f"{v['accuracy']:.2%}, PyTorch {v['reference_accuracy']:.2%})") + (" -> met" if ok else " -> NOT MET")
        print(f"{name:<24} {row['runtime']:<11} {row['size_bytes'] / 1024:>8.1f} {m['size_ratio']:>6.2f}x "
              f"{100 * row['val_accuracy']:>6.2f}% {m['drop_pt']:>7.2f} {_fmt_dist(m['b1']):>19} "
              f"{_fmt_dist(m['b64']):>19} {m['ms_b64']:>6.2f} ({m['float_ms_b64']:>5.2f})  {text}{verdict}")
        if row.get("note"):
            print(f"{'':<24} note: {row['note']}")
    print()
    for d in distill:
        gap = statistics.mean(d["distilled"]) - statistics.mean(d["scratch"])
        wins = sum(x > y for x, y in zip(d["distilled"], d["scratch"]))
        ties = sum(x == y for x, y in zip(d["distilled"], d["scratch"]))
        print(f"distillation: {d['student']} ({d['student_params']:,} parameters, "
              f"{d['student_params'] / d['teacher_params']:.0%} of the teacher's {d['teacher_params']:,}), "
              f"{d['epochs']} epochs, augment {d['augment']}, T={d['temperature']:g}, alpha={d['alpha']:g}, "
              f"seeds {d['seeds']}")
        print(f"  distilled    {_ms(d['distilled'])}  [{', '.join(f'{100 * v:.1f}' for v in d['distilled'])}]  "
              f"val loss {statistics.mean(d['distilled_loss']):.4f}")
        print(f"  from scratch {_ms(d['scratch'])}  [{', '.join(f'{100 * v:.1f}' for v in d['scratch'])}]  "
              f"val loss {statistics.mean(d['scratch_loss']):.4f}")
        print(f"  goal: distilled beats the same student from scratch -> {'met' if gap > 0 else 'NOT MET'} "
              f"(mean {100 * gap:+.2f} pt; better in {wins} of {len(d['seeds'])} seeds, tied in {ties})")
    print()
    print(f"load average: start {report['load_start'][0]:.2f}, after measuring "
          f"{report['load_after_measuring'][0]:.2f}, end {report['load_end'][0]:.2f} (1-minute)")
    if a.quick:
        print("(--quick: a smoke run on 600 images and 1 epoch; the goals above are not meaningful)")
    if a.json:
        a.json.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
