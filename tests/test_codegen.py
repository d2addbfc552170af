"""The generated PyTorch class loads the compiled model's state_dict and gives identical outputs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from helpers import chain

from engine.edits import GroupIntoBlock
from engine.graph import compile_project_graph
from engine.graph.codegen import python_source
from engine.project import parse_project
from engine.templates import list_templates, load_template


def _load_class(src: str, name: str):
    ns: dict = {}
    exec(compile(src, "<generated>", "exec"), ns)  # our own generated code, in a test
    return ns[name]


def _check_same(project, gpath: str) -> None:
    torch.manual_seed(0)
    model, res = compile_project_graph(project, gpath)
    model.eval()
    src = python_source(project, gpath, class_name="Generated")
    gen = _load_class(src, "Generated")()
    gen.load_state_dict(model.state_dict(), strict=True)
    gen.eval()
    xs = model.example_inputs(3)
    with torch.no_grad():
        assert torch.equal(model(*xs), gen(*xs))


@pytest.mark.parametrize("name", [t.name for t in list_templates()])
def test_every_template_generates_a_class_with_identical_outputs(name):
    p = load_template(name)
    for gpath in p.graphs():
        _check_same(p, gpath)


def test_blocks_become_nested_classes_and_keyword_ids_are_escaped():
    g = chain(("in", "Input", {"shape": [4, 6, 6]}), ("def", "Conv2d", {"out_channels": 4, "padding": 1}),
              ("r", "ReLU", {}), ("flat", "Flatten", {}), ("for", "Linear", {"out_features": 3}),
              ("out", "Output", {}))
    p = parse_project({"format": "layerlab-project", "version": 2, "name": 'my "net"\nx', "model": g})
    GroupIntoBlock("model", ["def", "r"], "conv_relu").apply(p)
    src = python_source(p)
    assert "class ConvRelu(nn.Module)" in src and "self.add_module('for'" in src
    _check_same(p, "model")


def test_generated_file_runs_in_a_fresh_python(tmp_path):
    p = load_template("mlp")
    f = tmp_path / "model.py"
    f.write_text(python_source(p, class_name="Net"))
    out = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import torch; "
                          "from model import Net; print(Net()(torch.zeros(2, 1, 28, 28)).shape)"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "torch.Size([2, 10])" in out.stdout
