"""CSV tables: pick the target column, classification or regression, header or not, and every bad cell
reported by row and column; a regression table trains and reports MSE."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import chain

from engine.cli import main
from engine.data import load_bundle, open_source
from engine.data.sources import CsvSource, DatasetError
from engine.project import DataSpec


def _table(path, header=True, bad=()):
    rng = np.random.default_rng(0)
    lines = ["size,weight,kind,price"] if header else []
    for r in range(60):
        a, b = rng.uniform(0, 1, 2)
        kind = "cat" if r % 3 else "dog"
        lines.append(f"{a:.4f},{b:.4f},{r % 2},{3 * a - 2 * b + 1:.4f}" if kind else "")
        if r in bad:
            lines[-1] = f"{a:.4f},oops,{r % 2},1.0" if r % 2 else f"nan,{b:.4f},{r % 2},1.0"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_header_is_detected_and_the_target_is_picked_by_name(tmp_path):
    src = CsvSource(_table(tmp_path / "t.csv"), target="kind")
    assert src.columns == ["size", "weight", "kind", "price"] and src.target_column == "kind"
    assert src.classes == ("0", "1") and src.class_counts() == {"0": 30, "1": 30}
    assert src.input_shape == (3,) and not src.is_image
    assert src.sample(0).dtype == np.float32 and src.info(0).path.endswith("t.csv:row 2")


def test_without_a_header_columns_are_numbered_and_the_last_is_the_target(tmp_path):
    src = CsvSource(_table(tmp_path / "t.csv", header=False))
    assert src.columns[0] == "column 1" and src.target_column == "column 4"
    src2 = CsvSource(_table(tmp_path / "t.csv", header=False), target=2)
    assert src2.classes == ("0", "1")


def test_nan_and_text_cells_are_skipped_and_reported_by_row_and_column(tmp_path):
    src = CsvSource(_table(tmp_path / "t.csv", bad=(4, 7)), target="kind")
    assert len(src) == 58
    reasons = dict(src.skipped)
    assert reasons[f"{tmp_path / 't.csv'}:row 6"].startswith("column 1 ('size'): 'nan'")  # data row 4 = line 6
    assert reasons[f"{tmp_path / 't.csv'}:row 9"].startswith("column 2 ('weight'): 'oops'")


def test_a_text_column_and_a_bad_target_name_are_dataset_errors(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,colour,y\n" + "".join(f"{i},red,{i % 2}\n" for i in range(10)))
    with pytest.raises(DatasetError, match=r"column 2 \('colour'\) is text"):
        CsvSource(p)
    with pytest.raises(DatasetError, match="no column named 'nope'"):
        CsvSource(_table(tmp_path / "u.csv"), target="nope")


def test_text_labels_and_huge_or_negative_labels_become_classes_by_value(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("".join(f"{i},{i * 2},{['-3', '1000000000', 'spam'][i % 3]}\n" for i in range(9)))
    src = CsvSource(p)
    assert src.classes == ("-3", "1000000000", "spam") and src.class_counts() == {"-3": 3, "1000000000": 3, "spam": 3}


def test_headerless_square_pixel_rows_read_as_images(tmp_path):
    p = tmp_path / "px.csv"
    p.write_text("".join(f"{i},{i + 1},{i + 2},{i + 3},{i % 2}\n" for i in range(20)))
    src = open_source(DataSpec(dataset="csv", path=str(p)))
    assert src.input_shape == (1, 2, 2) and src.sample(0).dtype == np.uint8
    assert open_source(DataSpec(dataset="csv", path=str(p), csv_layout="table")).input_shape == (4,)


def test_regression_on_a_table_trains_and_reports_mse(tmp_path):
    p = _table(tmp_path / "t.csv", bad=(3,))
    b = load_bundle(DataSpec(dataset="csv", path=str(p), csv_target="price"), task="regression")
    assert b.train_y.dtype.is_floating_point and len(b.train_y) + len(b.val_y) == 59
    g = chain(("input", "Input", {"shape": [3]}), ("fc1", "Linear", {"out_features": 16}), ("r", "ReLU", {}),
              ("fc", "Linear", {"out_features": 1}), ("output", "Output", {}))
    doc = {"format": "layerlab-project", "version": 1, "name": "reg", "model": g,
           "data": {"dataset": "csv", "path": str(p), "csv_target": "price", "batch_size": 8},
           "train": {"device": "cpu", "epochs": 3, "task": "regression", "loss": "mse"}}
    (tmp_path / "p.json").write_text(json.dumps(doc))
    assert main(["train", str(tmp_path / "p.json"), "--out", str(tmp_path / "run"), "--quiet",
                 "--report", str(tmp_path / "r.json")]) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["status"] == "completed" and np.isfinite(rep["final"]["val_mse"])
