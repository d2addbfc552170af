"""How smooth is the studio while it trains? Thread runner vs process runner vs headless.

Starts the real window offscreen, trains the ``cnn`` template for a fixed number of steps
(``train.max_steps``) and, with a 10 ms QTimer probe on the Qt thread, records the gaps between
ticks while training. Also trains the same steps headless (``engine.train.api.train_project``).
Prints, per runner mode::

    mode=process p99_frame_ms=... max_frame_ms=... gui_vs_headless=... first_point_s=...

Goals: p99 <= 30 ms, gui_vs_headless >= 0.90 (training speed in the GUI / headless), first point
(Train click -> first plotted point) <= 1.5 s.

    python bench/ui_latency.py [--steps 200] [--modes thread,process]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def headless(steps: int, out: Path, template: str = "cnn") -> float:
    """train_steps_per_s of the same run without any GUI (the child-process runner, like the CLI)."""
    from engine.templates import load_template
    from engine.train.api import train_project

    project = load_template(template)
    project.train.max_steps = steps
    rep = train_project(project, out, runner_mode="process")
    return float(rep["final"]["train_steps_per_s"])


def gui(mode: str, steps: int, template: str = "cnn") -> dict[str, float]:
    import numpy as np
    from PySide6.QtCore import QEventLoop, QTimer

    from app.bridge import RunnerBridge
    from app.main import make_app
    from app.window import MainWindow

    app = make_app(sys.argv[:1])
    bridge = RunnerBridge(mode=mode)
    win = MainWindow(bridge=bridge, autosave_s=0, probe_devices=True)
    win.new_project(template)
    win.resize(1400, 900)
    win.show()
    loop = QEventLoop()
    # let the background probe finish (it imports torch, and for the thread runner pre-imports the
    # training modules) and the warm runner be made, as happens while a user looks at the window
    win.probe.warmed.connect(loop.quit)
    QTimer.singleShot(30_000, loop.quit)
    loop.exec()
    bridge.prepare()
    wait_warm = getattr(bridge._spare, "wait_warm", None)
    if callable(wait_warm):  # a user looks at the window for a few seconds before pressing Train
        wait_warm(60.0)
    ticks: list[float] = []
    measuring = [False]
    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(lambda: measuring[0] and ticks.append(time.perf_counter()))
    probe.start()
    result: dict[str, float] = {}
    done = []
    cpu = {}

    def on_started(_e) -> None:
        measuring[0] = True
        cpu["t0"], cpu["c0"] = time.perf_counter(), time.process_time()
        result["started_s"] = cpu["t0"] - cpu["click"]

    bridge.started.connect(on_started)
    win.train_view.firstPoint.connect(lambda s: result.setdefault("first_point_s", s))

    def finished(ev) -> None:
        measuring[0] = False
        if "t0" in cpu:
            result["gui_cpu"] = (time.process_time() - cpu["c0"]) / max(1e-9, time.perf_counter() - cpu["t0"])
        result["steps_per_s"] = float(ev.final.get("train_steps_per_s", float("nan")))
        result["status"] = ev.status
        done.append(1)
        loop.quit()

    bridge.finished.connect(finished)
    cpu["click"] = time.perf_counter()
    win.train_view.start(max_steps=steps)
    QTimer.singleShot(600_000, loop.quit)
    if not done:
        loop.exec()  # sleeps between events, like the real qasync loop
    probe.stop()
    gaps = np.diff(np.array(ticks)) * 1000.0
    result["p99_frame_ms"] = float(np.percentile(gaps, 99)) if len(gaps) else float("nan")
    result["max_frame_ms"] = float(gaps.max()) if len(gaps) else float("nan")
    result["median_frame_ms"] = float(np.median(gaps)) if len(gaps) else float("nan")
    result["bridge_ticks"] = float(bridge.ticks)
    busy = np.array(bridge.busy_ticks) * 1000.0
    result["handler_p99_ms"] = float(np.percentile(busy, 99)) if len(busy) else float("nan")
    if os.environ.get("BENCH_DEBUG"):
        print("slowest ticks (ms, index):", sorted(((round(v, 1), i) for i, v in enumerate(busy)), reverse=True)[:6],
              "of", len(busy))
    win.shutdown()
    win.close()
    app.processEvents()
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--modes", default="thread,process")
    ap.add_argument("--template", default="cnn")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LAYERLAB_DATA_DIR"] = str(Path(tmp) / "data")
        for i, mode in enumerate(args.modes.split(",")):
            # headless right before each GUI run: the machine's load drifts, so compare neighbours
            base = headless(args.steps, Path(tmp) / f"headless{i}", args.template)
            print(f"headless steps_per_s={base:.2f}", flush=True)
            r = gui(mode.strip(), args.steps, args.template)
            ratio = r["steps_per_s"] / base if base else float("nan")
            print(
                f"template={args.template} mode={mode} p99_frame_ms={r['p99_frame_ms']:.1f} max_frame_ms={r['max_frame_ms']:.1f} "
                f"median_frame_ms={r['median_frame_ms']:.1f} gui_vs_headless={ratio:.2f} "
                f"first_point_s={r.get('first_point_s', float('nan')):.2f} started_s={r.get('started_s', float('nan')):.2f} steps_per_s={r['steps_per_s']:.2f} "
                f"gui_cpu={r.get('gui_cpu', float('nan')):.2f} handler_p99_ms={r['handler_p99_ms']:.1f} status={r['status']}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
