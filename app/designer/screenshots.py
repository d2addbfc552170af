"""The Designer's README pictures: ``python -m app.designer.screenshots [--out docs]``.

- screenshot-designer.png        the cnn template in the designer, a layer selected in the inspector
- screenshot-designer-badge.png  a Linear fed a feature map: its red badge and the one-click fix menu
- screenshot-designer-block.png  a residual block used three times (collapsed Block nodes)
- screenshot-designer-block-inside.png  one of them opened: its inner graph, the breadcrumb back out

Rendered offscreen in a fresh data dir; popups (the fix menu) are painted onto the window grab.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _settle(app, n: int = 30) -> None:
    import time

    for _ in range(n):
        app.processEvents()
        time.sleep(0.01)


def _wait_code(app, d, timeout_s: float = 60.0) -> None:
    """The code view fills from a worker thread (its first run imports torch)."""
    import time

    t0 = time.monotonic()
    d.refresh_code()
    while "class " not in d.code_view.source() and time.monotonic() - t0 < timeout_s:
        _settle(app, 5)


def _window(app, size=(1400, 900)):
    from app.window import MainWindow

    win = MainWindow(probe_devices=False, autosave_s=0)
    win.resize(*size)
    win.project_dock.hide()  # the designer's own picture; the project panel has its own
    win.show()
    return win


def residual_project() -> dict:
    nodes = [("input", "Input", {"shape": [1, 28, 28]}), ("stem", "Conv2d", {"out_channels": 16, "padding": 1}),
             ("conv_a", "Conv2d", {"out_channels": 16, "padding": 1}), ("relu_a", "ReLU", {}),
             ("conv_b", "Conv2d", {"out_channels": 16, "padding": 1}), ("add", "Add", {}), ("relu", "ReLU", {}),
             ("pool", "MaxPool2d", {"kernel_size": 2}), ("flat", "Flatten", {}), ("fc", "Linear", {"out_features": 10}),
             ("output", "Output", {})]
    edges = [["input", "stem"], ["stem", "conv_a"], ["conv_a", "relu_a"], ["relu_a", "conv_b"], ["conv_b", "add", 0],
             ["stem", "add", 1], ["add", "relu"], ["relu", "pool"], ["pool", "flat"], ["flat", "fc"], ["fc", "output"]]
    return {"format": "layerlab-project", "version": 2, "name": "Residual digits",
            "model": {"nodes": [{"id": i, "type": t, "params": p} for i, t, p in nodes], "edges": edges},
            "train": {"epochs": 3}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "docs"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="layerlab-shots-")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["LAYERLAB_DATA_DIR"] = tmp
    os.environ["XDG_CONFIG_HOME"] = tmp

    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QPainter

    from app.main import make_app
    from engine.edits import GroupIntoBlock, PasteFragment, fragment_of
    from engine.project import parse_project
    from engine.templates import load_template

    app = make_app(sys.argv[:1])

    # 1. a real graph, a layer in the inspector
    win = _window(app)
    win.doc.replace(load_template("cnn"), None)
    d = win.designer
    _settle(app)
    d.current_scene().select_nodes(["conv2"])
    d.current_view().fit(readable=True)
    d.current_view().centerOn(d.current_scene().nodes["conv2"])
    _wait_code(app, d)
    _settle(app, 30)
    win.grab().save(str(out / "screenshot-designer.png"))

    # 2. a badge and its fix: Linear straight after a pooling layer
    project = load_template("cnn")
    g = project.model
    keep = [n for n in g.nodes if n.id != "flatten"]
    raw = project.to_dict()
    raw["model"]["nodes"] = [n.model_dump(mode="json", exclude_none=True) for n in keep]
    raw["model"]["edges"] = [e for e in raw["model"]["edges"] if "flatten" not in (e["src"], e["dst"])] + [
        {"src": "pool2", "dst": "fc1", "port": 0}]
    win.doc.replace(parse_project(raw), None)
    _settle(app)
    scene, view = d.current_scene(), d.current_view()
    page = d.current_page()
    page.overview.setVisible(False)
    page.overview.main = None  # keep it hidden for this picture
    view.centerOn(scene.nodes["fc1"].sceneBoundingRect().center() + QPointF(160, 0))
    _settle(app)
    badge = scene.nodes["fc1"].badge
    local = view.viewport().mapTo(win, view.mapFromScene(badge.scenePos()))
    scene.badge_clicked(badge, view.viewport().mapToGlobal(view.mapFromScene(badge.scenePos())))
    _wait_code(app, d)
    _settle(app)
    pix = win.grab()
    menu = scene.fix_menu
    p = QPainter(pix)
    p.drawPixmap(local + QPoint(8, 8), menu.grab())
    p.end()
    pix.save(str(out / "screenshot-designer-badge.png"))
    menu.close()

    # 3. a residual block, grouped, used three times, one opened
    win.doc.replace(parse_project(residual_project()), None)
    _settle(app)
    win.doc.apply(GroupIntoBlock("model", ["conv_a", "relu_a", "conv_b", "add"], "resblock"), "Group")
    frag = fragment_of(win.doc.project, "model", ["block1"])
    ids = [win.doc.apply(PasteFragment("model", frag, (0, 0)), "Paste")[0] for _ in range(2)]
    from engine.edits import Connect, Disconnect

    win.doc.apply([Disconnect("model", "block1", "relu", 0), Connect("model", "block1", ids[0]),
                   Connect("model", ids[0], ids[1]), Connect("model", ids[1], "relu")], "Chain the blocks")
    d.auto_layout("TB", wait=True)
    _settle(app)
    d.current_scene().select_nodes([ids[0]])
    d.current_view().fit(readable=True)
    _wait_code(app, d)
    _settle(app, 40)
    win.grab().save(str(out / "screenshot-designer-block.png"))
    d.open_node("model", ids[0])
    d.current_scene().select_nodes(["conv_a"])
    _wait_code(app, d)
    _settle(app, 60)
    win.grab().save(str(out / "screenshot-designer-block-inside.png"))
    win.shutdown()
    print(f"wrote 4 designer screenshots to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
