"""DESIGN.md's arrows: engine never imports Qt or the GUI layers; widgets never import app."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_importing_every_engine_module_leaves_qt_out():
    code = (
        "import importlib, pkgutil, sys, engine\n"
        "mods = [m.name for m in pkgutil.walk_packages(engine.__path__, 'engine.')]\n"
        "for m in mods: importlib.import_module(m)\n"
        "bad = [k for k in sys.modules if k.split('.')[0] in ('PySide6', 'pyqtgraph', 'qasync', 'app', 'widgets')]\n"
        "print(len(mods)); assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 10


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_widgets_never_import_app():
    for f in (ROOT / "widgets").rglob("*.py"):
        assert "app" not in _imports(f), f


def test_engine_sources_name_no_gui_package():
    for f in (ROOT / "engine").rglob("*.py"):
        assert not _imports(f) & {"PySide6", "pyqtgraph", "qasync", "app", "widgets"}, f


def test_registry_and_document_load_without_torch():
    code = (
        "import sys, engine.project, engine.layers, engine.templates, engine.cli\n"
        "engine.templates.list_templates()\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr


def test_pkgutil_sees_engine():
    import engine

    assert any(m.name == "project" for m in pkgutil.iter_modules(engine.__path__))
