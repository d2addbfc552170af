"""A bounded on-disk timeline of sample grids (GAN/VAE): PNG frames + an atomic JSON index.

Frames are written as ``<dir>/epoch_003_step_0450.png``. The timeline holds at most ``max_frames``;
when a new frame would exceed the cap, the OLDER half is thinned (every other frame of it is
dropped, its first frame kept) until the count fits, so the newest frames are always kept and a
long run still shows its whole history at a coarser pace further back. The index
(``index.json``) lists the frames in order and is rewritten atomically after every change.

Export: ``export_gif`` (imageio, always available) and ``export_mp4`` (needs ``imageio-ffmpeg``).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..fsutil import atomic_write_text
from .gridutil import read_png, save_png

INDEX_NAME = "index.json"
INDEX_FORMAT = "layerlab-timeline"


class TimelineError(ValueError):
    """A timeline that cannot be read or exported; the message says why."""


@dataclass(frozen=True)
class Frame:
    epoch: int
    global_step: int
    file: str  # name inside the timeline folder

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def frame_name(epoch: int, global_step: int) -> str:
    return f"epoch_{epoch:03d}_step_{global_step:04d}.png"


def thin(frames: list[Frame], max_frames: int) -> tuple[list[Frame], list[Frame]]:
    """(kept, dropped): drop every other frame of the older half until ``len(kept) <= max_frames``.

    The very first frame and the newest frame are never dropped; only the oldest part of the
    timeline loses resolution.
    """
    if max_frames < 2:
        raise ValueError("a timeline keeps at least 2 frames")
    kept = list(frames)
    dropped: list[Frame] = []
    while len(kept) > max_frames:
        half = min(max(2, len(kept) // 2), len(kept) - 1)  # the older half, never the newest frame
        older, newer = kept[:half], kept[half:]
        drop_set = set(range(1, len(older), 2))  # every other frame of the older half
        dropped.extend(f for i, f in enumerate(older) if i in drop_set)
        kept = [f for i, f in enumerate(older) if i not in drop_set] + newer
    return kept, dropped


class Timeline:
    """The frames of one run's sample grids, bounded to ``max_frames`` files on disk."""

    def __init__(self, directory: str | os.PathLike, max_frames: int = 200):
        if max_frames < 2:
            raise ValueError("timeline max_frames must be >= 2")
        self.dir = Path(directory)
        self.max_frames = int(max_frames)
        self._frames: list[Frame] = []

    # -- recording -------------------------------------------------------------------------
    def add(self, image: np.ndarray, epoch: int, global_step: int) -> Path:
        """Write ``image`` (uint8 grid) as a frame, thin if over the cap, rewrite the index. Returns its path."""
        name = frame_name(epoch, global_step)
        path = self.dir / name
        save_png(path, image)
        self._frames = [f for f in self._frames if f.file != name]  # same step twice: replace
        self._frames.append(Frame(int(epoch), int(global_step), name))
        kept, dropped = thin(self._frames, self.max_frames)
        self._frames = kept
        for f in dropped:
            with contextlib.suppress(FileNotFoundError):
                (self.dir / f.file).unlink()
        self._write_index()
        return path

    def _write_index(self) -> None:
        doc = {
            "format": INDEX_FORMAT,
            "version": 1,
            "max_frames": self.max_frames,
            "frames": [f.to_json() for f in self._frames],
        }
        atomic_write_text(self.dir / INDEX_NAME, json.dumps(doc, indent=1) + "\n")

    # -- reading -----------------------------------------------------------------------------
    def frames(self) -> list[Frame]:
        return list(self._frames)

    def paths(self) -> list[Path]:
        return [self.dir / f.file for f in self._frames]

    def __len__(self) -> int:
        return len(self._frames)

    @classmethod
    def open(cls, directory: str | os.PathLike, max_frames: int | None = None) -> Timeline:
        """Read an existing timeline folder from its index (frames whose file is gone are skipped)."""
        directory = Path(directory)
        index = directory / INDEX_NAME
        try:
            doc = json.loads(index.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TimelineError(f"{directory}: no sample timeline here (missing {INDEX_NAME})") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise TimelineError(f"{index}: unreadable timeline index ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != INDEX_FORMAT or not isinstance(doc.get("frames"), list):
            raise TimelineError(f"{index}: not a LayerLab timeline index")
        tl = cls(directory, max_frames or int(doc.get("max_frames", 200)))
        tl._frames = [f for f in _parse_frames(doc["frames"], str(index)) if (directory / f.file).is_file()]
        return tl

    # -- resume ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"max_frames": self.max_frames, "frames": [f.to_json() for f in self._frames]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the frame list saved with a checkpoint.

        Frames on disk that the checkpoint does not know (written after it, by the run being
        resumed) are removed so the resumed run's timeline is exactly the checkpoint's plus what
        it adds; listed frames whose file is missing (e.g. resuming into another folder) are skipped.
        """
        frames = _parse_frames(state.get("frames", []), "timeline state")
        known = {f.file for f in frames}
        if self.dir.is_dir():
            for p in self.dir.glob("epoch_*_step_*.png"):
                if p.name not in known:
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()
        self._frames = [f for f in frames if (self.dir / f.file).is_file()]
        if self.dir.is_dir():
            self._write_index()

    # -- export ----------------------------------------------------------------------------------
    def export_gif(self, out: str | os.PathLike, fps: float = 5.0, loop: int = 0) -> Path:
        return export_gif(self.paths(), out, fps=fps, loop=loop)

    def export_mp4(self, out: str | os.PathLike, fps: float = 10.0) -> Path:
        return export_mp4(self.paths(), out, fps=fps)


def _parse_frames(items: list[Any], where: str) -> list[Frame]:
    out = []
    for i, it in enumerate(items):
        try:
            f = Frame(int(it["epoch"]), int(it["global_step"]), str(it["file"]))
        except (KeyError, TypeError, ValueError):
            raise TimelineError(f"{where}: frame {i} is malformed") from None
        if "/" in f.file or "\\" in f.file or f.file.startswith("."):
            raise TimelineError(f"{where}: frame {i} names a file outside the timeline folder")
        out.append(f)
    return out


def _load_frames(paths: list[Path]) -> list[np.ndarray]:
    if not paths:
        raise TimelineError("the timeline has no frames to export yet")
    images = [read_png(p) for p in paths]
    shape = images[-1].shape
    for p, im in zip(paths, images):
        if im.shape != shape:
            raise TimelineError(f"{p.name}: frame size {im.shape} differs from {shape}; cannot animate")
    return images


def export_gif(paths: list[Path], out: str | os.PathLike, fps: float = 5.0, loop: int = 0) -> Path:
    """Animated GIF of the frames (``loop=0``: repeat forever). Written atomically."""
    import imageio.v3 as iio

    from ..fsutil import atomic_write_bytes

    if fps <= 0:
        raise TimelineError("fps must be > 0")
    images = _load_frames(list(paths))
    data = iio.imwrite("<bytes>", np.stack(images), extension=".gif", duration=1000.0 / fps, loop=loop)
    out = Path(out)
    atomic_write_bytes(out, data)
    return out


def mp4_available() -> bool:
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def export_mp4(paths: list[Path], out: str | os.PathLike, fps: float = 10.0) -> Path:
    """H.264 MP4 of the frames; needs the ``imageio-ffmpeg`` package (a clear error otherwise)."""
    if not mp4_available():
        raise TimelineError(
            "MP4 export needs the imageio-ffmpeg package (pip install imageio-ffmpeg); GIF export works without it"
        )
    import imageio.v2 as iio2

    if fps <= 0:
        raise TimelineError("fps must be > 0")
    images = _load_frames(list(paths))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.mp4")
    # macro_block_size=1 keeps odd grid sizes as they are (no silent resize)
    with iio2.get_writer(tmp, format="FFMPEG", fps=fps, macro_block_size=1) as w:  # type: ignore[attr-defined]
        for im in images:
            w.append_data(im if im.ndim == 3 else np.repeat(im[:, :, None], 3, axis=2))
    os.replace(tmp, out)
    return out
