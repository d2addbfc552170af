"""Regenerate the README screenshots: ``python -m app.screenshots`` (``make screenshots``).

- docs/screenshot-train-cnn.png        the Train view after ~150 steps of the cnn template
- docs/screenshot-train-gan.png        the Train view after some DCGAN steps (when that template exists)
- docs/screenshot-template-picker.png  the New-project template picker

Each Train shot runs ``layerlab-studio --template NAME --screenshot OUT --train-steps N`` in a
fresh process with its own data dir, so the user's settings and recent files are untouched.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SHOTS = [  # (template, output, train steps, data limit: shorter epochs show more epoch points)
    ("cnn", "screenshot-train-cnn.png", 150, 2000),
    ("dcgan", "screenshot-train-gan.png", 400, None),
]


def shoot_window(template: str, out: Path, steps: int, limit: int | None, env: dict[str, str]) -> bool:
    cmd = [sys.executable, "-m", "app.main", "--template", template, "--screenshot", str(out),
           "--train-steps", str(steps)]
    if limit:
        cmd += ["--data-limit", str(limit)]
    print("+", " ".join(cmd[1:]), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode == 0


def shoot_picker(out: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from .main import make_app
    from .template_picker import TemplatePicker

    make_app(sys.argv[:1])
    dlg = TemplatePicker()
    dlg.select("cnn")
    dlg.show()
    for _ in range(5):
        QApplication.processEvents()
    dlg.grab().save(str(out))
    print(f"screenshot: wrote {out}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(DOCS), help="folder for the PNGs (default: docs/)")
    ap.add_argument("--only", help="comma-separated subset: cnn,gan,picker")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(",")) if args.only else {"cnn", "gan", "picker"}
    from engine.templates import list_templates

    have = {t.name for t in list_templates()}
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, LAYERLAB_DATA_DIR=str(Path(tmp) / "data"), QT_QPA_PLATFORM="offscreen")
        os.environ["LAYERLAB_DATA_DIR"] = env["LAYERLAB_DATA_DIR"]
        for template, name, steps, limit in SHOTS:
            key = "gan" if "gan" in template else template
            if key not in only:
                continue
            if template not in have:
                print(f"skip {name}: no {template!r} template yet")
                continue
            failed += not shoot_window(template, out / name, steps, limit, env)
        if "picker" in only:
            shoot_picker(out / "screenshot-template-picker.png")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
