"""Distillation: the soft-target loss, and a student trained through the loop next to its from-scratch twin."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import linear_graph, small_cnn, train_tiny

from engine.compress.distill import distill_loss, distill_run
from engine.compress.errors import CompressError
from engine.project import Project, save_project
from engine.runs import open_run


def test_the_loss_is_cross_entropy_at_alpha_0_and_pure_soft_targets_at_alpha_1():
    s, t = torch.randn(8, 10), torch.randn(8, 10)
    y = torch.randint(0, 10, (8,))
    assert torch.allclose(distill_loss(s, t, y, 4.0, 0.0), F.cross_entropy(s, y))
    assert distill_loss(t, t, y, 4.0, 1.0).abs() < 1e-6  # the student already is the teacher
    assert distill_loss(s, t, y, 4.0, 1.0) > 0


def test_a_student_distills_through_the_loop_beside_its_from_scratch_baseline(tmp_path):
    train_tiny(tmp_path / "teacher", small_cnn(), limit=300)
    student = Project.model_validate({"name": "student", "model": linear_graph(), "train": {"epochs": 1}})
    save_project(student, tmp_path / "student.json")
    rep = distill_run(open_run(tmp_path / "teacher"), tmp_path / "student.json", tmp_path / "s", epochs=1,
                      baseline=True)
    assert rep["student_params"] == 7850 and rep["teacher_params"] > rep["student_params"]
    assert 0 <= rep["distilled"]["val_accuracy"] <= 1 and 0 <= rep["scratch"]["val_accuracy"] <= 1
    s = open_run(tmp_path / "s")
    assert s.project.data.limit == 300  # the teacher's split
    assert (tmp_path / "s-scratch" / "model.pt").is_file() and len(s.history()) == 1


@pytest.mark.parametrize("augment", ["teacher", "shift"])
def test_the_teacher_scores_the_images_the_student_trains_on(tmp_path, monkeypatch, augment):
    train_tiny(tmp_path / "teacher", limit=200, max_steps=2)
    run = open_run(tmp_path / "teacher")
    seen = []

    class Recording(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            seen.append(x.detach().clone())
            return self.m(x)

    teacher = Recording(run.module("model"))
    monkeypatch.setattr(run, "module", lambda role="model", which="final": teacher)
    student = Project.model_validate({"name": "student", "model": linear_graph(), "train": {"epochs": 1}})
    distill_run(run, student, tmp_path / "s", epochs=1, augment=augment)
    stored = run.bundle().train_x.flatten(1)
    first = seen[0].flatten(1)
    nearest = torch.cdist(first, stored, compute_mode="donot_use_mm_for_euclid_dist").min(dim=1).values  # each scored image against every stored one
    if augment == "teacher":
        assert nearest.max() < 1e-4  # the stored training images themselves
    else:
        assert nearest.min() > 1.0  # shifted views the teacher never trained on


def test_shift_augmentation_reaches_the_student_and_its_baseline(tmp_path):
    train_tiny(tmp_path / "teacher", limit=200, max_steps=2)
    student = Project.model_validate({"name": "student", "model": linear_graph(), "train": {"epochs": 1}})
    save_project(student, tmp_path / "student.json")
    rep = distill_run(open_run(tmp_path / "teacher"), tmp_path / "student.json", tmp_path / "s", epochs=1,
                      baseline=True, augment="shift")
    assert rep["augment"] == "shift"
    for run in ("s", "s-scratch"):
        augment = open_run(tmp_path / run).project.data.augment
        assert [(a.type, a.params["degrees"]) for a in augment] == [("affine", 10.0)]


def test_bad_settings_are_bad_input(tmp_path):
    train_tiny(tmp_path / "t", limit=100, max_steps=1)
    with pytest.raises(CompressError, match="temperature"):
        distill_run(open_run(tmp_path / "t"), tmp_path / "x.json", tmp_path / "o", temperature=0)
    with pytest.raises(CompressError, match="file not found"):
        distill_run(open_run(tmp_path / "t"), tmp_path / "x.json", tmp_path / "o")
    with pytest.raises(CompressError, match="--augment"):
        distill_run(open_run(tmp_path / "t"), tmp_path / "x.json", tmp_path / "o", augment="mixup")
