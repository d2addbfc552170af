"""Designer test kit: a DesignerView over a real DocumentController and AnalysisService, palette
drops and port-to-port wiring by real mouse events."""

from mouse import drag
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from app.analysis import AnalysisService
from app.designer import DesignerView
from app.document import DocumentController
from engine.project import parse_project


def empty_project():
    return parse_project({"format": "layerlab-project", "version": 2, "name": "empty",
                          "model": {"nodes": [], "edges": []}, "train": {"epochs": 1}})


def designer_factory(qtbot, tmp_path):
    """``make(project=None) -> DesignerView``, each with its own document (use it from a fixture)."""
    def make(project=None):
        doc = DocumentController()
        service = AnalysisService(doc)
        answers = []
        dv = DesignerView(doc, service, blocks_dir=tmp_path / "blocks",
                          ask_text=lambda title, label, default: answers.pop(0) if answers else default)
        dv.answers = answers
        qtbot.addWidget(dv)
        dv.resize(1300, 850)
        dv.show()
        doc.replace(project or empty_project(), None)
        qtbot.wait(60)  # the first layout and the fit-on-open run
        view = dv.current_view()
        view.setSceneRect(-600, -400, 2400, 2400)
        view.resetTransform()
        view.centerOn(QPointF(300, 300))
        QApplication.processEvents()
        return dv
    return make


def settle(qtbot, dv):
    """Wait for the debounced analysis to catch up with the document."""
    svc = dv.analysis
    with qtbot.waitSignal(svc.analyzed, timeout=3000, raising=False):
        pass
    QApplication.processEvents()


def drop_layer(dv, type_name, scene_pt):
    md = dv.palette.tree.mimeData([dv.palette.find_item(type_name)])
    view = dv.current_view()
    p = QPointF(view.mapFromScene(QPointF(*scene_pt)))
    enter = QDragEnterEvent(p.toPoint(), Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), enter)
    drop = QDropEvent(p, Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), drop)
    QApplication.processEvents()
    g = dv.doc.project.model
    return g.nodes[-1].id


def wire(dv, src, dst, port=0):
    scene, view = dv.current_scene(), dv.current_view()
    a = scene.nodes[src].out_anchor()
    b = scene.nodes[dst].in_anchor(port)
    drag(view, a, b)
