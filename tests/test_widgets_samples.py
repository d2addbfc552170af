"""Sample grid timeline, GIF export, predictions grid colours, the graph diagram."""

import numpy as np
import pytest

from engine.train.events import Samples

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def _none_guard(qapp):
    from widgets.qt_compat import install_none_guard

    install_none_guard()  # PySide6 6.12 on Python 3.11 leaks refs to None (see widgets/qt_compat.py)


def _grid(n_side: int, cell: int = 8, pad: int = 2, value: int = 200) -> np.ndarray:
    size = n_side * (cell + pad) + pad
    img = np.zeros((size, size), np.uint8)
    for r in range(n_side):
        for c in range(n_side):
            y, x = pad + r * (cell + pad), pad + c * (cell + pad)
            img[y : y + cell, x : x + cell] = value
    return img


def test_timeline_is_bounded_and_scrubbable(qtbot):
    from widgets.sample_grid import SampleGrid

    w = SampleGrid(max_frames=5)
    qtbot.addWidget(w)
    for i in range(12):
        img = np.full((20, 30), i * 10, np.uint8)
        w.add_samples(Samples(kind="gan", epoch=i, global_step=i * 10, image=img))
    frames = w.frames("gan")
    assert len(frames) == 5 and [f.epoch for f in frames] == [7, 8, 9, 10, 11]
    assert w.slider.maximum() == 4 and w.slider.value() == 4
    assert w.image_item.image[0, 0] == 110
    w.slider.setValue(1)  # scrub back: the shown image follows, new frames don't jump the view
    assert w.image_item.image[0, 0] == 80
    w.add_samples(Samples(kind="gan", epoch=12, global_step=120, image=np.full((20, 30), 120, np.uint8)))
    assert w.image_item.image[0, 0] != 120
    w.slider.setValue(w.slider.maximum())
    assert w.image_item.image[0, 0] == 120


def test_timeline_memory_cap():
    from widgets.sample_grid import Frame, SampleTimeline

    t = SampleTimeline(max_frames=1000, max_bytes=10 * 100 * 100)
    for i in range(50):
        t.add("vae_recon", Frame(i, i, np.zeros((100, 100), np.uint8)))
    assert len(t.frames("vae_recon")) == 10
    assert t.nbytes() <= 10 * 100 * 100


def test_kinds_are_kept_apart_and_gif_exports(qtbot, tmp_path):
    import imageio.v3 as iio

    from widgets.sample_grid import SampleGrid

    w = SampleGrid()
    qtbot.addWidget(w)
    for i in range(3):
        w.add_samples(Samples(kind="vae_recon", epoch=i, global_step=i, image=np.full((16, 16), 50 * i, np.uint8)))
        w.add_samples(Samples(kind="vae_samples", epoch=i, global_step=i, image=np.full((16, 16, 3), 9, np.uint8)))
    assert w.kind_box.count() == 2 and not w.kind_box.isHidden()
    assert len(w.frames("vae_recon")) == 3 and len(w.frames("vae_samples")) == 3
    out = w.export_gif(tmp_path / "recon", "vae_recon")
    assert out.suffix == ".gif"
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == 3


def test_export_without_frames_is_a_clear_error(tmp_path):
    from widgets.sample_grid import export_gif

    with pytest.raises(ValueError, match="no sample grids"):
        export_gif([], tmp_path / "x.gif")


def test_grid_layout_inference():
    from widgets.predictions import grid_layout

    assert grid_layout(*_grid(4).shape, 16) == (4, 4, 8, 8, 2)
    assert grid_layout(42, 82, 16, {"nrow": 8, "padding": 2}) == (2, 8, 18, 8, 2)
    assert grid_layout(16, 16, 4, {"padding": 0}) == (2, 2, 8, 8, 0)
    assert grid_layout(16, 16, 4, None) == (2, 2, 5, 5, 2)  # ambiguous sizes: torchvision's padding 2 wins


def test_predictions_wrong_cells_are_red(qtbot):
    from widgets.predictions import render_predictions, tile_metrics

    labels = (0, 1, 2, 3)
    predicted = (0, 7, 2, 5)  # cells 1 and 3 are wrong
    out = render_predictions(_grid(2), labels, predicted, cell_px=40)
    assert out.dtype == np.uint8 and out.ndim == 3
    m = tile_metrics(8, 8, 40, two_lines=True)

    def frame_px(i):
        x, y = m.image_origin(i, 2)
        return out[y + 2, x + 20]  # on the top border of cell i

    for i in range(4):
        rr, gg, bb = (int(v) for v in frame_px(i))
        if labels[i] == predicted[i]:
            assert gg > 120 and rr < 100, (i, rr, gg, bb)
        else:
            assert rr > 180 and gg < 80 and bb < 80, (i, rr, gg, bb)
    # the cell image itself is kept (grey 200 scaled up)
    x, y = m.image_origin(0, 2)
    assert tuple(out[y + 20, x + 20]) == (200, 200, 200)


def test_sample_grid_renders_predictions(qtbot):
    from widgets.sample_grid import SampleGrid

    w = SampleGrid()
    qtbot.addWidget(w)
    w.add_samples(Samples(kind="predictions", epoch=0, global_step=5, image=_grid(2), labels=(1, 2, 3, 4),
                          predicted=(1, 2, 3, 9)))
    shown = w.image_item.image
    assert shown.ndim == 3 and shown.shape[0] > 50  # annotated and enlarged
    red = (shown[..., 0] > 180) & (shown[..., 1] < 80) & (shown[..., 2] < 80)
    assert red.sum() > 50


def test_graph_diagram_paints_boxes(qtbot):
    from PySide6.QtCore import QSize

    from engine.templates import load_template
    from widgets.graph_diagram import render_diagram

    img = render_diagram(load_template("cnn"), QSize(120, 200)).toImage()
    colours = {img.pixelColor(60, y).name() for y in range(0, 200, 3)}
    assert len(colours) >= 3  # several layer colours plus background
