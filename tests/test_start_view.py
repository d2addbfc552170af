"""The Start tab says what to do next, and its buttons do it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from studio_fakes import studio  # noqa: F401 - fixture

pytestmark = pytest.mark.gui


def test_a_start_without_a_project_shows_the_start_page(qtbot, studio):  # noqa: F811
    win = studio(template=None)
    win.open_initial(None)
    assert win.tabs.currentWidget() is win.start_view
    assert win.doc.project is not None  # Train has a project to train at once


def test_a_template_opens_and_training_is_next(qtbot, studio):  # noqa: F811
    win = studio(template=None)
    win.open_initial(None)
    sv = win.start_view
    row = next(i for i in range(sv.template_list.count())
               if sv.template_list.item(i).data(Qt.ItemDataRole.UserRole) == "dcgan")
    sv.template_list.setCurrentRow(row)
    qtbot.mouseClick(sv.template_btn, Qt.MouseButton.LeftButton)
    assert win.doc.project.train.task == "gan"
    assert win.tabs.currentWidget() is win.train_view


def test_new_empty_project_has_only_input_and_output(qtbot, studio):  # noqa: F811
    win = studio(template="mlp")
    win.tabs.setCurrentWidget(win.start_view)
    qtbot.mouseClick(win.start_view.empty_btn, Qt.MouseButton.LeftButton)
    g = win.doc.project.model
    assert [n.type for n in g.nodes] == ["Input", "Output"] and not g.edges
    assert win.doc.path is None


def test_view_buttons_appear_only_for_views_the_window_has(qtbot, studio):  # noqa: F811
    win = studio(template="mlp")
    sv = win.start_view
    from app.start_view import DATA_TAB, DESIGNER_TAB, find_tab

    win.tabs.setCurrentWidget(sv)
    assert sv.designer_btn.isVisible() == (find_tab(win.tabs, *DESIGNER_TAB) >= 0)
    assert sv.data_btn.isVisible() == (find_tab(win.tabs, *DATA_TAB) >= 0)
    if find_tab(win.tabs, *DATA_TAB) >= 0:
        qtbot.mouseClick(sv.data_btn, Qt.MouseButton.LeftButton)
        assert win.tabs.tabText(win.tabs.currentIndex()) == "Data"
        win.tabs.setCurrentWidget(sv)
    i = find_tab(win.tabs, *DESIGNER_TAB)
    if i >= 0:  # the real Designer has landed: take it out to see the button go
        win.tabs.removeTab(i)
        win.tabs.setCurrentWidget(win.train_view)
        win.tabs.setCurrentWidget(sv)
    assert not sv.designer_btn.isVisible()
    designer = QLabel("designer")
    designer.setObjectName("designerView")
    win.tabs.addTab(designer, "Designer")
    win.tabs.setCurrentWidget(win.train_view)
    win.tabs.setCurrentWidget(sv)  # shown again: looks the views up again
    assert sv.designer_btn.isVisible()
    qtbot.mouseClick(sv.designer_btn, Qt.MouseButton.LeftButton)
    assert win.tabs.currentWidget() is designer


def test_the_start_page_can_be_turned_off(qtbot, studio):  # noqa: F811
    win = studio(template=None)
    win.start_view.show_check.setChecked(False)
    win2 = studio(template=None)
    win2.open_initial(None)
    assert win2.tabs.currentWidget() is not win2.start_view
    assert not win2.start_view.show_check.isChecked()


def test_cli_new_can_start_empty(tmp_path):
    from engine.cli import main
    from engine.project import load_project

    out = tmp_path / "empty.json"
    assert main(["new", "--template", "empty", "-o", str(out)]) == 0
    assert [n.type for n in load_project(out).model.nodes] == ["Input", "Output"]
