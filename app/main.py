"""``layerlab-studio [PROJECT.json] [--screenshot OUT.png [--view train] [--train-steps N]]``.

Starts the studio on a qasync event loop. torch is not imported at start: the runner (and torch)
load when Train is pressed, or in the background after the window is shown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

T0 = time.perf_counter()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="layerlab-studio", description="LayerLab Studio: design, train and inspect models.")
    ap.add_argument("project", nargs="?", help="a LayerLab project (.json) to open")
    ap.add_argument("--template", help="start from this template (mlp, cnn, dcgan, ...) instead of a file")
    ap.add_argument("--screenshot", metavar="OUT.png", help="render the window offscreen, save it, exit")
    ap.add_argument("--view", default="train", choices=["designer", "train"],
                    help="the view to show in the screenshot")
    ap.add_argument("--train-steps", type=int, default=0, metavar="N",
                    help="with --screenshot: train N steps first (waits for the run to finish)")
    ap.add_argument("--data-limit", type=int, default=None, metavar="N", help="with --train-steps: use N samples")
    ap.add_argument("--size", default="1400x900", help="window size for --screenshot (WxH)")
    ap.add_argument("--runner", choices=["thread", "process"], help="where training runs (default: setting)")
    return ap.parse_args(argv)


def make_app(argv: list[str]):
    from PySide6.QtWidgets import QApplication

    from .settings import APP, ORG
    from .style import apply_style

    app = QApplication.instance() or QApplication(argv)
    from widgets.qt_compat import install_none_guard

    install_none_guard()  # PySide6 6.12 + Python 3.11 drops refs to None: see widgets/qt_compat.py
    app.setOrganizationName(ORG)
    app.setApplicationName(APP)
    app.setApplicationDisplayName(APP)
    apply_style(app)
    return app


async def _screenshot(win, args: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QApplication

    w, h = (int(v) for v in args.size.lower().split("x"))
    win.resize(w, h)
    win.tabs.setCurrentWidget(win.designer if args.view == "designer" else win.train_view)
    win.show()
    await asyncio.sleep(0.2)
    if args.view == "designer":
        win.designer.show_for_screenshot()
        await asyncio.sleep(0.3)
    if args.train_steps > 0:
        loop = asyncio.get_event_loop()
        done: asyncio.Future = loop.create_future()
        win.bridge.finished.connect(lambda ev: done.done() or done.set_result(ev))
        if not win.train_view.start(max_steps=args.train_steps, data_limit=args.data_limit):
            print("screenshot: training could not start", file=sys.stderr)
            return 2
        try:
            ev = await asyncio.wait_for(done, timeout=600)
        except asyncio.TimeoutError:
            print("screenshot: training did not finish in 10 minutes", file=sys.stderr)
            return 3
        print(f"screenshot: trained {ev.global_step} steps ({ev.status})")
        await asyncio.sleep(0.3)
    QApplication.processEvents()
    out = Path(args.screenshot)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not win.grab().save(str(out)):
        print(f"screenshot: could not write {out}", file=sys.stderr)
        return 4
    print(f"screenshot: wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from engine.threads import apply_thread_env

    apply_thread_env()  # before torch loads (here or in a training child): passive OpenMP waiting
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.runner:
        os.environ["LAYERLAB_RUNNER"] = args.runner
    import qasync
    from PySide6.QtCore import QTimer

    from .errors import ExceptHook, log, setup_logging
    from .window import MainWindow

    app = make_app(sys.argv[:1])
    setup_logging()
    win = MainWindow(probe_devices=not args.screenshot)
    hook = ExceptHook(win.prompts.error).install()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    loop.set_exception_handler(hook.asyncio_handler)
    if args.template:
        win.new_project(args.template)
    else:
        win.open_initial(args.project)
    code = 0
    with loop:
        if args.screenshot:
            code = loop.run_until_complete(_screenshot(win, args))
            win.shutdown()
        else:
            closing = asyncio.Event()
            app.aboutToQuit.connect(closing.set)
            app.setQuitOnLastWindowClosed(True)
            win.show()
            log.info("window shown %.2f s after start", time.perf_counter() - T0)
            QTimer.singleShot(0, win.check_recovery)
            QTimer.singleShot(1500, win.bridge.prepare)  # a warm runner for the first Train click
            loop.run_until_complete(closing.wait())
            win.shutdown()
    hook.uninstall()
    return code


if __name__ == "__main__":
    sys.exit(main())
