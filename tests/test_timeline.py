"""Sample timeline (bounded on disk, oldest thinned first, atomic index, GIF/MP4 export) and image grids."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.train.gridutil import (
    grid_shape,
    interleave_rows,
    make_grid,
    mean_pairwise_distance,
    read_png,
    save_png,
)
from engine.train.timeline import Frame, Timeline, TimelineError, frame_name, mp4_available, thin


def frame(i: int) -> np.ndarray:
    img = np.zeros((6, 8), np.uint8)
    img[:, i % 8] = 255
    img[0, 0] = i % 256
    return img


def test_thin_keeps_first_and_newest_and_drops_oldest_half():
    frames = [Frame(0, i, frame_name(0, i)) for i in range(11)]
    kept, dropped = thin(frames, 10)
    steps = [f.global_step for f in kept]
    assert len(kept) <= 10 and steps[0] == 0 and steps[-1] == 10
    assert all(f.global_step < 5 for f in dropped)  # only the older half lost frames
    assert {f.global_step for f in kept} | {f.global_step for f in dropped} == set(range(11))
    assert thin(frames[:3], 2)[0] == [frames[0], frames[2]]
    with pytest.raises(ValueError):
        thin(frames, 1)


def test_timeline_stays_bounded_and_keeps_newest(tmp_path):
    tl = Timeline(tmp_path / "samples", max_frames=10)
    for i in range(1, 101):
        tl.add(frame(i), epoch=i // 10, global_step=i)
        assert len(tl) <= 10
    steps = [f.global_step for f in tl.frames()]
    assert steps[-1] == 100 and steps[0] == 1 and steps == sorted(steps)
    gaps = np.diff(steps)
    assert gaps[0] > gaps[-1]  # older history is sparser than the recent one
    on_disk = sorted(p.name for p in (tmp_path / "samples").glob("*.png"))
    assert on_disk == sorted(f.file for f in tl.frames())
    index = json.loads((tmp_path / "samples" / "index.json").read_text())
    assert [f["global_step"] for f in index["frames"]] == steps and index["max_frames"] == 10
    assert np.array_equal(read_png(tl.paths()[-1]), frame(100))
    again = Timeline.open(tmp_path / "samples")
    assert again.frames() == tl.frames()


def test_state_dict_restores_and_removes_later_frames(tmp_path):
    tl = Timeline(tmp_path, max_frames=50)
    for i in range(3):
        tl.add(frame(i), 0, i)
    state = tl.state_dict()
    tl.add(frame(3), 0, 3)  # written after the checkpoint
    resumed = Timeline(tmp_path, max_frames=50)
    resumed.load_state_dict(state)
    assert [f.global_step for f in resumed.frames()] == [0, 1, 2]
    assert not (tmp_path / frame_name(0, 3)).exists()


def test_open_errors(tmp_path):
    with pytest.raises(TimelineError, match="no sample timeline"):
        Timeline.open(tmp_path)
    (tmp_path / "index.json").write_text("{}")
    with pytest.raises(TimelineError, match="not a LayerLab timeline"):
        Timeline.open(tmp_path)


def test_gif_export_is_multi_frame(tmp_path):
    import imageio.v3 as iio

    tl = Timeline(tmp_path / "s", max_frames=20)
    for i in range(4):
        tl.add(frame(i), 0, i)
    out = tl.export_gif(tmp_path / "run.gif", fps=4)
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == 4 and frames.shape[1:3] == (6, 8)
    with pytest.raises(TimelineError, match="no frames"):
        Timeline(tmp_path / "empty").export_gif(tmp_path / "x.gif")


def test_mp4_export_needs_ffmpeg_or_works(tmp_path):
    tl = Timeline(tmp_path / "s", max_frames=20)
    for i in range(3):
        tl.add(np.repeat(frame(i)[:, :, None], 3, 2), 0, i)
    if mp4_available():
        out = tl.export_mp4(tmp_path / "run.mp4")
        assert out.stat().st_size > 0
    else:
        with pytest.raises(TimelineError, match="imageio-ffmpeg"):
            tl.export_mp4(tmp_path / "run.mp4")


def test_make_grid_shapes_and_values():
    x = torch.zeros(10, 1, 4, 5)
    x[3] = 1.0
    g = make_grid(x, 5)
    assert g.dtype == np.uint8 and g.shape == (2 * 6 + 2, 5 * 7 + 2)
    assert g[2:6, 2 + 3 * 7 : 2 + 3 * 7 + 5].min() == 255 and g[2:6, 2:7].max() == 0
    rgb = make_grid(torch.rand(4, 3, 4, 4))
    assert rgb.shape == (2 * 6 + 2, 2 * 6 + 2, 3)
    clipped = make_grid(torch.full((1, 1, 2, 2), 3.0), value_range=(-1, 1), padding=0)
    assert clipped.tolist() == [[255, 255], [255, 255]]
    assert grid_shape(10) == (3, 4) and grid_shape(3, 10) == (1, 3)
    with pytest.raises(ValueError, match="channels"):
        make_grid(torch.zeros(2, 2, 4, 4))


def test_interleave_rows_and_png_round_trip(tmp_path):
    a, b = torch.zeros(4, 1, 2, 2), torch.ones(4, 1, 2, 2)
    mixed = interleave_rows(a, b, 2)
    assert [float(t.mean()) for t in mixed] == [0, 0, 1, 1, 0, 0, 1, 1]
    img = make_grid(mixed, 2)
    save_png(tmp_path / "g.png", img)
    assert np.array_equal(read_png(tmp_path / "g.png"), img)
    assert mean_pairwise_distance(torch.zeros(5, 3)) == 0.0
    assert mean_pairwise_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)
