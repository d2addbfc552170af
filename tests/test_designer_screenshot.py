"""``layerlab-studio --screenshot OUT.png --view designer`` renders the canvas (a fresh process)."""

import os
import subprocess
import sys


def test_screenshot_of_the_designer_view(tmp_home, tmp_path):
    out = tmp_path / "designer.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LAYERLAB_RUNNER="thread")
    r = subprocess.run([sys.executable, "-m", "app.main", "--template", "cnn", "--screenshot", str(out),
                        "--view", "designer", "--size", "1024x700"], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert (img.width(), img.height()) == (1024, 700)
    # the canvas (the middle column at this size: the project panel is hidden on the Designer) shows the
    # conv layers' orange stripes
    orange = sum(1 for x in range(200, 700) for y in range(80, 680, 2)
                 if (c := img.pixelColor(x, y)).red() > 220 and 120 < c.green() < 160 and c.blue() < 70)
    assert orange > 50
