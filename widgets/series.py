"""Bounded-memory series for live plots: numpy buffers that halve their resolution when full."""

from __future__ import annotations

import numpy as np


class DecimatingSeries:
    """Append-only (x, y) series holding at most ``cap`` points.

    When the buffer fills, every other point is dropped (the older history keeps its shape at half
    the resolution) and appending continues: memory stays O(cap) for a run of any length, and the
    newest points are always at full resolution.
    """

    def __init__(self, cap: int = 4096):
        if cap < 4:
            raise ValueError("cap must be at least 4")
        self.cap = int(cap)
        self._x = np.empty(self.cap, dtype=np.float64)
        self._y = np.empty(self.cap, dtype=np.float64)
        self._n = 0
        self.total = 0  # points ever appended

    def __len__(self) -> int:
        return self._n

    def append(self, x: float, y: float) -> None:
        if self._n >= self.cap:
            keep = self._n // 2
            self._x[:keep] = self._x[: self._n : 2][:keep]
            self._y[:keep] = self._y[: self._n : 2][:keep]
            self._n = keep
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1
        self.total += 1

    def extend(self, xs, ys) -> None:
        for x, y in zip(xs, ys):
            self.append(x, y)

    def clear(self) -> None:
        self._n = 0
        self.total = 0

    @property
    def x(self) -> np.ndarray:
        return self._x[: self._n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self._n]

    def last(self) -> tuple[float, float] | None:
        return (float(self._x[self._n - 1]), float(self._y[self._n - 1])) if self._n else None
