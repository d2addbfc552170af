"""Numeric fields read what people type, refuse visibly, and never rewrite the document on their own.

Typed into the real Train view with real key events."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from studio_fakes import studio  # noqa: F401 - fixture

pytestmark = pytest.mark.gui


def type_into(qtbot, field, text: str, key=Qt.Key.Key_Return) -> None:
    field.edit.setFocus()
    field.edit.selectAll()
    qtbot.keyClicks(field.edit, text) if text else qtbot.keyClick(field.edit, Qt.Key.Key_Backspace)
    if key is not None:
        qtbot.keyClick(field.edit, key)


@pytest.mark.parametrize("typed, expected", [("1e-4", 1e-4), ("0.0001", 1e-4), ("3e-4", 3e-4), ("1e-7", 1e-7),
                                             ("2", 2.0)])
def test_learning_rate_is_read_exactly_as_typed(qtbot, studio, typed, expected):  # noqa: F811
    win = studio("mlp")
    tv = win.train_view
    with qtbot.waitSignal(tv.lr_field.committed):
        type_into(qtbot, tv.lr_field, typed)
    assert win.doc.project.train.optimizer.lr == expected
    assert tv.lr_field.text() == typed  # what the user typed stays on screen
    assert tv.lr_field.error() == ""


def test_negative_epochs_are_refused_with_a_message_and_the_document_is_unchanged(qtbot, studio):  # noqa: F811
    win = studio("mlp")
    tv = win.train_view
    before = win.doc.project.train.epochs
    with qtbot.waitSignal(tv.epochs_field.refused):
        type_into(qtbot, tv.epochs_field, "-5")
    assert win.doc.project.train.epochs == before
    assert win.doc.undo_stack.count() == 0 and not win.isWindowModified()
    assert tv.epochs_field.text() == "-5"  # not silently turned into 5
    assert "at least 1" in tv.epochs_field.error()
    assert tv.epochs_field.error_label.isVisible()


@pytest.mark.parametrize("typed, words", [("abc", "not a number"), ("0", "greater than 0"), ("11", "at most 10"),
                                          ("", "enter a number")])
def test_learning_rate_refusals_are_visible(qtbot, studio, typed, words):  # noqa: F811
    win = studio("mlp")
    tv = win.train_view
    before = win.doc.project.train.optimizer.lr
    type_into(qtbot, tv.lr_field, typed)
    assert words in tv.lr_field.error()
    assert tv.lr_field.error_label.isVisible()
    assert win.doc.project.train.optimizer.lr == before
    assert tv.lr_field.text() == typed


def test_fractional_epochs_and_batch_size_are_refused(qtbot, studio):  # noqa: F811
    win = studio("mlp")
    tv = win.train_view
    type_into(qtbot, tv.epochs_field, "2.5")
    assert "whole number" in tv.epochs_field.error()
    type_into(qtbot, tv.batch_field, "0")
    assert "at least 1" in tv.batch_field.error()
    assert win.doc.undo_stack.count() == 0


def test_leaving_the_field_commits_and_escape_reverts(qtbot, studio):  # noqa: F811
    win = studio("mlp")
    tv = win.train_view
    win.activateWindow()
    qtbot.waitUntil(lambda: tv.window().isActiveWindow())
    type_into(qtbot, tv.epochs_field, "17", key=None)
    assert win.doc.project.train.epochs != 17
    with qtbot.waitSignal(tv.epochs_field.committed):
        tv.batch_field.edit.setFocus()  # focus-out of epochs
        qtbot.waitUntil(lambda: tv.batch_field.edit.hasFocus())
    assert win.doc.project.train.epochs == 17
    type_into(qtbot, tv.batch_field, "-1")
    assert tv.batch_field.error()
    qtbot.keyClick(tv.batch_field.edit, Qt.Key.Key_Escape)
    assert tv.batch_field.error() == "" and tv.batch_field.text() == str(win.doc.project.data.batch_size)


def test_undo_shows_the_document_value_again(qtbot, studio):  # noqa: F811
    win = studio("mlp")
    tv = win.train_view
    old = win.doc.project.train.optimizer.lr
    type_into(qtbot, tv.lr_field, "1e-4")
    win.act_undo.trigger()
    assert win.doc.project.train.optimizer.lr == old
    assert float(tv.lr_field.text()) == old


def test_gan_fields_take_the_gan_optimizers_limits_and_paths(qtbot, studio):  # noqa: F811
    win = studio("dcgan")
    tv = win.train_view
    type_into(qtbot, tv.lr_field, "1e-5")
    type_into(qtbot, tv.lr_d_field, "4e-4")
    g = win.doc.project.train.gan
    assert g.g_optimizer.lr == 1e-5 and g.d_optimizer.lr == 4e-4
    assert tv.settings_form.labelForField(tv.lr_field).text() == "G learning rate"


def test_limits_come_from_the_document_validation():
    from engine.project import Project
    from widgets.fields import Limits, limits_for, parse_number

    lr = limits_for(Project, "train.optimizer.lr")
    assert (lr.kind, lr.gt, lr.le) == (float, 0.0, 10.0)
    ep = limits_for(Project, "train.epochs")
    assert (ep.kind, ep.ge, ep.le) == (int, 1, 100000)
    ms = limits_for(Project, "train.max_steps")
    assert ms.optional and parse_number("", ms) == (None, None)
    assert limits_for(Project, "train.gan.d_optimizer.lr").gt == 0.0
    assert parse_number("1e3", ep) == (1000, None)
    assert parse_number("64", Limits(kind=int), validator=lambda v: "must be even" if v % 2 else None) == (64, None)
    assert parse_number("63", Limits(kind=int), validator=lambda v: "must be even" if v % 2 else None)[1] == "must be even"
