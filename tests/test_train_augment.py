"""Batch-wise on-device augmentation and the batching helpers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.data.augment import AugmentError, build_augment, build_normalize, preview
from engine.data.loader import StreamBatches, TensorBatches, make_batches
from engine.project import Project
from engine.train.events import Error
from engine.train.loop import TrainLoop
from engine.train.supervised import SupervisedTrainer


def blob(n: int = 8, c: int = 1) -> torch.Tensor:
    x = torch.zeros(n, c, 28, 28)
    x[:, :, 8:20, 5:11] = 1.0  # an off-centre bar: any flip/rotation/shift moves it
    return x


@pytest.mark.parametrize("spec", [
    {"type": "random_rotation", "params": {"degrees": 0}},
    {"type": "horizontal_flip", "params": {"p": 0.0}},
    {"type": "random_resized_crop", "params": {"scale": [1.0, 1.0], "ratio": [1.0, 1.0]}},
    {"type": "affine", "params": {"translate": [0, 0], "scale": [1, 1]}},
    {"type": "color_jitter", "params": {"brightness": 0, "contrast": 0}},
])
def test_neutral_settings_leave_images_unchanged(spec):
    x = blob()
    aug = build_augment([spec], 1)
    assert aug is not None
    assert torch.allclose(aug(x), x, atol=1e-5)


def test_flips_are_exact_and_per_sample():
    x = blob(64)
    torch.manual_seed(0)
    y = build_augment([{"type": "horizontal_flip"}], 1)(x)
    flipped = torch.tensor([torch.equal(a, b) for a, b in zip(y, x.flip(3))])
    same = torch.tensor([torch.equal(a, b) for a, b in zip(y, x)])
    assert torch.all(flipped | same) and flipped.any() and same.any()
    y = build_augment([{"type": "vertical_flip", "params": {"p": 1.0}}], 1)(x)
    assert torch.equal(y, x.flip(2))


@pytest.mark.parametrize("spec", [
    {"type": "random_rotation", "params": {"degrees": 30}},
    {"type": "random_resized_crop", "params": {"scale": [0.5, 0.9]}},
    {"type": "affine", "params": {"degrees": 10, "translate": [0.2, 0.2], "scale": [0.8, 1.2], "shear": 10}},
    {"type": "color_jitter", "params": {"brightness": 0.5, "contrast": 0.5}},
])
def test_random_transforms_differ_per_sample(spec):
    x = blob(16) * 0.8 + 0.1
    torch.manual_seed(1)
    y = build_augment([spec], 1)(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert not torch.allclose(y, x)
    distinct = {tuple(v.flatten()[::7].mul(1000).round().tolist()) for v in y}
    assert len(distinct) == 16  # every sample got its own parameters
    assert y.min() >= -1e-6 and y.max() <= 1 + 1e-6


def test_rgb_saturation_and_grey_rejection():
    x = torch.rand(4, 3, 16, 16)
    y = build_augment([{"type": "color_jitter", "params": {"saturation": 0.5}}], 3)(x)
    assert y.shape == x.shape
    with pytest.raises(AugmentError, match="saturation"):
        build_augment([{"type": "color_jitter", "params": {"saturation": 0.5}}], 1)


@pytest.mark.parametrize("spec,match", [
    ({"type": "random_rotation", "params": {"degree": 3}}, r"data.augment\[0\].params.degree: unknown"),
    ({"type": "horizontal_flip", "params": {"p": 2}}, r"params.p: must be <= 1"),
    ({"type": "affine", "params": {"scale": [2, 1]}}, "low must not exceed high"),
    ({"type": "normalize", "params": {"std": [0]}}, "std must be > 0"),
    ({"type": "blur"}, "unknown augmentation"),
])
def test_bad_params_name_the_path(spec, match):
    with pytest.raises(AugmentError, match=match):
        build_augment([spec], 1)
        build_normalize([spec], 1)


def test_normalize_roundtrip():
    norm, denorm = build_normalize([{"type": "normalize", "params": {"mean": [0.1307], "std": [0.3081]}}], 1)
    x = torch.rand(4, 1, 8, 8)
    y = norm(x)
    assert torch.allclose(y, (x - 0.1307) / 0.3081, atol=1e-6)
    assert torch.allclose(denorm(y), x, atol=1e-6)
    assert build_augment([{"type": "normalize"}], 1) is None  # deterministic: not a random transform
    with pytest.raises(AugmentError, match="1 or 3"):
        build_normalize([{"type": "normalize", "params": {"mean": [0.1, 0.2]}}], 3)


def test_preview_is_seeded():
    x = blob(4)
    spec = [{"type": "affine", "params": {"degrees": 20}}]
    assert torch.equal(preview(x, spec, seed=3), preview(x, spec, seed=3))
    assert not torch.equal(preview(x, spec, seed=3), preview(x, spec, seed=4))


@pytest.mark.parametrize("typ", ["random_rotation", "horizontal_flip", "vertical_flip", "random_resized_crop",
                                 "affine", "color_jitter", "normalize"])
def test_each_augmentation_in_the_loop(typ, tmp_path):
    p = Project.model_validate({"name": "a", "data": {"limit": 200, "batch_size": 32, "augment": [{"type": typ}]},
                                "train": {"device": "cpu", "max_steps": 2}})
    events: list = []
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    fin = TrainLoop(p, tmp_path, emit=events.append, trainer=SupervisedTrainer(p, model)).run()
    assert fin.status == "completed", [e for e in events if isinstance(e, Error)]


def test_tensor_and_stream_batches_agree():
    x = torch.arange(50, dtype=torch.float32).view(50, 1, 1, 1)
    y = torch.arange(50)
    a = TensorBatches(x, y, 8, torch.device("cpu"), seed=4)
    b = StreamBatches(x, y, 8, torch.device("cpu"), seed=4)
    assert a.steps_per_epoch == b.steps_per_epoch == 7
    for _ in range(2):  # two epochs: different permutations, the same in both
        ea, eb = list(a.epoch()), list(b.epoch())
        assert len(ea) == 7
        for (xa, ya), (xb, yb) in zip(ea, eb):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
            assert torch.equal(xa.view(-1), ya.float())
    seen = torch.cat([yb for _, yb in a.epoch()])
    assert sorted(seen.tolist()) == list(range(50))  # every sample once per epoch


def test_mid_epoch_state_rebuilds_the_same_batches():
    x, y = torch.randn(40, 2), torch.arange(40)
    a = TensorBatches(x, y, 8, torch.device("cpu"), seed=1)
    it = a.epoch()
    first = [next(it)[1] for _ in range(2)]
    state = a.state_dict(mid_epoch=True)
    rest = [yb for _, yb in it]
    b = TensorBatches(x, y, 8, torch.device("cpu"), seed=99)
    b.load_state_dict(state)
    again = [yb for _, yb in b.epoch(start_step=2)]
    assert len(first) + len(rest) == 5
    assert all(torch.equal(u, v) for u, v in zip(rest, again))


def test_make_batches_streams_large_data_or_workers():
    x, y = torch.zeros(10, 4), torch.zeros(10, dtype=torch.long)
    assert not make_batches(x, y, 4, torch.device("cpu")).streaming
    assert make_batches(x, y, 4, torch.device("cpu"), limit_bytes=16).streaming
    assert make_batches(x, y, 4, torch.device("cpu"), num_workers=1).streaming


def test_random_erasing_blanks_one_rectangle_per_chosen_sample():
    x = torch.ones(64, 1, 20, 20)
    aug = build_augment([{"type": "random_erasing", "params": {"p": 0.5, "scale": [0.1, 0.2]}}], 1)
    out = aug(x, torch.Generator().manual_seed(0))
    erased = (out == 0).flatten(1).sum(1)
    frac = erased.float() / 400
    assert 10 < int((erased > 0).sum()) < 54  # about half the samples
    hit = frac[erased > 0]
    assert hit.min() > 0.03 and hit.max() < 0.3  # one rectangle of about the asked area
    with pytest.raises(AugmentError, match=r"data.augment\[0\].params.p"):
        build_augment([{"type": "random_erasing", "params": {"p": 2}}], 1)
