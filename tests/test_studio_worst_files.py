"""The studio (offscreen) opening the worst files: each refusal is a message naming the file, the window
stays up and keeps its document; big or looping graphs open and stay usable."""

from __future__ import annotations

import json
import os

import pytest
from helpers import relu_chain_project
from test_gui_window import make_window  # noqa: F401 - the window fixture (scripted prompts and runner)

from engine.templates import load_template

pytestmark = pytest.mark.gui


def _doc() -> dict:
    return load_template("mlp").to_dict()


def _worst(tmp_path) -> dict[str, object]:
    files: dict[str, object] = {}
    d = _doc()
    d["name"] = "x" * 1_000_000
    (tmp_path / "huge_name.json").write_text(json.dumps(d))
    files["huge_name.json"] = "name"
    (tmp_path / "nan.json").write_text(json.dumps(_doc()).replace('"lr": 0.001', '"lr": NaN'))
    files["nan.json"] = "NaN"
    (tmp_path / "digits.json").write_text(json.dumps(_doc()).replace('"seed": 0', '"seed": ' + "7" * 5000, 1))
    files["digits.json"] = "digit"
    (tmp_path / "deep.json").write_text('{"format": "layerlab-project", "version": 2, "x": ' + "[" * 700 + "]" * 700
                                        + "}")
    files["deep.json"] = "nested"
    (tmp_path / "empty.json").write_bytes(b"")
    files["empty.json"] = "JSON"
    (tmp_path / "binary.json").write_bytes(bytes(range(256)) * 4)
    files["binary.json"] = ""
    (tmp_path / "folder.json").mkdir()
    files["folder.json"] = "folder"
    if os.name == "posix":
        os.mkfifo(tmp_path / "fifo.json")
        files["fifo.json"] = "named pipe"
        (tmp_path / "zero.json").symlink_to("/dev/zero")
        files["zero.json"] = "device"
        (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere.json")
        files["dangling.json"] = ""
    return files


def test_every_worst_file_is_refused_with_a_message_and_the_window_survives(make_window, tmp_path):  # noqa: F811
    win = make_window()
    before = win.doc.project.to_dict()
    for name, words in _worst(tmp_path).items():
        win.prompts.problems.clear()
        assert not win.open_path(tmp_path / name, ask=False), name
        assert len(win.prompts.problems) == 1, name
        source, problems = win.prompts.problems[0]
        assert name in source and problems, name
        assert all(len(p) < 2000 for p in problems), name
        assert words.lower() in " ".join(problems).lower(), (name, problems)
        assert win.doc.project.to_dict() == before  # the open document is untouched
    assert win.isVisible()


def test_a_5000_node_cycle_opens_with_its_problems_summarised(make_window, tmp_path):  # noqa: F811
    p = tmp_path / "loop.json"
    p.write_text(json.dumps(relu_chain_project(5000, cycle=True)))
    win = make_window()
    if win.open_path(p, ask=False):
        assert win.doc.project.name == "big"
    else:  # refused: then with one bounded message
        _, problems = win.prompts.problems[-1]
        assert sum(len(x) for x in problems) < 2_000_000
    assert win.isVisible()


def test_a_10000_node_project_opens(make_window, tmp_path):  # noqa: F811
    p = tmp_path / "big.json"
    p.write_text(json.dumps(relu_chain_project(10_000)))
    win = make_window()
    assert win.open_path(p, ask=False)
    assert len(win.doc.project.model.nodes) == 10_000 and win.isVisible()
