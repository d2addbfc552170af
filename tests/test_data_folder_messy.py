"""A messy image folder (built here) scans to the right counts and skip list, converts every image by the
project's rules (not by the first image), and trains: issue 13's folder source and issue 11's folder faults."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from helpers import chain
from PIL import Image

from engine.cli import main
from engine.data import load_bundle, open_source
from engine.data.sources import DatasetError, FolderSource
from engine.project import DataSpec


def _png(path, mode, size, value=128):
    if mode == "I;16":
        a = np.linspace(0, 65535, size[0] * size[1]).reshape(size[1], size[0]).astype(np.uint16)
        Image.fromarray(a).save(path)
        return
    Image.new(mode, size, value if mode in ("L", "P", "1") else (value,) * len(mode)).save(path)


@pytest.fixture
def messy(tmp_path):
    root = tmp_path / "photos"
    cats, dogs = root / "cats", root / "dogs"
    cats.mkdir(parents=True)
    dogs.mkdir()
    (root / "empty").mkdir()
    (root / "README.txt").write_text("not a class")
    # a huge image first in scan order: it must not decide the size (or the memory) of everything
    Image.new("L", (3000, 2000), 9).save(cats / "000_huge.png")
    _png(cats / "rgb.png", "RGB", (40, 30))
    _png(cats / "rgba.png", "RGBA", (32, 32))
    _png(cats / "palette.png", "P", (20, 20))
    Image.new("L", (28, 28), 50).save(cats / "grey.jpg", quality=90)
    Image.new("RGB", (28, 28), (10, 200, 30)).save(cats / "colour.bmp")
    _png(cats / "deep.png", "I;16", (28, 28))
    (cats / "zero.png").write_bytes(b"")
    (cats / "text.png").write_text("this is not a png\n")
    (cats / "corrupt.png").write_bytes(os.urandom(300))
    good = cats / "rgb.png"
    (cats / "truncated.png").write_bytes(good.read_bytes()[:60])
    (cats / ".hidden.png").write_bytes(good.read_bytes())
    (cats / "notes.txt").write_text("x")
    os.mkfifo(cats / "pipe.png")
    os.symlink(cats, cats / "loop")  # a folder symlink back to itself
    os.symlink("selfloop.png", cats / "selfloop.png")  # a file symlink to itself
    os.symlink("/nonexistent/target.png", cats / "dangling.png")
    Image.new("1", (8000, 6000)).save(cats / "bomb.png")  # 48 Mpx declared, a few KB on disk
    for k in range(6):
        _png(dogs / f"d{k}.png", "L", (28, 28) if k else (40, 28), 30 * k)
    return root


def _reasons(src):
    return {os.path.basename(p): r for p, r in src.skipped}


def test_messy_folder_scan_counts_and_skip_list(messy):
    t0 = time.monotonic()
    src = open_source(DataSpec(dataset="folder", path=str(messy)))
    assert time.monotonic() - t0 < 10  # nothing blocks on the FIFO or walks the loop forever
    assert src.classes == ("cats", "dogs")  # the empty class folder is not a class
    # cats: huge, rgb, rgba, palette, grey.jpg, colour.bmp, deep.png, truncated (header is fine)
    assert src.class_counts() == {"cats": 8, "dogs": 6}
    why = _reasons(src)
    assert "empty" in why["empty"] and "README.txt" in why and "class folder" in why["README.txt"]
    assert why["zero.png"] == "empty file (0 bytes)"
    assert "not an image" in why["text.png"] and "not an image" in why["corrupt.png"]
    assert why[".hidden.png"] == "hidden"
    assert why["notes.txt"].startswith("not an image file")
    assert why["pipe.png"] == "not a regular file"
    assert "symlink loop" in why["loop"] and "symlink loop" in why["selfloop.png"]
    assert why["dangling.png"] == "dangling symlink"
    assert "decompression bomb" in why["bomb.png"]
    assert all(os.path.isabs(p) for p, _ in src.skipped)  # every reason comes with its path
    # the default size is the most common one (28x28 here), not the first image's 3000x2000
    assert src.input_shape == (3, 28, 28)


def test_truncated_image_is_skipped_at_decode_with_path_and_reason(messy):
    src = open_source(DataSpec(dataset="folder", path=str(messy)))
    x, kept = src.decode_all()
    assert x.shape == (13, 3, 28, 28) and x.dtype == np.uint8
    why = _reasons(src)
    assert "truncated" in why["truncated.png"] or "cannot decode" in why["truncated.png"]
    assert len(kept) == 13 and src.labels[kept].tolist().count(1) == 6


def test_grey_stays_grey_and_16bit_is_scaled_not_clipped(tmp_path):
    root = tmp_path / "g"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    _png(root / "a" / "deep.png", "I;16", (32, 32))
    _png(root / "a" / "l.png", "L", (32, 32))
    _png(root / "b" / "l.png", "L", (32, 32), 200)
    src = FolderSource(root)
    assert src.input_shape == (1, 32, 32)  # all grey: one channel
    deep = src.sample(src.labels.tolist().index(0))
    assert deep.shape == (1, 32, 32)
    assert (deep == 255).mean() < 0.01 and deep.min() == 0 and deep.max() == 255  # a full, unclipped ramp
    assert abs(float(deep.mean()) - 127.5) < 2
    assert FolderSource(root, channels="rgb").sample(0).shape == (3, 32, 32)


@pytest.mark.parametrize("mode", ["resize", "center_crop", "pad"])
def test_every_image_is_brought_to_the_chosen_size(tmp_path, mode):
    root = tmp_path / "s"
    (root / "x").mkdir(parents=True)
    Image.new("RGB", (60, 20), (255, 255, 255)).save(root / "x" / "wide.png")
    Image.new("RGB", (10, 50), (255, 255, 255)).save(root / "x" / "tall.png")
    src = FolderSource(root, image_size=(16, 16), resize=mode)
    for i in range(len(src)):
        a = src.sample(i)
        assert a.shape == (3, 16, 16)
        if mode == "pad":
            assert a.min() == 0 and a.max() == 255  # letterboxed: white picture, black bars
        else:
            assert a.min() == 255  # stretched or cropped: the picture fills the frame


def test_a_folder_with_nothing_usable_is_a_dataset_error_naming_it(tmp_path):
    root = tmp_path / "bad"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="no usable images"):
        FolderSource(root)
    with pytest.raises(DatasetError, match="is not a folder"):
        FolderSource(root / "a" / "x.png")


def test_excluded_paths_are_left_out_and_listed(messy):
    src = open_source(DataSpec(dataset="folder", path=str(messy), exclude=["dogs/d0.png"]))
    assert src.class_counts()["dogs"] == 5
    assert "data.exclude" in _reasons(src)["d0.png"]


def test_the_messy_folder_trains_and_inspect_reports_it(messy, tmp_path, capsys):
    spec = DataSpec(dataset="folder", path=str(messy), image_size=(12, 12), channels="grey", val_fraction=0.3)
    b = load_bundle(spec)
    assert tuple(b.train_x.shape[1:]) == (1, 12, 12) and len(b.train_x) + len(b.val_x) == 13
    assert any("truncated.png" in p for p, _ in b.skipped)
    g = chain(("input", "Input", {"shape": [1, 12, 12]}), ("flat", "Flatten", {}),
              ("fc", "Linear", {"out_features": 2}), ("output", "Output", {}))
    doc = {"format": "layerlab-project", "version": 1, "name": "messy", "model": g,
           "data": {"dataset": "folder", "path": str(messy), "image_size": [12, 12], "channels": "grey",
                    "batch_size": 4, "val_fraction": 0.3},
           "train": {"device": "cpu", "epochs": 1}}
    (tmp_path / "p.json").write_text(json.dumps(doc))
    assert main(["train", str(tmp_path / "p.json"), "--out", str(tmp_path / "run"), "--quiet",
                 "--report", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["status"] == "completed"


def test_all_different_sizes_take_the_median_not_any_one_image(tmp_path):
    root = tmp_path / "m"
    (root / "x").mkdir(parents=True)
    for k, (w, h) in enumerate([(4000, 3000), (30, 20), (40, 30), (50, 40), (60, 50)]):
        Image.new("L", (w, h)).save(root / "x" / f"{k}.png")
    assert FolderSource(root).input_shape == (1, 40, 50)  # median 50 x 40; the 4000 x 3000 photo decides nothing


def test_a_dataset_too_big_for_memory_is_refused_before_decoding(tmp_path, monkeypatch):
    root = tmp_path / "big"
    (root / "x").mkdir(parents=True)
    for k in range(3):
        Image.new("RGB", (64, 64)).save(root / "x" / f"{k}.png")
    monkeypatch.setenv("LAYERLAB_DATA_MEMORY_GB", "0.01")
    with pytest.raises(DatasetError, match=r"3 samples of 3x2048x2048 need .* GiB.*lower data.image_size"):
        load_bundle(DataSpec(dataset="folder", path=str(root), image_size=(2048, 2048)))


def test_a_link_back_to_the_root_neither_multiplies_nor_relabels(tmp_path):
    root = tmp_path / "r"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for k in range(3):
            Image.new("L", (8, 8), 40 * k).save(root / c / f"{k}.png")
    os.symlink(root, root / "a" / "up")  # a/up/b/... would otherwise be read as class a
    os.symlink(root / "b", root / "a" / "sideways")
    src = FolderSource(root)
    assert src.class_counts() == {"a": 3, "b": 3}
    assert all(src.classes[e.label] == os.path.basename(os.path.dirname(e.path)) for e in src.entries)
    why = _reasons(src)
    assert "symlink loop" in why["up"] and "symlink loop" in why["sideways"]
