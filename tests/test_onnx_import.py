"""ONNX graphs come back into the designer: LayerLab's own exports round-trip, torchvision models
exported by torch match onnxruntime, unsupported operations are reported per node, hostile files are
refused."""

from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from helpers import graph_skeleton  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from engine.cli import main  # noqa: E402
from engine.graph import compile_graph  # noqa: E402
from engine.graph.importing import ImportError_  # noqa: E402
from engine.graph.onnx_import import import_onnx, load_model  # noqa: E402
from engine.project import load_project  # noqa: E402

NORM = {"type": "normalize", "params": {"mean": [0.1307], "std": [0.3081]}}
GONE_IN_ONNX = ("BatchNorm2d", "Dropout")  # folded into the Conv before it / nothing at inference


def _trained_like(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights and BatchNorm statistics, as a trained model has (not the identity of a fresh one)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def layerlab_exports(tmp_path_factory):
    """The cnn (with a normalize setting) and mlp templates, exported by LayerLab's own ONNX exporter."""
    from engine.export import export_run
    from engine.project import AugmentSpec
    from engine.runs import Run
    from engine.templates import load_template

    out = {}
    for name in ("cnn", "mlp"):
        d = tmp_path_factory.mktemp(name)
        p = load_template(name)
        p.data.limit = 200
        if name == "cnn":
            p.data.augment = [AugmentSpec(**NORM)]
        torch.manual_seed(0)
        m, _ = compile_graph(p.model)
        torch.save(_trained_like(m).state_dict(), d / "model.pt")
        (res,) = export_run(Run(d, p, weights=d / "model.pt"), "onnx", d / f"{name}.onnx")
        out[name] = (p, res.path)
    return out


@pytest.mark.parametrize("name", ["cnn", "mlp"])
def test_layerlab_export_imports_back_to_the_same_graph_and_preprocessing(layerlab_exports, tmp_path, name):
    original, path = layerlab_exports[name]
    out = tmp_path / "back.json"
    assert main(["import", path, "-o", str(out), "--report", str(tmp_path / "r.json")]) == 0
    back = load_project(out)
    nodes, edges = graph_skeleton(back.model)
    want_nodes, want_edges = graph_skeleton(original.model, drop=GONE_IN_ONNX)
    assert nodes[1:] == want_nodes[1:] and edges == want_edges  # Input's shape is nodes[0]: compared next
    assert back.model.nodes[0].params["shape"] == original.model.nodes[0].params["shape"]
    assert [a.model_dump() for a in back.data.augment] == [a.model_dump() for a in original.data.augment
                                                         if a.type == "normalize"]
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["ok"] and rep["max_abs_diff"] <= 1e-4 and rep["preprocessing"]["input_range"] == "0-255"

    # what onnxruntime answers on raw 0-255 digit pixels, the project gives after its own data settings
    from engine.data import load_bundle
    from engine.data.augment import build_normalize

    pixels = (load_bundle(back.data).val_x[:64] * 255).round()
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: pixels.numpy()})[0]
    m, _ = compile_graph(back.model)
    m.load_state_dict(torch.load(out.with_suffix(".pt"), weights_only=True))
    x = pixels / 255
    norm = build_normalize(back.data.augment, 1)
    with torch.no_grad():
        got = m.eval()((norm[0] if norm else (lambda v: v))(x)).numpy()
    assert np.abs(got - want).max() <= 1e-4


def _export_torchvision(name: str, path, size: int = 64) -> torch.nn.Module:
    import torchvision.models as tvm
    from torch.export import Dim

    torch.manual_seed(0)
    ref = _trained_like(getattr(tvm, name)(weights=None))  # nothing is downloaded: the test makes its weights
    with contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(ref, (torch.randn(2, 3, size, size),), str(path), dynamo=True, external_data=False,
                          dynamic_shapes=({0: Dim("batch", min=1, max=1024)},))
    return ref


def _check_torchvision(name, tmp_path, report):
    path = tmp_path / f"{name}.onnx"
    ref = _export_torchvision(name, path)
    out = tmp_path / f"{name}.json"
    assert main(["import", str(path), "-o", str(out), "--report", str(tmp_path / "r.json")]) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    report.update(rep)
    back = load_project(out)
    m, _ = compile_graph(back.model)
    m.load_state_dict(torch.load(out.with_suffix(".pt"), weights_only=True))
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = ref(x), m.eval()(x)
    assert want.abs().max() > 1e-2  # the comparison means something
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    return back, rep


