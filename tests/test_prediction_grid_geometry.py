"""The predictions grid's geometry travels with the image: every tile shows exactly one image, whatever
the image size, channel count, or a count that does not fill the last row."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.train.events import Samples
from engine.train.gridutil import images_geometry, make_grid

pytestmark = pytest.mark.gui

CASES = [((1, 28, 28), 9), ((1, 28, 28), 16), ((3, 32, 32), 9), ((3, 32, 48), 5), ((1, 8, 8), 1), ((1, 20, 12), 7)]


def _batch(shape, n):
    """n images, image i filled with a value unique to it (and per channel, for colour)."""
    c, h, w = shape
    x = torch.zeros(n, c, h, w)
    for i in range(n):
        for ch in range(c):
            x[i, ch] = (20 + 12 * i + 5 * ch) / 255.0
    return x


def _value(i, c):
    return tuple(20 + 12 * i + 5 * ch for ch in range(c)) if c == 3 else (20 + 12 * i,) * 3


@pytest.mark.parametrize("shape, n", CASES)
def test_engine_grid_says_where_each_image_is(shape, n):
    x = _batch(shape, n)
    img = make_grid(x, 4, padding=2)
    geo = images_geometry(x, 4, 2)
    assert geo.image_size() == img.shape[:2]
    assert geo.cols == min(4, n) and geo.n == n
    for i in range(n):
        y0, x0, h, w = geo.cell_box(i)
        cell = img[y0:y0 + h, x0:x0 + w]
        want = np.array(_value(i, shape[0]) if shape[0] == 3 else _value(i, 1)[0])
        assert (cell == want).all(), i


@pytest.mark.parametrize("shape, n", CASES)
def test_every_tile_shows_one_whole_image(qtbot, shape, n):
    from widgets.predictions import render_predictions, tile_metrics

    x = _batch(shape, n)
    img, geo = make_grid(x, 4, padding=2), images_geometry(x, 4, 2)
    labels = tuple(range(n))
    predicted = tuple((i + (i % 2)) % 10 for i in range(n))  # every other one wrong
    out = render_predictions(img, labels, predicted, grid=geo, cell_px=48)
    m = tile_metrics(shape[1], shape[2], 48, two_lines=True)
    for i in range(n):
        tx, ty = m.image_origin(i, geo.cols)
        want = _value(i, shape[0])
        for py, px in ((m.px_h // 2, m.px_w // 2), (5, 5), (m.px_h - 6, m.px_w - 6), (5, m.px_w - 6)):
            assert tuple(int(v) for v in out[ty + py, tx + px]) == want, (i, py, px)


def test_sample_grid_draws_with_the_events_geometry(qtbot):
    from widgets.predictions import render_predictions
    from widgets.sample_grid import SampleGrid

    x = _batch((1, 28, 28), 9)
    img, geo = make_grid(x, 4, padding=2), images_geometry(x, 4, 2)
    w = SampleGrid()
    qtbot.addWidget(w)
    ev = Samples(kind="predictions", epoch=0, global_step=3, image=img, labels=tuple(range(9)),
                 predicted=tuple(range(9)), grid=geo)
    w.add_samples(ev)
    shown = w.frames("predictions")[-1].image
    assert np.array_equal(shown, render_predictions(img, ev.labels, ev.predicted, grid=geo))


def test_grid_geometry_survives_pickling():
    import pickle

    x = _batch((3, 16, 16), 5)
    ev = Samples(kind="predictions", epoch=0, global_step=1, image=make_grid(x, 4), grid=images_geometry(x, 4))
    back = pickle.loads(pickle.dumps(ev))
    assert back.grid == ev.grid and back.grid.rows == 2
