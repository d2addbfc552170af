"""A studio session that crashed for real: a child process begins a session, autosaves, and is killed
with SIGKILL (pytest puts this folder on sys.path)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import json, os, signal, sys
from pathlib import Path
from app.autosave import Session
s = Session(Path(sys.argv[1]))
s.begin()
a = json.loads(sys.argv[2])
s.write_autosave(a["doc"], a["project_path"], run_dir=a["run_dir"], dirty=a["dirty"])
print(json.dumps({"marker": str(s.marker), "autosave": str(s.autosave_path), "pid": os.getpid()}), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def crashed_session(data_dir: Path, doc: dict, project_path: str | None, run_dir: str | None = None,
                    dirty: bool = True, with_pid: bool = False):
    """(marker, autosave[, pid]) of a session whose process was killed."""
    arg = json.dumps({"doc": doc, "project_path": project_path, "run_dir": run_dir, "dirty": dirty})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", _CHILD, str(data_dir), arg], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == -signal.SIGKILL, r.stderr
    info = json.loads(r.stdout.strip().splitlines()[-1])
    out = (Path(info["marker"]), Path(info["autosave"]))
    return (*out, info["pid"]) if with_pid else out
