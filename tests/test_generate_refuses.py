"""``layerlab generate`` never writes NaN pictures with exit 0 and refuses impossible requests before any work."""

from __future__ import annotations

import pytest
import torch
from helpers import chain

import engine.generate as gen_mod
from engine.cli import main
from engine.project import Project, dumps_project
from engine.train.gan import compile_role

SIDE = 8


def _gan() -> Project:
    g = chain(("noise", "Input", {"shape": [4]}), ("fc", "Linear", {"out_features": SIDE * SIDE}),
              ("shape", "Reshape", {"shape": [1, SIDE, SIDE]}), ("tanh", "Tanh", {}), ("out", "Output", {}))
    d = chain(("image", "Input", {"shape": [1, SIDE, SIDE]}), ("flat", "Flatten", {}),
              ("logit", "Linear", {"out_features": 1}), ("out", "Output", {}))
    return Project.model_validate({"name": "g", "models": {"generator": g, "discriminator": d},
                                   "train": {"task": "gan", "gan": {"latent_dim": 4, "grid": 2}}})


@pytest.fixture
def files(tmp_path):
    project = _gan()
    pf = tmp_path / "g.json"
    pf.write_text(dumps_project(project))
    sd = compile_role(project, "generator").state_dict()
    good = tmp_path / "good.pt"
    torch.save({"generator": sd}, good)
    nan_sd = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in sd.items()}
    bad = tmp_path / "nan.pt"
    torch.save({"generator": nan_sd}, bad)
    return pf, good, bad


def test_a_nan_generator_exits_1_with_a_message_and_writes_nothing(files, tmp_path, capsys):
    pf, _, bad = files
    for out in ("o.png", "o.npy"):
        assert main(["generate", str(pf), "-c", str(bad), "-o", str(tmp_path / out)]) == 1
        err = capsys.readouterr().err
        assert "NaN" in err and str(bad) in err and "Traceback" not in err
        assert not (tmp_path / out).exists()


def test_a_good_generator_still_works(files, tmp_path):
    pf, good, _ = files
    assert main(["generate", str(pf), "-c", str(good), "-n", "4", "-o", str(tmp_path / "o.png")]) == 0


def test_huge_n_and_a_folder_output_are_refused_before_any_work(files, tmp_path, capsys, monkeypatch):
    pf, good, _ = files

    def no_work(*a, **k):
        raise AssertionError("generation started")

    monkeypatch.setattr(gen_mod, "generate", no_work)
    monkeypatch.setattr(gen_mod, "load_checkpoint", no_work)
    with pytest.raises(SystemExit) as stop:
        main(["generate", str(pf), "-c", str(good), "-n", "200000", "-o", str(tmp_path / "o.npy")])
    assert stop.value.code == 2 and "10,000" in capsys.readouterr().err
    folder = tmp_path / "pics.png"
    folder.mkdir()
    assert main(["generate", str(pf), "-c", str(good), "-o", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "-o" in err and "folder" in err and str(folder) in err
    with pytest.raises(SystemExit) as stop:
        main(["generate", str(pf), "-c", str(good), "--seed", str(2**70), "-o", str(tmp_path / "x.png")])
    assert stop.value.code == 2