def test_torchvision_resnet18_from_torch_onnx_export_imports_and_matches(tmp_path):
    rep: dict = {}
    back, rep = _check_torchvision("resnet18", tmp_path, rep)
    types = [n.type for n in back.model.nodes]
    assert types.count("Add") == 8 and types.count("Conv2d") == 20 and "AdaptiveAvgPool2d" in types
    assert rep["max_abs_diff"] <= 1e-4 and rep["preprocessing"] is None and rep["nodes"] == 51


@pytest.mark.slow
def test_torchvision_mobilenet_v3_small_from_torch_onnx_export_imports_and_matches(tmp_path):
    rep: dict = {}
    back, rep = _check_torchvision("mobilenet_v3_small", tmp_path, rep)
    types = {n.type for n in back.model.nodes}
    assert {"Scale", "Hardswish", "Hardsigmoid", "AdaptiveAvgPool2d"} <= types
    assert rep["max_abs_diff"] <= 1e-4


# ---------------------------------------------------------------------------------------------
# hand-built graphs (onnx.helper): every mapped operation, the problems, hostile files


def _model(nodes, inits, inp=("x", [None, 3, 8, 8]), out=("y", None), opset=17):
    init = [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in inits.items()]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(inp[0], TensorProto.FLOAT, inp[1])],
                          [helper.make_tensor_value_info(out[0], TensorProto.FLOAT, out[1])], init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _zoo():
    """Most mapped operations in one graph, behind a per-channel x * a + b preprocessing (0..1 input)."""
    r = np.random.default_rng(0)
    n = helper.make_node
    inits = {
        "a": np.array([2.0, 4.0, 5.0]).reshape(1, 3, 1, 1), "b": np.array([-1.0, -2.0, -2.5]).reshape(1, 3, 1, 1),
        "w1": r.standard_normal((6, 3, 3, 3)) * 0.3, "bn_s": r.random(6) + 0.5, "bn_b": r.standard_normal(6) * 0.1,
        "bn_m": r.standard_normal(6) * 0.1, "bn_v": r.random(6) + 0.5,
        "w2": r.standard_normal((6, 1, 3, 3)) * 0.3, "c2": r.standard_normal((1, 6, 1, 1)) * 0.1,
        "wse": r.standard_normal((6, 6, 1, 1)) * 0.3,
        "g1": r.standard_normal((48, 10)) * 0.2, "g1b": r.standard_normal(10) * 0.1,
        "mm": r.standard_normal((10, 7)) * 0.2, "mmb": r.standard_normal(7) * 0.1,
        "ratio": np.array(0.25),
    }
    nodes = [
        n("Mul", ["x", "a"], ["p1"]), n("Add", ["p1", "b"], ["p2"]),
        n("Conv", ["p2", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv_a"),
        n("BatchNormalization", ["c1", "bn_s", "bn_b", "bn_m", "bn_v"], ["bn1"], epsilon=1e-3),
        n("LeakyRelu", ["bn1"], ["r1"], alpha=0.2),
        n("Conv", ["r1", "w2"], ["c2raw"], pads=[1, 1, 1, 1], group=6), n("Add", ["c2raw", "c2"], ["c2o"]),
        n("HardSwish", ["c2o"], ["h1"]),
        n("GlobalAveragePool", ["h1"], ["gap"]), n("Conv", ["gap", "wse"], ["se"]), n("HardSigmoid", ["se"], ["gate"],
                                                                                         alpha=1 / 6, beta=0.5),
        n("Mul", ["h1", "gate"], ["scaled"]), n("Add", ["scaled", "r1"], ["res"]),
        n("Concat", ["res", "h1"], ["cat"], axis=1), n("Sigmoid", ["cat"], ["s1"]),
        n("AveragePool", ["s1"], ["ap"], kernel_shape=[2, 2], strides=[2, 2]),
        n("MaxPool", ["ap"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
        n("Identity", ["mp"], ["idn"]), n("Flatten", ["idn"], ["f"], axis=1),
        n("Dropout", ["f", "ratio"], ["d"]), n("Tanh", ["d"], ["t"]),
        n("Gemm", ["t", "g1", "g1b"], ["lin"], transB=0, alpha=0.5, beta=2.0), n("Relu", ["lin"], ["rl"]),
        n("MatMul", ["rl", "mm"], ["mmo"]), n("Add", ["mmo", "mmb"], ["mma"]),
        n("Softmax", ["mma"], ["y"], axis=-1),
    ]
    return _model(nodes, inits)


def test_every_mapped_operation_imports_and_matches_onnxruntime(tmp_path):
    path = tmp_path / "zoo.onnx"
    onnx.save(_zoo(), str(path))
    res = import_onnx(path)
    assert res.max_abs_diff <= 1e-5
    types = [n.type for n in res.project.model.nodes]
    assert types == ["Input", "Conv2d", "BatchNorm2d", "LeakyReLU", "Conv2d", "Hardswish", "AdaptiveAvgPool2d",
                     "Conv2d", "Hardsigmoid", "Scale", "Add", "Concat", "Sigmoid", "AvgPool2d", "MaxPool2d", "Flatten",
                     "Dropout", "Tanh", "Linear", "ReLU", "Linear", "Softmax", "Output"]
    by_type = {n.type: n.params for n in res.project.model.nodes}
    assert by_type["Dropout"] == {"p": 0.25} and by_type["Concat"] == {"dim": 0}
    conv2 = res.project.model.nodes[4]
    assert conv2.params["groups"] == 6 and conv2.params["bias"] is True  # the Add after it became its bias
    # x * a + b on 0..1 values is normalize with mean -b/a and std 1/a
    (norm,) = res.project.data.augment
    assert norm.params == {"mean": [0.5], "std": [0.5, 0.25, 0.2]}
    assert res.preprocessing["input_range"] == "0-1"


def test_what_older_exporters_spell_out_imports_as_one_layer(tmp_path):
    """``view(x.size(0), -1)`` as Shape/Gather/Unsqueeze/Concat/Reshape, GELU as x * 0.5 * (1 + erf(x / sqrt 2)),
    Hardswish as x * HardSigmoid(x): the TorchScript exporter's spellings."""
    n = helper.make_node
    nodes = [
        n("Div", ["x", "sqrt2"], ["d"]), n("Erf", ["d"], ["e"]), n("Add", ["e", "one"], ["a"]),
        n("Mul", ["x", "a"], ["m"]), n("Mul", ["m", "half"], ["gelu"]),
        n("HardSigmoid", ["gelu"], ["hs"], alpha=1 / 6, beta=0.5), n("Mul", ["gelu", "hs"], ["hsw"]),
        n("Shape", ["hsw"], ["s"]), n("Gather", ["s", "zero"], ["b"], axis=0), n("Unsqueeze", ["b", "ax0"], ["bu"]),
        n("Concat", ["bu", "minus1"], ["target"], axis=0), n("Reshape", ["hsw", "target"], ["y"]),
    ]
    m = _model(nodes, {"sqrt2": np.array(2 ** 0.5), "one": np.array(1.0), "half": np.array(0.5)})
    m.graph.initializer.extend([numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
                                numpy_helper.from_array(np.array([0], dtype=np.int64), "ax0"),
                                numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus1")])
    path = tmp_path / "legacy.onnx"
    onnx.save(m, str(path))
    res = import_onnx(path)
    assert [n.type for n in res.project.model.nodes] == ["Input", "GELU", "Hardswish", "Flatten", "Output"]
    assert res.max_abs_diff <= 1e-5 and res.source_nodes == 12


def test_sequence_layers_and_opset_20_operations_import(tmp_path):
    r = np.random.default_rng(0)
    n = helper.make_node
    seq = _model([n("Conv", ["x", "w"], ["c"], pads=[1, 1]), n("BatchNormalization", ["c", "s", "b", "mu", "v"], ["bn"]),
                  n("Elu", ["bn"], ["e"], alpha=0.5), n("MaxPool", ["e"], ["p"], kernel_shape=[2], strides=[2]),
                  n("Flatten", ["p"], ["f"]), n("LogSoftmax", ["f"], ["y"], axis=1)],
                 {"w": r.standard_normal((4, 3, 3)), "s": r.random(4) + .5, "b": r.random(4), "mu": r.random(4),
                  "v": r.random(4) + .5}, inp=("x", [None, 3, 10]))
    onnx.save(seq, str(tmp_path / "seq.onnx"))
    res = import_onnx(tmp_path / "seq.onnx")
    assert [x.type for x in res.project.model.nodes] == ["Input", "Conv1d", "BatchNorm1d", "ELU", "MaxPool1d",
                                                         "Flatten", "LogSoftmax", "Output"]
    assert res.max_abs_diff <= 1e-5
    new = _model([n("Gelu", ["x"], ["g"]), n("ReduceMean", ["g", "axes"], ["y"], keepdims=0)], {}, opset=20)
    new.graph.initializer.append(numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes"))
    new.ir_version = 9
    onnx.save(new, str(tmp_path / "new.onnx"))
    res = import_onnx(tmp_path / "new.onnx")
    assert [x.type for x in res.project.model.nodes] == ["Input", "GELU", "AdaptiveAvgPool2d", "Flatten", "Output"]


def test_a_preprocessing_step_the_data_settings_cannot_express_is_reported(tmp_path):
    m = _model([helper.make_node("Mul", ["x", "k"], ["p"], name="flip"), helper.make_node("Relu", ["p"], ["y"])],
               {"k": np.array(-2.0)})
    onnx.save(m, str(tmp_path / "neg.onnx"))
    with pytest.raises(ImportError_) as e:
        import_onnx(tmp_path / "neg.onnx")
    ((node, message),) = [(p.node, p.message) for p in e.value.problems]
    assert node == "flip (Mul)" and "positive std" in message


def test_unsupported_operations_are_reported_per_node_with_exit_2(tmp_path, capsys):
    body = helper.make_graph([helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                              helper.make_node("Identity", ["v_in"], ["v_out"])], "body",
                             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                              helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("v_in", TensorProto.FLOAT, None)],
                             [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None)])
    nodes = [
        helper.make_node("Erf", ["x"], ["e"], name="the_erf"),
        helper.make_node("Conv", ["e", "w"], ["c"], pads=[0, 0, 1, 1], name="lopsided"),
        helper.make_node("Loop", ["trip", "cond", "c"], ["y"], body=body, name="the_loop"),
    ]
    m = _model(nodes, {"w": np.ones((2, 3, 3, 3))})
    m.graph.initializer.extend([numpy_helper.from_array(np.array(2, dtype=np.int64), "trip"),
                                numpy_helper.from_array(np.array(True), "cond")])
    path = tmp_path / "odd.onnx"
    onnx.save(m, str(path))
    with pytest.raises(ImportError_) as e:
        import_onnx(path)
    nodes_named = {p.node: p.message for p in e.value.problems}
    assert set(nodes_named) == {"the_erf (Erf)", "lopsided (Conv)", "the_loop (Loop)"}
    assert "asymmetric padding" in nodes_named["lopsided (Conv)"] and "control flow" in nodes_named["the_loop (Loop)"]

    capsys.readouterr()
    assert main(["import", str(path), "-o", str(tmp_path / "p.json"), "--report", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "the_erf (Erf): Erf has no LayerLab layer" in err and "Traceback" not in err
    assert not (tmp_path / "p.json").exists()
    assert len(json.loads((tmp_path / "r.json").read_text())["problems"]) == 3


def _with_external_weight(tmp_path, location: str):
    m = _model([helper.make_node("Conv", ["x", "w"], ["y"])], {"w": np.ones((2, 3, 1, 1))})
    w = m.graph.initializer[0]
    w.ClearField("raw_data")
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value=location)
    path = tmp_path / "model" / "m.onnx"
    path.parent.mkdir()
    path.write_bytes(m.SerializeToString())
    return path


@pytest.mark.parametrize("location", ["../../etc/passwd", "/etc/passwd", "link"])
def test_external_data_outside_the_models_folder_is_refused(tmp_path, capsys, location):
    path = _with_external_weight(tmp_path, location)
    if location == "link":  # inside the folder by name, outside by where it points
        os.symlink("/etc/passwd", path.parent / "link")
    with pytest.raises(ValueError, match="outside the model's folder") as e:
        load_model(path)
    assert str(path) in str(e.value)
    assert main(["import", str(path), "-o", str(tmp_path / "p.json")]) == 2
    assert "refusing to read it" in capsys.readouterr().err


def test_external_data_inside_the_models_folder_is_read(tmp_path):
    path = _with_external_weight(tmp_path, "w.bin")
    (path.parent / "w.bin").write_bytes(np.full(6, 0.5, dtype=np.float32).tobytes())
    res = import_onnx(path)
    assert torch.equal(res.state_dict["conv1.weight"], torch.full((2, 3, 1, 1), 0.5))


def test_an_input_with_free_sizes_needs_input_shape(tmp_path, capsys):
    m = _model([helper.make_node("Relu", ["x"], ["y"])], {}, inp=("x", [None, 3, "h", "w"]))
    path = tmp_path / "free.onnx"
    onnx.save(m, str(path))
    assert main(["import", str(path), "-o", str(tmp_path / "p.json")]) == 2
    assert "--input-shape" in capsys.readouterr().err
    assert main(["import", str(path), "-o", str(tmp_path / "p.json"), "--input-shape", "3,5,7"]) == 0
    assert load_project(tmp_path / "p.json").model.nodes[0].params["shape"] == [3, 5, 7]
