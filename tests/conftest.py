"""Test config: Qt renders offscreen; torch uses one thread per xdist worker (2 cores, 2 workers)."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# training picks its thread count from the free cores (engine/threads.py); tests that compare runs bit for
# bit need the same count in every run, whatever else the machine is doing
os.environ.setdefault("LAYERLAB_TORCH_THREADS", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    torch.set_num_threads(1)
    yield


@pytest.fixture
def tmp_home(tmp_path, monkeypatch):
    """An isolated user data/config dir (QSettings, autosave, logs) for app tests."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("LAYERLAB_DATA_DIR", str(tmp_path / "data" / "LayerLab"))
    return tmp_path


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.slow`` tests (long variants of quick ones) run with ``LAYERLAB_SLOW=1`` or ``-m slow``,
    so ``make test`` stays within its budget."""
    if os.environ.get("LAYERLAB_SLOW") or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="long variant: set LAYERLAB_SLOW=1 (or -m slow) to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
