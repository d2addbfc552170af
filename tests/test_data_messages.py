"""`layerlab data` and the data warnings speak LayerLab: a bad option value is one line naming the option and
its rule (exit 2), torchvision's own hints never leak, sizes are H×W and labelled, CSV rows are rows (not
files), a single image is not a dataset, and inspect says it reads headers only."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from engine.cli import main


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "pydantic" not in err[0] and "validation error" not in err[0] and "Traceback" not in err[0]
    return err[0]


def _folder(root, sizes=((40, 20), (40, 20), (40, 20))):
    """Class folders a/ and b/ of W×H images (PIL sizes are (width, height))."""
    for c, v in (("a", 30), ("b", 200)):
        (root / c).mkdir(parents=True)
        for k, wh in enumerate(sizes):
            Image.new("L", wh, v + 7 * k).save(root / c / f"{k}.png")
    return root


@pytest.mark.parametrize("argv, option, rule", [
    (["inspect", "digits", "--image-size", "0", "0"], "--image-size", "each side must be 1..4096"),
    (["inspect", "digits", "--image-size", "100000", "5"], "--image-size", "each side must be 1..4096"),
    (["audit", "digits", "--val-fraction", "2"], "--val-fraction", "between 0 and 1"),
    (["audit", "digits", "--val-fraction", "0"], "--val-fraction", "between 0 and 1"),
    (["audit", "digits", "--seed", "-1"], "--seed", "0 or more"),
    (["audit", "digits", "--near", "5"], "--near", "between 0.5 and 1"),
    (["audit", "digits", "--near", "-1"], "--near", "between 0.5 and 1"),
])
def test_a_bad_option_value_exits_2_with_one_line_naming_the_option_and_its_rule(argv, option, rule, capsys):
    assert main(["data", *argv]) == 2
    line = _one_error_line(capsys)
    assert line.startswith(f"error: {option}: ") and rule in line


def test_a_bad_option_on_a_project_file_is_named_by_its_option_too(tmp_path, capsys):
    p = tmp_path / "p.json"
    assert main(["new", "--template", "mlp", "-o", str(p)]) == 0
    capsys.readouterr()
    assert main(["data", "inspect", str(p), "--image-size", "0", "3"]) == 2
    assert "--image-size: each side must be 1..4096" in _one_error_line(capsys)


def test_missing_torchvision_files_are_named_with_layerlabs_fix_not_torchvisions(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    fix = "layerlab data download MNIST --root"
    assert main(["data", "inspect", "MNIST", "--root", str(tmp_path / "empty")]) == 2
    line = _one_error_line(capsys)
    assert "download=True" not in line and "Dataset not found" not in line
    assert "missing under" in line and "MNIST/raw/train-images-idx3-ubyte" in line
    assert fix in line and "Download in the Data tab" in line and "bundled digits" in line
    assert main(["data", "inspect", "MNIST", "--root", str(tmp_path / "nowhere")]) == 2
    line = _one_error_line(capsys)
    assert "does not exist" in line and fix in line and "Download in the Data tab" in line and "digits" in line


def test_a_single_image_as_source_is_not_a_dataset_and_points_at_the_folder_layout(tmp_path, capsys):
    root = _folder(tmp_path / "photos")
    assert main(["data", "inspect", str(root / "a" / "0.png")]) == 2
    line = _one_error_line(capsys)
    assert "an image file is not a dataset" in line and "ROOT/CLASS/images" in line and str(root) in line
    assert "CSV" not in line and "codec" not in line


def test_sizes_are_printed_h_by_w_and_labelled_in_inspect_its_report_and_the_audit(tmp_path, capsys):
    import json

    root = _folder(tmp_path / "wide", sizes=((40, 20),) * 5 + ((8, 4),))  # PIL: 40 wide, 20 high
    rep = tmp_path / "r.json"
    assert main(["data", "inspect", str(root), "--report", str(rep)]) == 0
    out = capsys.readouterr().out
    assert "input shape [1, 20, 40]" in out
    assert "sizes (H×W): 2 distinct; most common 20×40 (10), 4×8 (2)" in out
    assert "conversion: resize to 20×40 (H×W), grey" in out
    assert json.loads(rep.read_text())["sizes"] == {"20x40": 10, "4x8": 2}
    assert main(["data", "audit", str(root)]) == 0
    out = capsys.readouterr().out
    assert "2 image(s) are less than half the input size 20×40 (H×W)" in out


def _truncated_png(path) -> None:
    """A PNG whose header reads (size, mode) but whose pixels stop halfway."""
    import io

    import numpy as np

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 20), dtype=np.uint8), "L").save(buf, "PNG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def test_inspect_says_it_reads_headers_only_and_the_audit_decodes_the_truncated_image(tmp_path, capsys):
    root = _folder(tmp_path / "d")
    _truncated_png(root / "a" / "cut.png")
    assert main(["data", "inspect", str(root)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  a +4$", out, re.M)  # the truncated image counts at the scan
    assert "headers only" in out and "`layerlab data audit` decodes every file" in out
    assert main(["data", "audit", str(root)]) == 0
    out = capsys.readouterr().out
    assert "[unreadable] 1 file(s) do not decode" in out and "cut.png" in out


def test_a_truncated_image_found_while_streaming_is_not_called_readable_at_the_scan(tmp_path):
    from engine.data.loader import SourceBatches, SourceDataset
    from engine.data.sources import open_source
    from engine.project import Project
    from engine.train.loop import TrainLoop

    root = _folder(tmp_path / "d", sizes=((8, 8),) * 6)
    _truncated_png(root / "a" / "cut.png")
    src = open_source(Project.model_validate({"data": {"dataset": "folder", "path": str(root)}}).data)
    assert len(src) == 13  # the scan read its header: it counts
    got: list = []
    batches = SourceBatches(SourceDataset(src, range(len(src)), src.labels), 4, "cpu", on_skip=lambda *a: got.append(a))
    assert sum(len(y) for _, y in batches.epoch()) == 12
    assert len(got) == 1 and got[0][0].endswith("cut.png")
    p = Project.model_validate({"name": "t", "data": {"dataset": "folder", "path": str(root), "stream": "always",
                                                      "batch_size": 4, "image_size": [8, 8]},
                                "train": {"device": "cpu", "epochs": 1}})
    loop = TrainLoop(p, tmp_path / "run", emit=lambda e: None)
    events: list = []
    loop.log = lambda msg, level="info": events.append((msg, level))
    loop._skipped_while_streaming(*got[0])
    (msg, level), = events
    assert level == "warning" and "cut.png" in msg and "truncated" in msg
    assert "it was readable" not in msg and "its header read at the scan, but it does not decode" in msg


def _bad_rows_csv(path):
    rows = [f"{i % 5}.0,{i % 3}.5,{i % 7}.25,{'xy'[i % 2]}" for i in range(40)]
    rows[2] = "1.5,NaN,2.0,y"  # line 4 (after the header): a NaN in 'b'
    rows[3] = "2.0,3.0,abc,x"  # line 5: text in 'c'
    rows[4] = ",1.0,2.0,y"  # line 6: an empty 'a'
    path.write_text("a,b,c,label\n" + "\n".join(rows) + "\n")
    return path


def test_csv_rows_left_out_are_rows_grouped_by_what_is_wrong_with_examples_by_row_and_column(tmp_path, capsys):
    from engine.data.audit import audit_source
    from engine.data.sources import open_source
    from engine.project import DataSpec

    p = _bad_rows_csv(tmp_path / "t.csv")
    spec = DataSpec(dataset="csv", path=str(p))
    rep = audit_source(open_source(spec), spec)
    left = [f for f in rep.findings if f.kind in ("skipped_rows", "unreadable", "skipped")]
    assert [f.kind for f in left] == ["skipped_rows"]
    assert left[0].message == ("3 row(s) left out: a NaN, empty or text cell "
                               "(row 4 column 'b', row 5 column 'c', row 6 column 'a')")
    assert left[0].files == (f"{p}:row 4", f"{p}:row 5", f"{p}:row 6")
    assert main(["data", "audit", str(p)]) == 0
    out = capsys.readouterr().out
    assert "[skipped_rows] 3 row(s) left out" in out and "file(s)" not in out and "[unreadable]" not in out


def test_training_on_a_csv_warns_about_skipped_rows_not_files(tmp_path):
    from helpers import chain

    from engine.project import Project
    from engine.train.events import Log
    from engine.train.loop import TrainLoop

    p = _bad_rows_csv(tmp_path / "t.csv")
    g = chain(("input", "Input", {"shape": [3]}), ("fc", "Linear", {"out_features": 2}), ("output", "Output", {}))
    proj = Project.model_validate({"name": "t", "model": g, "data": {"dataset": "csv", "path": str(p), "batch_size": 8},
                                   "train": {"device": "cpu", "epochs": 1}})
    events: list = []
    TrainLoop(proj, tmp_path / "run", emit=events.append).run()
    warned = [e.message for e in events if isinstance(e, Log) and e.level == "warning" and "data: skipped" in e.message]
    assert len(warned) == 1 and warned[0].startswith("data: skipped 3 row(s): ") and "file(s)" not in warned[0]
