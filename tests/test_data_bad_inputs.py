"""Bad data inputs exit 2 with a message naming the file (issue 11's data rows): a folder or a FIFO or
/dev/zero where a CSV belongs, a fake .gz, garbage MNIST files, a huge or negative CSV label."""

from __future__ import annotations

import json
import os

import pytest
from helpers import linear_graph

from engine.cli import main
from engine.data.sources import CsvSource


def _project(tmp_path, data, shape=(1, 28, 28), out=10):
    g = linear_graph(out)
    g["nodes"][0]["params"]["shape"] = list(shape)
    doc = {"format": "layerlab-project", "version": 2, "name": "bad", "model": g, "data": data,
           "train": {"device": "cpu", "epochs": 1}}
    p = tmp_path / "p.json"
    p.write_text(json.dumps(doc))
    return str(p)


def _bad(tmp_path, capsys, data, expect):
    assert main(["train", _project(tmp_path, data), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err, err


def test_a_folder_fifo_or_device_where_a_csv_belongs(tmp_path, capsys):
    (tmp_path / "dir.csv").mkdir()
    _bad(tmp_path, capsys, {"dataset": "csv", "path": str(tmp_path / "dir.csv")}, "is not a regular file")
    os.mkfifo(tmp_path / "pipe.csv")
    _bad(tmp_path, capsys, {"dataset": "csv", "path": str(tmp_path / "pipe.csv")}, "is not a regular file")
    os.symlink("/dev/zero", tmp_path / "zero.csv")
    _bad(tmp_path, capsys, {"dataset": "csv", "path": str(tmp_path / "zero.csv")}, "is not a regular file")
    os.symlink(tmp_path / "nowhere.csv", tmp_path / "dangling.csv")
    _bad(tmp_path, capsys, {"dataset": "csv", "path": str(tmp_path / "dangling.csv")}, "does not exist")


def test_a_fake_gz_csv(tmp_path, capsys):
    (tmp_path / "t.csv.gz").write_text("1,2,3\n")
    _bad(tmp_path, capsys, {"dataset": "csv", "path": str(tmp_path / "t.csv.gz")}, "cannot read the CSV")


def test_garbage_mnist_files_name_the_dataset_and_the_fix(tmp_path, capsys):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"garbage!" * 4)
    _bad(tmp_path, capsys, {"dataset": "torchvision:MNIST", "path": str(tmp_path)}, "torchvision:MNIST: the files are not valid MNIST files")


@pytest.mark.parametrize("label", ["1000000000", "-7"])
def test_huge_or_negative_labels_are_just_class_names(tmp_path, label):
    p = tmp_path / "t.csv"
    p.write_text("".join(f"{i},{i + 1},{label if i % 2 else 0}\n" for i in range(8)))
    src = CsvSource(p)
    assert len(src.classes) == 2 and label in src.classes  # two classes, no 10^9-wide one-hot
