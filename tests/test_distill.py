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


def test_bad_settings_are_bad_input(tmp_path):
    train_tiny(tmp_path / "t", limit=100, max_steps=1)
    with pytest.raises(CompressError, match="temperature"):
        distill_run(open_run(tmp_path / "t"), tmp_path / "x.json", tmp_path / "o", temperature=0)
    with pytest.raises(CompressError, match="file not found"):
        distill_run(open_run(tmp_path / "t"), tmp_path / "x.json", tmp_path / "o")
