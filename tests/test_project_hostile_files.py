"""Hostile or careless project files get exit 2 and one message naming the file and the field:
NaN/Infinity literals, huge numbers, deep nesting, out-of-range seeds, tiny data.limit, giant names,
FIFOs, devices behind symlinks, oversized files."""

from __future__ import annotations

import json
import os
import time

import pytest

from engine.cli import main
from engine.project import ProjectError, load_project, loads_project
from engine.templates import load_template


def _doc() -> dict:
    return load_template("mlp").to_dict()


def _text(**patch) -> str:
    d = _doc()
    for path, value in patch.items():
        cur = d
        keys = path.split("__")
        for k in keys[:-1]:
            cur = cur[k]
        cur[keys[-1]] = value
    return json.dumps(d)


def _problem(text: str) -> str:
    with pytest.raises(ProjectError) as exc:
        loads_project(text, "p.json")
    return str(exc.value)


def test_nan_and_infinity_literals_name_their_field():
    text = _text().replace('"lr": 0.001', '"lr": NaN')
    assert "train.optimizer.lr" in _problem(text) and "NaN" in _problem(text)
    assert "train.optimizer.lr" in _problem(_text().replace('"lr": 0.001', '"lr": -Infinity'))
    assert "infinite" in _problem(_text().replace('"lr": 0.001', '"lr": 1e999'))


def test_a_5000_digit_integer_is_refused_with_its_path():
    msg = _problem(_text(train__epochs=0).replace('"epochs": 0', '"epochs": ' + "9" * 5000))
    assert "train.epochs" in msg and "5,000-digit" in msg


def test_deep_nesting_is_refused_without_recursion_error():
    nested: dict = {}
    cur = nested
    for _ in range(600):
        cur["a"] = {}
        cur = cur["a"]
    d = _doc()
    d["model"]["nodes"][1]["params"]["x"] = nested
    assert "nested more than" in _problem(json.dumps(d))
    with pytest.raises(ProjectError, match="nested more than"):
        from engine.project import parse_project

        parse_project(d)  # a dict from the API or an autosave goes through the same check


@pytest.mark.parametrize("seed", [-1, 2**70])
def test_seeds_out_of_range(seed):
    assert "train.seed" in _problem(_text(train__seed=seed))
    assert "data.seed" in _problem(_text(data__seed=seed))


@pytest.mark.parametrize("limit", [1, 2])
def test_tiny_data_limit_is_bad_input(limit):
    assert "data.limit" in _problem(_text(data__limit=limit))


def test_names_and_labels_have_length_limits():
    t0 = time.perf_counter()
    assert "name" in _problem(_text(name="x" * 1_000_000))
    assert time.perf_counter() - t0 < 5
    d = _doc()
    d["model"]["nodes"][1]["label"] = "y" * 40_000
    assert "label" in _problem(json.dumps(d))
    assert "name" in _problem(_text(name=""))


@pytest.mark.skipif(os.name != "posix", reason="FIFOs and /dev/zero")
def test_fifo_and_device_project_files_do_not_hang(tmp_path, capsys):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    t0 = time.monotonic()
    for p in (fifo, zero):
        for verb in (["check", str(p)], ["train", str(p), "--out", str(tmp_path / "run")]):
            assert main(verb) == 2
            err = capsys.readouterr().err
            assert str(p) in err and "not a regular project file" in err
    assert time.monotonic() - t0 < 20


def test_oversized_project_file_is_refused(tmp_path, monkeypatch):
    import engine.project as project_mod

    monkeypatch.setattr(project_mod, "MAX_PROJECT_BYTES", 1000)
    p = tmp_path / "big.json"
    p.write_text(json.dumps(_doc()) + " " * 2000)
    with pytest.raises(ProjectError, match="at most 1,000 bytes"):
        load_project(p)


def test_check_gives_exit_2_with_the_path_for_each_hostile_literal(tmp_path, capsys):
    cases = {
        "nan.json": _text().replace('"lr": 0.001', '"lr": NaN'),
        "digits.json": _text().replace('"seed": 0', '"seed": ' + "1" * 5000, 1),
        "seed.json": _text(train__seed=2**70),
        "limit.json": _text(data__limit=1),
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        assert main(["check", str(tmp_path / name)]) == 2, name
        err = capsys.readouterr().err
        assert name in err and "Traceback" not in err and "must be ≤ 10" not in err
