"""Help where the learner is: F1 per view, the glossary (GUI and CLI), shortcuts, about, teaching tooltips."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from studio_fakes import studio  # noqa: F401 - fixture

pytestmark = pytest.mark.gui


def test_f1_explains_the_current_view(qtbot, studio):  # noqa: F811
    win = studio("mlp")
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    win.tabs.setCurrentWidget(win.train_view)
    qtbot.keyClick(win, Qt.Key.Key_F1)
    dlg = win.help.dialog
    assert dlg.isVisible() and dlg.topic == "view:Train"
    assert "Training settings" in dlg.browser.toPlainText()
    win.tabs.setCurrentWidget(win.start_view)
    qtbot.keyClick(win, Qt.Key.Key_F1)
    assert dlg.topic == "view:Start" and "template" in dlg.browser.toPlainText()


def test_a_view_added_later_gets_its_text_from_one_entry(qtbot, studio, monkeypatch):  # noqa: F811
    from app import help as app_help

    win = studio("mlp")
    monkeypatch.setitem(app_help.VIEW_HELP, "Widgets", "<p>Everything about widgets.</p>")
    page = QLabel("a later view")
    win.tabs.addTab(page, "Widgets")
    win.tabs.setCurrentWidget(page)
    win.help.act_view.trigger()
    assert "Everything about widgets." in win.help.dialog.browser.toPlainText()


def test_glossary_explains_every_metric_the_trainers_emit():
    from engine import glossary
    from engine.train import gan, vae

    shown = [*gan.METRICS, *vae.METRICS, "fd_pca", "val_loss", "train_loss", "val_accuracy", "val_f1",
             "val_precision", "val_recall", "val_mae", "val_mse", "val_recon", "val_kl", "lr", "MACs",
             "train_steps_per_s"]
    missing = [m for m in shown if glossary.lookup(m) is None]
    assert not missing
    assert "validation set" in glossary.tooltip("val_f1")
    assert glossary.lookup("d_gz").title == "D(G(z))"


def test_glossary_shortcuts_and_about_pages(qtbot, studio):  # noqa: F811
    win = studio("mlp")
    win.help.act_glossary.trigger()
    text = win.help.dialog.browser.toPlainText()
    for word in ("D(G(z))", "fd_pca", "KL divergence", "MACs", "F1 score"):
        assert word in text
    win.help.act_shortcuts.trigger()
    text = win.help.dialog.browser.toPlainText()
    assert "Train" in text and "F5" in text and "F1" in text
    win.help.act_about.trigger()
    text = win.help.dialog.browser.toPlainText()
    assert "PyTorch" in text and "PySide6" in text


def test_layer_tooltips_are_the_registry_explanation(qtbot, studio):  # noqa: F811
    from engine.layers import get_layer

    win = studio("cnn")
    top = win.project_panel.tree.topLevelItem(0)
    items = {top.child(i).text(0): top.child(i) for i in range(top.childCount())}
    tip = items["conv1"].toolTip(0)
    assert get_layer("Conv2d").doc.split(".")[0] in tip and "Conv2d" in tip


def test_plot_titles_and_legend_entries_have_glossary_tooltips(qtbot):
    from engine import glossary
    from engine.train.events import EpochEnd, Progress
    from widgets.plots import TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.add_progress([Progress(epoch=0, step=1, global_step=1, total_steps=10, lr=1e-3, samples_per_sec=1.0,
                                 eta_s=1.0, metrics={"d_loss": 0.7, "g_loss": 1.2, "d_x": 0.6, "d_gz": 0.4})])
    plots.add_epoch(EpochEnd(epoch=0, global_step=1, lr=1e-3, wall_s=1.0, metrics={"fd_pca": 3.0}))
    plots.refresh()
    legend = plots.metric_panel.legend
    label = legend.getLabel(plots.metric_panel.curves["d_gz"])
    assert label.toolTip() == glossary.tooltip("d_gz") and "D(G(z))" in label.toolTip()
    assert "D(x)" in plots.metric_panel.plot.titleLabel.toolTip()
    assert "learning rate" in plots.lr_panel.plot.titleLabel.toolTip().lower()


def test_cli_glossary_explains_a_term(capsys):
    from engine.cli import main

    assert main(["glossary", "val_f1"]) == 0
    out = capsys.readouterr().out
    assert "F1 score" in out and "validation set" in out
    assert main(["glossary", "no_such_term"]) == 2
    assert "unknown term" in capsys.readouterr().err
