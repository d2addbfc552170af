"""The audit finds planted exact and near copies, cross-class copies, train/validation leaks, unreadable,
blank and odd images, and imbalance; on clean data it stays quiet."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.data import open_source
from engine.data.audit import audit_source
from engine.project import DataSpec


def _pattern(rng, size=40):
    # smooth random blobs: distinct images that still survive JPEG and resizing like photos do
    small = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.BICUBIC)


def _clean(root, per_class=15, classes=("a", "b", "c"), seed=0):
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            _pattern(rng).save(root / c / f"{k:03d}.png")
    return root


def test_clean_data_gives_no_findings(tmp_path):
    src = open_source(DataSpec(dataset="folder", path=str(_clean(tmp_path / "d"))))
    rep = audit_source(src, DataSpec(dataset="folder", path=str(tmp_path / "d")))
    assert rep.findings == []


@pytest.fixture
def planted(tmp_path):
    root = _clean(tmp_path / "d")
    a, b = root / "a", root / "b"
    (a / "000_copy.png").write_bytes((a / "000.png").read_bytes())  # exact copy, same class
    img = Image.open(a / "001.png").convert("RGB")
    img.resize((36, 36)).save(a / "001_near.jpg", quality=80)  # near copy: resized + JPEG
    (b / "from_a_002.png").write_bytes((a / "002.png").read_bytes())  # the same picture labelled b
    for k in range(6):  # six copies in one class: the split puts some on each side
        (a / f"leak{k}.png").write_bytes((a / "003.png").read_bytes())
    Image.new("RGB", (40, 40), (128, 128, 128)).save(a / "blank.png")
    (a / "broken.png").write_bytes((a / "004.png").read_bytes()[:80])  # truncated: header fine, pixels not
    _pattern(np.random.default_rng(9)).resize((10, 40)).save(b / "thin.png")
    return root


def _kinds(rep):
    out = {}
    for f in rep.findings:
        out.setdefault(f.kind, []).append(f)
    return out


def test_planted_problems_are_all_found(planted):
    spec = DataSpec(dataset="folder", path=str(planted), val_fraction=0.3)
    src = open_source(spec)
    rep = audit_source(src, spec)
    k = _kinds(rep)
    names = lambda f: {os.path.basename(p) for p in f.files}  # noqa: E731
    assert any(names(f) == {"000.png", "000_copy.png"} for f in k["duplicate"])
    assert any(names(f) == {"001.png", "001_near.jpg"} for f in k["near_duplicate"])
    cross = k["cross_class"]
    assert len(cross) == 1 and names(cross[0]) == {"002.png", "from_a_002.png"} and "'a', 'b'" in cross[0].message
    leak = [f for f in k["split_leak"] if "leak0.png" in names(f)]
    assert len(leak) == 1 and len(leak[0].files) == 7
    assert 0 < len(leak[0].action_files) < 7 and leak[0].action == "exclude"  # excludes only the validation copies
    assert names(k["blank"][0]) == {"blank.png"}
    assert any("broken.png" in names(f) for f in k["unreadable"])
    assert any("thin.png" in names(f) for f in k["odd_size"])
    # nothing else: every other image is distinct
    flagged = set().union(*(names(f) for f in rep.findings))
    assert flagged <= {"000.png", "000_copy.png", "001.png", "001_near.jpg", "002.png", "from_a_002.png", "003.png",
                       "blank.png", "broken.png", "thin.png"} | {f"leak{i}.png" for i in range(6)}


def test_imbalance_is_called_out(tmp_path):
    root = _clean(tmp_path / "d", per_class=4, classes=("few",))
    _clean(root, per_class=20, classes=("many",), seed=1)
    rep = audit_source(open_source(DataSpec(dataset="folder", path=str(root))))
    imb = _kinds(rep)["imbalance"]
    assert len(imb) == 1 and "'many' has 20" in imb[0].message and "'few' only 4" in imb[0].message


def test_cli_audit_writes_findings_with_kind_files_message(planted, tmp_path, capsys):
    rep = tmp_path / "audit.json"
    assert main(["data", "audit", str(planted), "--report", str(rep), "--val-fraction", "0.3"]) == 0
    r = json.loads(rep.read_text())
    assert r["num_samples"] > 40 and r["findings"]
    for f in r["findings"]:
        assert set(f) >= {"kind", "files", "message"} and isinstance(f["files"], list)
    assert {"duplicate", "near_duplicate", "cross_class", "split_leak", "blank", "unreadable"} <= set(r["summary"])
    assert "[cross_class]" in capsys.readouterr().out


def test_left_out_files_are_named_for_why_excluded_skipped_or_unreadable(tmp_path):
    root = _clean(tmp_path / "d")
    (root / "a" / ".DS_Store").write_bytes(b"\0mac")
    (root / "a" / "notes.txt").write_text("not a sample")
    (root / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    spec = DataSpec(dataset="folder", path=str(root), exclude=["c/000.png"])
    rep = audit_source(open_source(spec), spec)
    kind_of = {f: x.kind for x in rep.findings for f in x.files}
    assert kind_of[str(root / "c" / "000.png")] == "excluded"
    assert kind_of[str(root / "a" / ".DS_Store")] == "skipped"
    assert kind_of[str(root / "a" / "notes.txt")] == "skipped"
    assert kind_of[str(root / "b" / "broken.png")] == "unreadable"
