"""Downloading a dataset against a loopback HTTP server (no machine here reaches the internet): progress,
cancel and resume of the partial file, checksum verification, and one clear offline message."""

from __future__ import annotations

import socket

import pytest
from loopback import mnist_server

from engine.cli import main
from engine.data import download as dl
from engine.data import open_source
from engine.data.sources import Cancelled
from engine.project import DataSpec


@pytest.fixture
def server():
    yield from mnist_server()


def test_download_reports_progress_verifies_and_loads(server, tmp_path):
    url, spec, _ = server
    seen = []
    written = dl.download("MNIST", tmp_path, files=spec, progress=seen.append)
    assert len(written) == 4 and all(p.exists() for p in written)
    assert seen and all(p.rate > 0 for p in seen) and seen[-1].done == seen[-1].total
    assert any(p.eta is not None for p in seen)
    src = open_source(DataSpec(dataset="torchvision:MNIST", path=str(tmp_path)))
    assert len(src) == 300 and src.input_shape == (1, 28, 28)
    again = []
    dl.download("MNIST", tmp_path, files=spec, progress=again.append)  # present and correct: not fetched again
    assert again == []


def test_cancel_keeps_the_partial_file_and_the_next_download_resumes_it(server, tmp_path):
    url, spec, handler = server
    calls = {"n": 0}

    def cancel_after_first_chunk():
        calls["n"] += 1
        return calls["n"] > 1

    with pytest.raises(Cancelled):
        dl.download("MNIST", tmp_path, files=spec, cancel=cancel_after_first_chunk)
    part = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz.part"
    have = part.stat().st_size
    assert 0 < have < len(handler.files["train-images-idx3-ubyte.gz"])
    dl.download("MNIST", tmp_path, files=spec)
    assert handler.ranges == [f"bytes={have}-"]  # resumed where it stopped, not fetched again
    assert not part.exists() and (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()


def test_a_checksum_mismatch_deletes_the_file_and_says_so(server, tmp_path):
    url, spec, _ = server
    bad = dl.DatasetFiles("MNIST", spec.mirrors, spec.subdir,
                          (dl.Resource(spec.resources[0].filename, "0" * 32, "gunzip"),))
    with pytest.raises(dl.DownloadError, match="checksum mismatch"):
        dl.download("MNIST", tmp_path, files=bad)
    assert not list((tmp_path / "MNIST" / "raw").glob("*"))


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_offline_is_one_clear_line_and_exit_1(tmp_path, capsys):
    mirror = f"http://127.0.0.1:{_closed_port()}/"
    assert main(["data", "download", "MNIST", "--root", str(tmp_path), "--mirror", mirror, "--timeout", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: could not reach 127.0.0.1")
    assert "put the files (train-images-idx3-ubyte.gz" in err and str(tmp_path) in err and "digits" in err
    assert "Traceback" not in err


def test_cli_download_from_a_mirror(server, tmp_path, monkeypatch, capsys):
    url, spec, _ = server
    monkeypatch.setattr(dl, "registry", lambda: {"MNIST": spec})
    assert main(["data", "download", "MNIST", "--root", str(tmp_path), "--mirror", url]) == 0
    assert "4 file(s) ready" in capsys.readouterr().out
    assert main(["data", "inspect", "MNIST", "--root", str(tmp_path)]) == 0
    assert "300 samples" in capsys.readouterr().out


def test_a_project_on_the_downloaded_files_trains(server, tmp_path):
    import json

    from helpers import linear_graph

    url, spec, _ = server
    dl.download("MNIST", tmp_path / "root", files=spec)
    doc = {"format": "layerlab-project", "version": 2, "name": "mnist", "model": linear_graph(10),
           "data": {"dataset": "torchvision:MNIST", "path": str(tmp_path / "root"), "batch_size": 32},
           "train": {"device": "cpu", "epochs": 1}}
    (tmp_path / "p.json").write_text(json.dumps(doc))
    assert main(["train", str(tmp_path / "p.json"), "--out", str(tmp_path / "run"), "--quiet",
                 "--report", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["status"] == "completed"
