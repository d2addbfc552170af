"""Every graph of every template LayerLab ships comes back from its exports: the code generator's Python
file (``layerlab import FILE.py:ClassName``) gives the same graph, and the ONNX export gives the same graph
less what ONNX no longer holds (BatchNorm folded into the layer before it, Dropout gone), with the same
outputs. The lstm and transformer ONNX exports are reported per node instead (README: why).

Weights are random (BatchNorm statistics too), not trained: the module comes from the compiler."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import graph_skeleton

from engine.cli import main
from engine.graph import compile_graph
from engine.graph.codegen import class_name_for, python_source
from engine.project import load_project
from engine.templates import list_templates, load_template

GONE_IN_ONNX = ("BatchNorm2d", "BatchNorm1d", "Dropout")  # folded into the Conv/Linear before it / nothing at inference
ONNX_REPORTED = {"lstm": "not mapped back to LayerLab's LSTM", "transformer": "Add with a constant"}


def _graphs() -> list[tuple[str, str]]:
    out = []
    for t in list_templates():
        p = load_template(t.name)
        out += [(t.name, "model")] if not p.models else [(t.name, f"models.{k}") for k in p.models]
    return out


GRAPHS = _graphs()
IDS = [f"{t}-{g.split('.')[-1]}" for t, g in GRAPHS]


def test_every_shipped_template_graph_is_covered():
    names = {t for t, _ in GRAPHS}
    assert names == {t.name for t in list_templates()} and len(names) >= 7
    assert ("cgan", "models.discriminator") in GRAPHS and ("vae", "models.decoder") in GRAPHS


def _module(project, gpath):
    """The compiled graph with random weights and random BatchNorm statistics (not the identity)."""
    torch.manual_seed(0)
    m, _ = compile_graph(project.graph_at(gpath), graph_path=gpath)
    g = torch.Generator().manual_seed(1)
    for mod in m.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(mod.weight.shape, generator=g) + 0.5)
    return m.eval()


def _inputs(m, batch=3):
    g = torch.Generator().manual_seed(2)
    return tuple(torch.randint(0, h, (batch, *s), generator=g) if d == "long" else torch.randn((batch, *s), generator=g)
                 for s, d, h in zip(m.input_shapes, m.input_dtypes, m.input_high))


def _back(out):
    back = load_project(out)
    m, _ = compile_graph(back.model)
    m.load_state_dict(torch.load(out.with_suffix(".pt"), weights_only=True))
    return back, m.eval()


@pytest.mark.parametrize(("template", "gpath"), GRAPHS, ids=IDS)
def test_python_export_imports_back_to_the_same_graph_and_outputs(tmp_path, template, gpath):
    project = load_template(template)
    m = _module(project, gpath)
    cls = class_name_for(project.name + ("" if gpath == "model" else " " + gpath.split(".")[-1]))
    (tmp_path / "m.py").write_text(python_source(project, gpath, class_name=cls))
    torch.save(m.state_dict(), tmp_path / "w.pt")
    out = tmp_path / "back.json"
    # no --input-shape: the shapes come from the generated class's docstring (several for a cGAN)
    assert main(["import", f"{tmp_path / 'm.py'}:{cls}", "--weights", str(tmp_path / "w.pt"), "-o", str(out),
                 "--report", str(tmp_path / "r.json")]) == 0
    back, got = _back(out)
    assert graph_skeleton(back.model) == graph_skeleton(project.graph_at(gpath))
    assert json.loads((tmp_path / "r.json").read_text())["max_abs_diff"] == 0.0
    xs = _inputs(m)
    with torch.no_grad():
        want = m(*xs)
        assert want.abs().max() > 1e-3  # the comparison means something
        torch.testing.assert_close(got(*xs), want, atol=1e-6, rtol=1e-6)


@pytest.fixture(scope="module")
def onnx_exports(tmp_path_factory):
    from engine.export import onnx_export

    d = tmp_path_factory.mktemp("onnx")
    cache = {}

    def get(template, gpath):
        if (template, gpath) not in cache:
            project = load_template(template)
            m = _module(project, gpath)
            path = d / f"{template}_{gpath.replace('.', '_')}.onnx"
            onnx_export(m, _inputs(m), path, [f"input{i}" for i in range(len(m.input_ids))])
            cache[(template, gpath)] = (project, m, path)
        return cache[(template, gpath)]

    return get


@pytest.mark.parametrize(("template", "gpath"), GRAPHS, ids=IDS)
def test_onnx_export_imports_back_to_the_same_graph_less_folded_layers(tmp_path, capsys, onnx_exports, template,
                                                                       gpath):
    project, m, path = onnx_exports(template, gpath)
    out = tmp_path / "back.json"
    rc = main(["import", str(path), "-o", str(out), "--report", str(tmp_path / "r.json")])
    rep = json.loads((tmp_path / "r.json").read_text())
    if template in ONNX_REPORTED:  # reported per node, never a traceback or a wrong graph
        err = capsys.readouterr().err
        assert rc == 2 and not out.exists() and "Traceback" not in err
        assert rep["problems"] and ONNX_REPORTED[template] in err
        assert all(p["node"] and p["message"] for p in rep["problems"])
        return
    assert rc == 0 and rep["max_abs_diff"] <= 1e-4
    back, got = _back(out)
    assert graph_skeleton(back.model) == graph_skeleton(project.graph_at(gpath), drop=GONE_IN_ONNX)
    xs = _inputs(m)
    with torch.no_grad():
        torch.testing.assert_close(got(*xs), m(*xs), atol=1e-4, rtol=1e-4)
