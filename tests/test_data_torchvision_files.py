"""SVHN and CIFAR-10 end to end on tiny files the tests build: downloaded from a loopback server through
`layerlab data download`, unpacked (a tarball never writes outside the root), inspected and trained one step.

torchvision checks every file against the MD5 of the official one before it reads it (CIFAR batches are
pickles: a file that is not the official one is never unpickled). The test files have their own MD5s, so
the tests put them where torchvision's (and LayerLab's download registry's) expected checksums live, as
the MNIST download test does for the registry."""

from __future__ import annotations

import io
import json
import pickle
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torchvision.datasets as tvd
from loopback import md5, serve

from engine.cli import main
from engine.data import download as dl
from engine.data import open_source
from engine.data.sources import DatasetError
from engine.project import DataSpec

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def one_step_project(tmp_path: Path, dataset: str, root: Path) -> Path:
    nodes = [{"id": "input", "type": "Input", "params": {"shape": [3, 32, 32]}},
             {"id": "flat", "type": "Flatten", "params": {}},
             {"id": "fc", "type": "Linear", "params": {"out_features": 10}}, {"id": "output", "type": "Output", "params": {}}]
    doc = {"format": "layerlab-project", "version": 2, "name": dataset.split(":")[1].lower(),
           "model": {"nodes": nodes, "edges": [["input", "flat"], ["flat", "fc"], ["fc", "output"]]},
           "data": {"dataset": dataset, "path": str(root), "batch_size": 8},
           "train": {"device": "cpu", "epochs": 1, "max_steps": 1}}
    p = tmp_path / "project.json"
    p.write_text(json.dumps(doc))
    return p


def trains_one_step(tmp_path: Path, project: Path) -> None:
    report = tmp_path / "train.json"
    assert main(["train", str(project), "--out", str(tmp_path / "run"), "--quiet", "--report", str(report)]) == 0
    rep = json.loads(report.read_text())
    assert rep["status"] == "completed" and rep["global_step"] == 1


# ---------------------------------------------------------------------------------------------
# SVHN: two .mat files (SciPy)


def svhn_mat(n: int, seed: int) -> bytes:
    import scipy.io

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                           "y": (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)})  # 1..10; 10 is the digit 0
    return buf.getvalue()


@pytest.fixture
def svhn(monkeypatch):
    pytest.importorskip("scipy.io")
    files = {"train_32x32.mat": svhn_mat(40, 0), "test_32x32.mat": svhn_mat(10, 1)}
    for url, _ in serve(files, "svhn"):
        reg = {"SVHN": dl.DatasetFiles("SVHN", (url,), "", tuple(dl.Resource(k, md5(v)) for k, v in files.items()))}
        monkeypatch.setattr(dl, "registry", lambda reg=reg: reg)
        split_list = dict(tvd.SVHN.split_list)
        for split, name in (("train", "train_32x32.mat"), ("test", "test_32x32.mat")):
            split_list[split] = [url + name, name, md5(files[name])]
        monkeypatch.setattr(tvd.SVHN, "split_list", split_list)
        yield url


def test_svhn_downloads_inspects_and_trains(svhn, tmp_path, capsys):
    root = tmp_path / "svhn"
    assert main(["data", "download", "SVHN", "--root", str(root), "--mirror", svhn]) == 0
    assert "2 file(s) ready" in capsys.readouterr().out
    report = tmp_path / "inspect.json"
    assert main(["data", "inspect", "SVHN", "--root", str(root), "--report", str(report)]) == 0
    rep = json.loads(report.read_text())
    assert rep["num_samples"] == 40 and rep["input_shape"] == [3, 32, 32]
    assert rep["classes"] == {str(d): 4 for d in range(10)}  # SVHN's label 10 reads as the digit 0
    src = open_source(DataSpec(dataset="torchvision:SVHN", path=str(root)))
    assert src.sample(0).shape == (3, 32, 32) and src.sample(0).dtype == np.uint8
    trains_one_step(tmp_path, one_step_project(tmp_path, "torchvision:SVHN", root))


