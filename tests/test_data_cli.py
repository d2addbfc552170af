"""`layerlab data inspect` (and `audit`): counts, shapes, skipped files with reasons, the JSON report, and the
exit codes (0 even with skips, 2 when nothing usable was found)."""

from __future__ import annotations

import json
import os

from PIL import Image

from engine.cli import main


def _folder(root, bad=True):
    for c, v in (("a", 40), ("b", 200)):
        (root / c).mkdir(parents=True)
        for k in range(4):
            Image.new("L", (20, 20), v + k).save(root / c / f"{k}.png")
    if bad:
        (root / "a" / "zero.png").write_bytes(b"")
        os.mkfifo(root / "b" / "fifo.png")


def test_inspect_digits_writes_the_report(tmp_path, capsys):
    rep = tmp_path / "r.json"
    assert main(["data", "inspect", "digits", "--report", str(rep)]) == 0
    out = capsys.readouterr().out
    assert "5,000 samples, input shape [1, 28, 28]" in out
    r = json.loads(rep.read_text())
    assert r["num_samples"] == 5000 and r["input_shape"] == [1, 28, 28] and r["skipped"] == []
    assert sum(r["classes"].values()) == 5000 and set(r["classes"]) == {str(i) for i in range(10)}


def test_inspect_a_folder_with_bad_files_exits_0_and_lists_them(tmp_path, capsys):
    _folder(tmp_path / "imgs")
    rep = tmp_path / "r.json"
    assert main(["data", "inspect", str(tmp_path / "imgs"), "--report", str(rep), "--channels", "rgb"]) == 0
    out = capsys.readouterr().out
    assert "skipped 2:" in out and "zero.png: empty file (0 bytes)" in out and "fifo.png: not a regular file" in out
    r = json.loads(rep.read_text())
    assert r["classes"] == {"a": 4, "b": 4} and r["input_shape"] == [3, 20, 20]
    assert {os.path.basename(s["path"]): s["reason"] for s in r["skipped"]} == {
        "zero.png": "empty file (0 bytes)", "fifo.png": "not a regular file"}


def test_inspect_with_nothing_usable_exits_2_with_the_reason(tmp_path, capsys):
    (tmp_path / "e" / "a").mkdir(parents=True)
    (tmp_path / "e" / "a" / "x.png").write_text("not an image")
    assert main(["data", "inspect", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert "no usable images found" in err and "x.png: not an image" in err
    assert main(["data", "inspect", str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["data", "inspect", "MNIST"]) == 2
    assert "--root DIR" in capsys.readouterr().err


def test_inspect_a_csv_names_the_target(tmp_path, capsys):
    p = tmp_path / "t.csv"
    p.write_text("x,y,label\n" + "".join(f"{i},{i * i},{'ab'[i % 2]}\n" for i in range(10)) + "1,nan,a\n")
    assert main(["data", "inspect", str(p), "--target", "label", "--report", str(tmp_path / "r.json")]) == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["classes"] == {"a": 5, "b": 5} and r["target_column"] == "label" and r["input_shape"] == [2]
    assert r["skipped"] == [{"path": f"{p}:row 12", "reason": "column 2 ('y'): 'nan' is not a finite number"}]


def test_the_report_never_overwrites_the_input(tmp_path, capsys):
    p = tmp_path / "t.csv"
    p.write_text("1,2,0\n3,4,1\n")
    assert main(["data", "inspect", str(p), "--report", str(p)]) == 2
    assert p.read_text() == "1,2,0\n3,4,1\n"
