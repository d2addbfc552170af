"""Atomic saves keep the file's mode (new files follow the umask), write through symlinks, and clean up
the temp files a killed writer leaves; reads take only regular files of bounded size."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.fsutil import (
    FileReadError,
    atomic_open,
    atomic_write_text,
    current_umask,
    read_regular_file,
    remove_stale_temps,
)

posix = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes, FIFOs and signals")
ROOT = Path(__file__).resolve().parents[1]


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@posix
def test_new_file_follows_umask(tmp_path):
    old = os.umask(0o002)
    try:
        assert current_umask() == 0o002
        atomic_write_text(tmp_path / "a.json", "{}")
        assert _mode(tmp_path / "a.json") == 0o664
        os.umask(0o027)
        atomic_write_text(tmp_path / "b.json", "{}")
        assert _mode(tmp_path / "b.json") == 0o640
    finally:
        os.umask(old)


@posix
def test_replacing_a_file_keeps_its_mode(tmp_path):
    p = tmp_path / "p.json"
    p.write_text("old")
    for mode in (0o664, 0o600, 0o644):
        p.chmod(mode)
        atomic_write_text(p, "new")
        assert _mode(p) == mode and p.read_text() == "new"


@posix
def test_saving_onto_a_symlink_writes_its_target(tmp_path):
    real = tmp_path / "real" / "project.json"
    real.parent.mkdir()
    real.write_text("old")
    real.chmod(0o664)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new" and _mode(real) == 0o664
    assert not list(tmp_path.glob(".link.json.*.tmp")) and not list(real.parent.glob(".*.tmp"))


@posix
def test_temp_file_of_a_killed_writer_is_removed_by_the_next_save(tmp_path):
    target = tmp_path / "last.pt"
    code = (
        "import os, signal, sys\n"
        "from engine.fsutil import atomic_open\n"
        "with atomic_open(sys.argv[1]) as fh:\n"
        "    fh.write(b'x' * 1000); fh.flush()\n"
        "    print('writing', flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code, str(target)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == -signal.SIGKILL and "writing" in proc.stdout
    left = list(tmp_path.glob(".last.pt.*.tmp"))
    assert len(left) == 1 and not target.exists()
    atomic_write_text(target, "good")
    assert target.read_text() == "good"
    assert not list(tmp_path.glob(".last.pt.*.tmp"))


@posix
def test_temp_file_of_a_live_writer_is_left_alone(tmp_path):
    target = tmp_path / "f.bin"
    inside, release = threading.Event(), threading.Event()

    def slow_writer():
        with atomic_open(target) as fh:
            fh.write(b"slow")
            inside.set()
            release.wait(10)

    t = threading.Thread(target=slow_writer)
    t.start()
    try:
        assert inside.wait(10)
        assert remove_stale_temps(target) == 0
        assert len(list(tmp_path.glob(".f.bin.*.tmp"))) == 1
    finally:
        release.set()
        t.join(10)
    assert target.read_bytes() == b"slow"


@posix
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "p.json"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    with pytest.raises(FileReadError, match="named pipe"):
        read_regular_file(fifo, 1000, "project file")
    assert time.monotonic() - t0 < 5


@posix
def test_a_device_behind_a_symlink_is_refused(tmp_path):
    link = tmp_path / "p.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(FileReadError, match="device"):
        read_regular_file(link, 1000, "project file")


def test_a_file_over_the_limit_is_refused(tmp_path):
    p = tmp_path / "big.json"
    p.write_bytes(b" " * 2000)
    with pytest.raises(FileReadError, match="at most 1,000 bytes"):
        read_regular_file(p, 1000, "project file")
    assert read_regular_file(p, 2000) == b" " * 2000


@posix
def test_a_dangling_symlink_says_where_it_points(tmp_path):
    link = tmp_path / "p.json"
    link.symlink_to(tmp_path / "gone.json")
    with pytest.raises(OSError, match="gone.json"):
        read_regular_file(link, 1000)