def test_svhn_without_scipy_is_one_message_naming_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "scipy", None)  # makes `import scipy.io` fail, as when it is not installed
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(DatasetError, match=r"SciPy, which is not installed: pip install scipy .*\[data\]"):
        open_source(DataSpec(dataset="torchvision:SVHN", path=str(tmp_path)))
    assert main(["data", "inspect", "SVHN", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install scipy" in err[0] and "Traceback" not in err[0]


# ---------------------------------------------------------------------------------------------
# CIFAR-10: one tarball of pickled batches


def cifar_files(per_batch: int = 4) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    out = {}
    for k, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        labels = [(k * per_batch + i) % 10 for i in range(per_batch)]
        out[name] = pickle.dumps({"batch_label": name, "labels": labels, "filenames": [f"{i}.png" for i in labels],
                                  "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)}, protocol=2)
    out["batches.meta"] = pickle.dumps({"label_names": CIFAR_NAMES, "num_cases_per_batch": per_batch,
                                        "num_vis": 3072}, protocol=2)
    return out


def tarball(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


def serve_cifar(monkeypatch, tgz: bytes):
    for url, _ in serve({"cifar-10-python.tar.gz": tgz}, "cifar"):
        reg = {"CIFAR10": dl.DatasetFiles("CIFAR10", (url,), "",
                                          (dl.Resource("cifar-10-python.tar.gz", md5(tgz), "untar"),))}
        monkeypatch.setattr(dl, "registry", lambda reg=reg: reg)
        yield url


@pytest.fixture
def cifar(monkeypatch):
    files = cifar_files()
    monkeypatch.setattr(tvd.CIFAR10, "train_list", [[f"data_batch_{i}", md5(files[f"data_batch_{i}"])]
                                                    for i in range(1, 6)])
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", md5(files["test_batch"])]])
    monkeypatch.setattr(tvd.CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names",
                                              "md5": md5(files["batches.meta"])})
    yield from serve_cifar(monkeypatch, tarball({f"cifar-10-batches-py/{k}": v for k, v in files.items()}))


def test_cifar10_downloads_extracts_inspects_and_trains(cifar, tmp_path, capsys):
    root = tmp_path / "cifar"
    assert main(["data", "download", "CIFAR10", "--root", str(root), "--mirror", cifar]) == 0
    assert "1 file(s) ready" in capsys.readouterr().out
    assert sorted(p.name for p in (root / "cifar-10-batches-py").iterdir()) == sorted(cifar_files())
    report = tmp_path / "inspect.json"
    assert main(["data", "inspect", "CIFAR10", "--root", str(root), "--report", str(report)]) == 0
    rep = json.loads(report.read_text())
    assert rep["num_samples"] == 20 and rep["input_shape"] == [3, 32, 32]  # the 5 training batches
    assert list(rep["classes"]) == CIFAR_NAMES and sum(rep["classes"].values()) == 20
    trains_one_step(tmp_path, one_step_project(tmp_path, "torchvision:CIFAR10", root))


@pytest.mark.parametrize("python_without_the_data_filter", [False, True])
@pytest.mark.parametrize("bad", ["../escaped.txt", "absolute", "link"])
def test_a_tarball_never_writes_outside_the_root(bad, python_without_the_data_filter, tmp_path, monkeypatch):
    if python_without_the_data_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)  # the hand-written check of older Pythons
    outside = [tmp_path / "escaped.txt", tmp_path / "root" / "escaped.txt"]
    members = {"cifar-10-batches-py/readme.txt": b"ok"}
    links = {}
    if bad == "link":
        links["cifar-10-batches-py/data_batch_1"] = "../../escaped.txt"
    elif bad == "absolute":
        members[str(tmp_path / "abs-escaped.txt")] = b"escaped"
        outside.append(tmp_path / "abs-escaped.txt")
    else:
        members[bad] = b"escaped"
    root = tmp_path / "root" / "cifar"
    for url in serve_cifar(monkeypatch, tarball(members, links)):
        try:
            dl.download("CIFAR10", root, mirror=url)
        except dl.DownloadError as exc:
            assert "cannot unpack" in str(exc)
        else:  # tarfile's filter may instead strip the leading "/" of an absolute name: it lands inside the root
            assert bad == "absolute" and not python_without_the_data_filter
            assert list(root.rglob("abs-escaped.txt"))
    for p in outside:
        assert not p.exists(), p
    if bad == "link":  # nothing written through the link either
        (root / "cifar-10-batches-py").mkdir(parents=True, exist_ok=True)
        assert not (root / "cifar-10-batches-py" / "data_batch_1").is_symlink()


class _Planted:
    """Unpickling this touches a marker file: a stand-in for a hostile pickle dropped into the root."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_cifar_batches_that_are_not_the_official_files_are_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    folder = tmp_path / "root" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (folder / name).write_bytes(pickle.dumps(_Planted(marker)))
    with pytest.raises(DatasetError, match="torchvision:CIFAR10: .*corrupted"):
        open_source(DataSpec(dataset="torchvision:CIFAR10", path=str(tmp_path / "root")))  # official MD5s
    assert not marker.exists()
