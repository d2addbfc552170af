"""Import into the designer: torchvision models and LayerLab's own Python export come back as documents."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.cli import main
from engine.graph import compile_graph
from engine.graph.fx_import import ImportError_, to_document
from engine.layers import get_layer
from engine.project import load_project


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_torchvision_models_import_and_match_with_the_same_weights(tmp_path, name):
    import torchvision.models as tvm

    torch.manual_seed(0)
    ref = getattr(tvm, name)(weights=None).eval()  # nothing is downloaded: the test makes its own weights
    torch.save(ref.state_dict(), tmp_path / "w.pt")
    out = tmp_path / f"{name}.json"
    assert main(["import", f"torchvision:{name}", "--weights", str(tmp_path / "w.pt"), "--input-shape", "3,64,64",
                 "-o", str(out)]) == 0
    project = load_project(out)  # a valid document
    m, _ = compile_graph(project.model)
    m.load_state_dict(torch.load(out.with_suffix(".pt"), weights_only=True))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(m.eval()(x), ref(x), atol=1e-5, rtol=1e-5)
    types = {n.type for n in project.model.nodes}
    assert ("Add" in types) if name == "resnet18" else ({"Scale", "Hardswish", "Hardsigmoid"} <= types)


def test_python_export_then_import_gives_the_same_graph(tmp_path):
    from engine.graph.codegen import python_source
    from engine.templates import load_template

    original = load_template("cnn")
    (tmp_path / "m.py").write_text(python_source(original, class_name="Net"))
    assert main(["import", f"{tmp_path / 'm.py'}:Net", "-o", str(tmp_path / "back.json")]) == 0
    back = load_project(tmp_path / "back.json")

    def resolved(g):
        return [(n.type, get_layer(n.type).resolve(n.params)) for n in g.nodes]

    assert resolved(back.model)[1:] == resolved(original.model)[1:]  # the input node's id is the only change
    assert [n.id for n in back.model.nodes][1:] == [n.id for n in original.model.nodes][1:]


def test_an_operation_without_a_layer_is_reported_per_node():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.norm = nn.GroupNorm(2, 4)

        def forward(self, x):
            return torch.cumsum(self.norm(self.fc(x).unsqueeze(-1)).squeeze(-1), 1)

    with pytest.raises(ImportError_) as e:
        to_document(Odd(), (4,))
    nodes = {p.node for p in e.value.problems}
    assert "norm" in nodes and "cumsum" in nodes


def test_import_input_errors_exit_2(tmp_path, capsys):
    assert main(["import", "torchvision:vgg99", "-o", str(tmp_path / "x.json")]) == 2
    assert "not supported" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "x.json")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_batch_keeping_reshapes_and_a_label_input_import_and_a_batch_mixing_one_is_reported():
    from engine.graph.fx_import import import_module

    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.emb = nn.Embedding(5, 8)

        def forward(self, x, label):
            h = torch.cat([self.fc(x.view(x.size(0), -1)), self.emb(label)], 1)
            return h.reshape(h.shape[0], 4, 4)

    res = import_module(TwoInputs(), [(2, 4), ()])
    nodes = [(n.type, n.params) for n in res.project.model.nodes]
    assert nodes[:3] == [("Input", {"shape": [2, 4]}), ("Input", {"shape": [], "dtype": "long"}), ("Flatten", {})]
    assert ("Concat", {"dim": 0}) in nodes and ("Reshape", {"shape": [4, 4]}) in nodes and res.max_abs_diff == 0

    class Mixes(nn.Module):
        def forward(self, x):
            return x.reshape(2, -1)

    with pytest.raises(ImportError_) as e:
        to_document(Mixes(), (4,))
    assert "mix the samples" in str(e.value)
    with pytest.raises(ValueError, match="one shape"):
        to_document(TwoInputs(), (2, 4))
