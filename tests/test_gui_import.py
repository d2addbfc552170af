"""File ▸ Import model…: an ONNX file imported on a worker thread opens in the designer; problems are
shown per node; Cancel while it runs drops the result."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, Qt, QThreadPool
from studio_fakes import studio  # noqa: F401 - fixture

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

pytestmark = pytest.mark.gui


def _write(path, nodes, inits):
    init = [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in inits.items()]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["n", 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def _tiny(path):
    r = np.random.default_rng(0)
    n = helper.make_node
    return _write(path, [n("Div", ["pixels", "s"], ["x"]), n("Conv", ["x", "net.conv.weight", "net.conv.bias"], ["c"],
                                                                pads=[1, 1, 1, 1]),
                         n("Relu", ["c"], ["r"]), n("Flatten", ["r"], ["f"]),
                         n("Gemm", ["f", "net.fc.weight", "net.fc.bias"], ["y"], transB=1)],
                  {"s": np.array(255.0), "net.conv.weight": r.standard_normal((4, 1, 3, 3)),
                   "net.conv.bias": r.standard_normal(4), "net.fc.weight": r.standard_normal((10, 256)) * 0.1,
                   "net.fc.bias": r.standard_normal(10)})


def test_an_onnx_file_imported_from_the_file_menu_opens_in_the_designer(studio, qtbot, tmp_path):  # noqa: F811
    win = studio(template="mlp", view=None)
    model = _tiny(tmp_path / "tiny.onnx")
    act = next(a for a in win.menuBar().actions()[0].menu().actions() if a.text() == "&Import model…")
    act.trigger()
    from app.import_dialog import ImportDialog

    dlg = win.findChild(ImportDialog)
    assert dlg is not None and dlg.isVisible()
    win.prompts.paths["model"] = str(model)
    dlg.browse.click()  # the file comes from the (scripted) file dialog
    assert dlg.path.text() == str(model)
    qtbot.mouseClick(dlg.import_button, Qt.MouseButton.LeftButton)
    assert dlg.running and dlg.busy.isVisible() and not dlg.import_button.isEnabled()
    assert dlg.default_project_path() == tmp_path / "tiny.json"  # beside the model
    win.prompts.paths["save"] = str(tmp_path / "tiny.json")
    with qtbot.waitSignal(dlg.imported, timeout=60_000) as got:
        pass
    assert got.args == [str(tmp_path / "tiny.json")]
    assert (tmp_path / "tiny.pt").is_file()
    assert win.doc.path == tmp_path / "tiny.json" and win.tabs.currentWidget() is win.designer
    ids = [n.id for n in win.doc.project.model.nodes]
    assert [n.type for n in win.doc.project.model.nodes] == ["Input", "Conv2d", "ReLU", "Flatten", "Linear", "Output"]
    assert ids[1] == "conv" and ids[4] == "fc"  # named after the weights (net.conv.weight)
    scene = win.designer.current_scene()
    qtbot.waitUntil(lambda: set(scene.nodes) == set(ids), timeout=5000)
    assert len(scene.edges) == 5


def test_a_model_with_unsupported_operations_shows_them_per_node_and_opens_nothing(studio, qtbot,  # noqa: F811
                                                                                   tmp_path):
    win = studio(template="mlp", view=None)
    odd = _write(tmp_path / "odd.onnx", [helper.make_node("Erf", ["pixels"], ["e"], name="the_erf"),
                                         helper.make_node("Relu", ["e"], ["y"])], {})
    dlg = win.import_model()
    dlg.path.setText(str(odd))
    win.prompts.paths["save"] = str(tmp_path / "odd.json")
    with qtbot.waitSignal(dlg.problemsShown, timeout=60_000):
        dlg.import_button.click()
    assert "the_erf (Erf): Erf has no LayerLab layer" in dlg.problems.toPlainText()
    assert "Traceback" not in dlg.status.text() + dlg.problems.toPlainText()
    assert dlg.isVisible() and not dlg.running and dlg.import_button.isEnabled()  # the user can try another file
    assert not (tmp_path / "odd.json").exists() and win.doc.project.name == "MLP digits"


def test_a_result_arriving_after_the_dialog_is_gone_is_harmless(studio, qtbot, tmp_path, monkeypatch):  # noqa: F811
    import shiboken6

    import app.import_dialog as imp

    win = studio(template="mlp", view=None)
    release, calls = threading.Event(), []
    real = imp._default_importer

    def slow_import(source, shape):
        calls.append(source)
        release.wait(30)
        return real(source, shape)

    monkeypatch.setattr(imp, "_default_importer", slow_import)
    dlg = win.import_model()
    seen = []
    dlg.imported.connect(seen.append)
    dlg.path.setText(str(_tiny(tmp_path / "tiny.onnx")))
    win.prompts.paths["save"] = str(tmp_path / "tiny.json")
    assert dlg.start()
    qtbot.waitUntil(lambda: bool(calls), timeout=5000)
    dlg.reject()  # Cancel while the import runs: the dialog closes and goes away at once
    qtbot.waitUntil(lambda: not shiboken6.isValid(dlg), timeout=5000)
    release.set()
    assert QThreadPool.globalInstance().waitForDone(60_000)
    QCoreApplication.processEvents()  # deliver the (now unwanted) result
    assert seen == [] and not (tmp_path / "tiny.json").exists() and win.doc.project.name == "MLP digits"


def test_cancel_while_importing_closes_at_once_and_drops_the_result(studio, qtbot, tmp_path):  # noqa: F811
    from app.import_dialog import ImportDialog

    win = studio(template="mlp", view=None)
    release, calls = threading.Event(), []

    def slow_import(source, shape):
        calls.append(source)
        release.wait(30)
        from engine.graph.onnx_import import import_onnx

        return import_onnx(source, shape)

    dlg = ImportDialog(win.prompts, win, tmp_path, importer=slow_import)  # kept alive: only Cancel stops it
    seen = []
    dlg.imported.connect(seen.append)
    dlg.show()
    dlg.path.setText(str(_tiny(tmp_path / "tiny.onnx")))
    win.prompts.paths["save"] = str(tmp_path / "tiny.json")
    assert dlg.start()
    qtbot.waitUntil(lambda: bool(calls), timeout=5000)
    dlg.reject()
    assert not dlg.isVisible()
    release.set()
    assert QThreadPool.globalInstance().waitForDone(60_000)
    QCoreApplication.processEvents()  # deliver the (now unwanted) result
    assert seen == [] and not (tmp_path / "tiny.json").exists() and win.doc.project.name == "MLP digits"


def test_a_python_model_with_two_inputs_imports_from_the_dialog_with_one_shape_per_input(studio, qtbot,  # noqa: F811
                                                                                          tmp_path):
    from engine.graph.codegen import class_name_for, python_source
    from engine.templates import load_template

    win = studio(template="mlp", view=None)
    cgan = load_template("cgan")
    gpath = "models.generator"
    cls = class_name_for(cgan.name + " generator")
    (tmp_path / "gen.py").write_text(python_source(cgan, gpath, class_name=cls))
    dlg = win.import_model()
    dlg.path.setText(str(tmp_path / "gen.py"))  # the kind follows the suffix
    assert dlg.current_kind() == "python"
    dlg.class_name.setText(cls)
    latent = load_template("cgan").graph_at(gpath).nodes[0].params["shape"][0]
    dlg.shape.setText(f"{latent};")  # the latent's shape; the class label (empty) takes indices
    win.prompts.paths["save"] = str(tmp_path / "gen.json")
    with qtbot.waitSignal(dlg.imported, timeout=60_000):
        dlg.import_button.click()
    types = [n.type for n in win.doc.project.model.nodes]
    assert types.count("Input") == 2 and "Embedding" in types and "ConvTranspose2d" in types
