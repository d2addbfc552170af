"""Property-based fuzzing of the exit-code contract: mutated project documents and random command
lines never produce a traceback; the exit code is 0, 1, 2 or 130; a refusal names the file.

Quick by default (``FUZZ_EXAMPLES``, 40 per property). A long run:
``LAYERLAB_FUZZ_EXAMPLES=3000 pytest -p no:xdist --timeout=0 tests/test_fuzz_contract.py --hypothesis-show-statistics``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli import main
from engine.templates import list_templates, load_template

FUZZ_EXAMPLES = int(os.environ.get("LAYERLAB_FUZZ_EXAMPLES", "40"))
CONTRACT = {0, 1, 2, 130}
TEMPLATES = sorted(t.name for t in list_templates())
_HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
SETTINGS = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=_HEALTH)
TRAIN_SETTINGS = settings(max_examples=max(FUZZ_EXAMPLES // 2, 1), deadline=None, suppress_health_check=_HEALTH)

# values a careless user or an attacker puts in a JSON document
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.sampled_from(["", "NaN", "-1", "1e309", "../../etc/passwd", "cuda:99", "x" * 300, "Linear", "Input"]),
)
json_value = st.recursive(json_leaf, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                             st.dictionaries(st.text(max_size=8), kids, max_size=4)),
                          max_leaves=12)
TEXT_INJECTIONS = ["NaN", "Infinity", "-Infinity", "1e400", "9" * 5000, "[" * 700 + "]" * 700, '"\\ud800"', "{}",
                   "[]", "null", "true"]


def _paths(doc, prefix=()):
    """Every (path, value) in a document, containers included."""
    yield prefix, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def _set(doc, path, value):
    cur = doc
    for k in path[:-1]:
        cur = cur[k]
    if isinstance(cur, list) and isinstance(path[-1], int):
        cur[path[-1]] = value
    elif isinstance(cur, dict):
        cur[path[-1]] = value


def _delete(doc, path):
    cur = doc
    for k in path[:-1]:
        cur = cur[k]
    with contextlib.suppress(KeyError, IndexError, TypeError):
        del cur[path[-1]]


@st.composite
def mutated_documents(draw) -> str:
    """A template's JSON text with a few random mutations (values replaced or deleted, keys added, or
    raw text injected where a value belongs)."""
    doc = load_template(draw(st.sampled_from(TEMPLATES))).to_dict()
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p, _ in _paths(doc) if p]
        if not paths:
            break
        path = rnd.choice(paths)
        op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if op == "replace":
            _set(doc, path, draw(json_value))
        elif op == "delete":
            _delete(doc, path)
        else:
            parent = [p for p, v in _paths(doc) if isinstance(v, dict)]
            target = rnd.choice(parent)
            cur = doc
            for k in target:
                cur = cur[k]
            cur[draw(st.text(min_size=1, max_size=10))] = draw(json_value)
    text = json.dumps(doc)
    if draw(st.booleans()):  # inject a literal JSON cannot hold in a typed value
        marker = draw(st.sampled_from(['"lr": 0.001', '"epochs": ', '"batch_size": ', '"seed": 0']))
        if marker in text:
            text = text.replace(marker, marker.split(":")[0] + ": " + draw(st.sampled_from(TEXT_INJECTIONS)), 1)
    return text


def _run(argv: list[str]) -> tuple[int, str]:
    """``main(argv)`` in this process: (exit code, stderr). Any escaping exception fails the property."""
    err = io.StringIO()
    out = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse's usage errors
            code = stop.code if isinstance(stop.code, int) else 2
    return code, err.getvalue()


def _assert_contract(code: int, err: str, names: str | None) -> None:
    assert code in CONTRACT, (code, err[-2000:])
    assert "Traceback" not in err, err[-2000:]
    if code == 2 and names is not None and "error:" in err and "usage" not in err and "argument" not in err:
        assert names in err, err[-2000:]


@SETTINGS
@given(text=mutated_documents())
def test_check_on_mutated_documents_keeps_the_contract(tmp_path_factory, text):
    d = tmp_path_factory.mktemp("fz")
    p = d / "fuzzed.json"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    code, err = _run(["check", str(p)])
    _assert_contract(code, err, "fuzzed.json")


@TRAIN_SETTINGS
@given(text=mutated_documents())
def test_train_setup_on_mutated_documents_keeps_the_contract(tmp_path_factory, text):
    """Train with at most one step on a small slice: the document is validated, the model built."""
    d = tmp_path_factory.mktemp("fz")
    p = d / "fuzzed.json"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        raw = json.loads(text)
        if isinstance(raw, dict) and isinstance(raw.get("data"), dict):
            raw["data"]["limit"] = 20  # keep the work tiny whatever the mutation did
            p.write_text(json.dumps(raw))
    except (ValueError, RecursionError):
        pass
    code, err = _run(["train", str(p), "--out", str(d / "run"), "--max-steps", "1", "--epochs", "1", "--quiet",
                      "--device", "cpu"])
    _assert_contract(code, err, None)


ARG_VALUES = st.one_of(st.sampled_from(["0", "-1", "1", "3", "1e-3", "nan", "inf", "abc", "", "9" * 30,
                                        str(2**70), "-0", "0x10", "cuda", "cpu", "mps", "cuda:7", "auto"]),
                       st.text(max_size=12))


@st.composite
def command_lines(draw, folder: Path) -> list[str]:
    verb = draw(st.sampled_from(["check", "train", "generate", "new", "layers", "templates", "bogus"]))
    files = [str(folder / n) for n in ("ok.json", "missing.json", "dir", "bad.json", "ckpt.pt", "out.png")]
    argv = [verb]
    if verb in ("check", "train", "generate"):
        argv.append(draw(st.sampled_from(files)))
    flags = {"check": ["--report"], "new": ["-o", "--template", "--name", "--force"],
             "train": ["--epochs", "--seed", "--lr", "--batch-size", "--device", "--resume", "--report"],
             "generate": ["-c", "-n", "--seed", "--label", "-o", "--nrow", "--device"],
             "layers": ["--category", "--json"], "templates": ["--json"], "bogus": ["--x"]}[verb]
    for _ in range(draw(st.integers(0, 4))):
        flag = draw(st.sampled_from(flags))
        argv.append(flag)
        if flag not in ("--force", "--json"):
            argv.append(draw(st.one_of(ARG_VALUES, st.sampled_from(files))))
    if verb == "train":
        argv += ["--max-steps", "1", "--out", str(folder / f"run{draw(st.integers(0, 3))}"), "--quiet"]
    return argv


@pytest.fixture(scope="module")
def cli_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    doc = load_template("mlp").to_dict()
    doc["data"]["limit"] = 20
    (d / "ok.json").write_text(json.dumps(doc))
    (d / "bad.json").write_text('{"format": "layerlab-project", "version": 2, "train": {"lr": NaN}}')
    (d / "dir").mkdir()
    (d / "ckpt.pt").write_bytes(b"PK\x03\x04 not really a zip")
    return d


@SETTINGS
@given(data=st.data())
def test_random_command_lines_keep_the_contract(cli_folder, data):
    argv = data.draw(command_lines(cli_folder))
    here = os.getcwd()
    os.chdir(cli_folder)  # a relative `-o RANDOM` lands in the test's folder, not in the checkout
    try:
        code, err = _run(argv)
    finally:
        os.chdir(here)
    _assert_contract(code, err, None)
