"""Per-epoch history: CSV (atomic rewrite each epoch) and, when ``tensorboard`` is installed, TensorBoard
event files under ``<run_dir>/tensorboard``."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_text

FIRST_COLUMNS = ("epoch", "train_loss", "val_loss", "val_accuracy", "lr", "wall_s")


def history_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    first = [k for k in FIRST_COLUMNS if k in keys]
    return first + sorted(k for k in keys if k not in first)


def history_to_csv(rows: Sequence[dict[str, Any]]) -> str:
    cols = history_columns(rows)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in cols})
    return buf.getvalue()


def write_history_csv(path: str | os.PathLike, rows: Sequence[dict[str, Any]]) -> None:
    atomic_write_text(path, history_to_csv(rows))


def read_history_csv(path: str | os.PathLike) -> list[dict[str, float]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(fh)]


class TensorBoardWriter:
    """A thin wrapper over ``torch.utils.tensorboard.SummaryWriter``; ``available`` is False (and every
    call a no-op) when tensorboard is not installed."""

    def __init__(self, log_dir: str | os.PathLike):
        self.reason = ""
        self._w = None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception as exc:  # ImportError when the tensorboard package is missing
            self.reason = f"TensorBoard export skipped ({exc}); `pip install tensorboard` to enable it"
            return
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        self._w = SummaryWriter(log_dir=str(log_dir))

    @property
    def available(self) -> bool:
        return self._w is not None

    def scalars(self, values: dict[str, float], step: int, prefix: str = "") -> None:
        if self._w is None:
            return
        for k, v in values.items():
            self._w.add_scalar(prefix + k, v, step)

    def flush(self) -> None:
        if self._w is not None:
            self._w.flush()

    def close(self) -> None:
        if self._w is not None:
            self._w.close()
            self._w = None
