"""The studio's document: graph edits are undo steps with fine-grained signals; full undo restores bytes."""

from __future__ import annotations

import pytest

from app.analysis import AnalysisService
from app.document import DocumentController
from engine.edits import EditError
from engine.project import dumps_project
from engine.templates import load_template

pytestmark = pytest.mark.gui


@pytest.fixture
def doc(qtbot):
    d = DocumentController()
    d.replace(load_template("cnn"), None)
    return d


def test_edits_emit_fine_grained_signals_then_one_graph_changed(doc):
    seen = []
    for name in ("nodeAdded", "nodeRemoved", "nodeChanged", "nodeMoved", "edgeAdded", "edgeRemoved", "graphChanged"):
        getattr(doc, name).connect(lambda *a, n=name: seen.append((n, *[str(getattr(x, "src", x)) for x in a])))
    nid = doc.add_node("model", "ReLU", pos=(5, 5))
    doc.connect("model", "relu2", nid)
    assert seen == [("nodeAdded", "model", nid), ("graphChanged", "model"),
                    ("edgeAdded", "model", "relu2"), ("graphChanged", "model")]
    seen.clear()
    doc.undo_stack.undo()
    assert seen == [("edgeRemoved", "model", "relu2"), ("graphChanged", "model")]


def test_undoing_everything_restores_the_document_byte_for_byte(doc):
    start = dumps_project(doc.project)
    nid = doc.add_node("model", "Dropout")
    doc.set_param("model", nid, "p", 0.3)
    doc.move_nodes("model", {nid: (100, 40)})
    doc.remove_nodes("model", ["relu1"])
    doc.set_field("train.epochs", 7)
    doc.paste("model", {"format": "layerlab-fragment", "version": 1,
                        "nodes": [{"id": "conv1", "type": "Conv2d", "params": {}}], "edges": []})
    end = dumps_project(doc.project)
    while doc.undo_stack.canUndo():
        doc.undo_stack.undo()
    assert dumps_project(doc.project) == start and not doc.dirty
    while doc.undo_stack.canRedo():
        doc.undo_stack.redo()
    assert dumps_project(doc.project) == end


def test_consecutive_edits_of_one_param_are_one_undo_step(doc):
    before = doc.undo_stack.count()
    for v in (33, 34, 35):
        doc.set_param("model", "conv1", "out_channels", v)
    assert doc.undo_stack.count() == before + 1
    doc.undo_stack.undo()
    assert doc.project.graph_at("model").node("conv1").params["out_channels"] == 32


def test_a_refused_edit_changes_nothing_and_is_not_an_undo_step(doc):
    start = dumps_project(doc.project)
    with pytest.raises(EditError, match="cycle"):
        doc.connect("model", "fc2", "conv1")
    assert dumps_project(doc.project) == start and doc.undo_stack.count() == 0


def test_analysis_follows_edits(doc, qtbot):
    service = AnalysisService(doc)
    service.run_now()
    assert service.results["model"].ok
    with qtbot.waitSignal(service.analyzed, timeout=2000):
        doc.remove_nodes("model", ["flatten"])
        doc.connect("model", "pool2", "fc1")
    errs = service.results["model"].errors_for("fc1")
    assert errs and errs[0].kind == "feature_map_into_linear" and errs[0].fixes
    with qtbot.waitSignal(service.analyzed, timeout=2000):
        doc.apply(errs[0].fixes[0].as_edit(), errs[0].fixes[0].title)
    assert service.results["model"].ok
