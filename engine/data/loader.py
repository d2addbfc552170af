"""Batching for the training loop.

Small data (the usual case: up to ``IN_MEMORY_LIMIT_BYTES`` as float32, no workers requested) lives as
tensors on the training device. Each epoch draws one permutation from a seeded ``torch.Generator``,
gathers the whole shuffled epoch once, and yields contiguous slices: no DataLoader, no per-sample
Python. Larger data, or ``data.num_workers > 0``, streams batches from CPU tensors through a
``DataLoader`` (index batches, so each worker fetch is one gather) with pinned memory on CUDA.

Both keep the generator state of the current epoch's start, so a checkpoint taken mid-epoch can
rebuild the same permutation and skip the batches already done (exact resume).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

IN_MEMORY_LIMIT_BYTES = 200 * 2**20


def _steps(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)


class _BaseBatches:
    def __init__(self, n: int, batch_size: int, seed: int, drop_last: bool):
        if n < 1:
            raise ValueError("the training split is empty: lower data.val_fraction or use more data")
        self.n = n
        self.batch_size = int(min(batch_size, n))
        self.drop_last = drop_last
        self.steps_per_epoch = max(1, _steps(n, self.batch_size, drop_last))
        self.generator = torch.Generator().manual_seed(int(seed))
        self._epoch_start_state = self.generator.get_state()

    def _perm(self) -> torch.Tensor:
        self._epoch_start_state = self.generator.get_state()
        return torch.randperm(self.n, generator=self.generator)

    def state_dict(self, mid_epoch: bool) -> dict[str, Any]:
        """Generator state to resume from: the current epoch's start (mid-epoch) or now (epoch end)."""
        return {"generator": (self._epoch_start_state if mid_epoch else self.generator.get_state()).clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


class TensorBatches(_BaseBatches):
    """In-memory batches on the training device."""

    streaming = False

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device, seed: int = 0,
                 drop_last: bool = False):
        super().__init__(len(x), batch_size, seed, drop_last)
        self.x = x.to(device)
        self.y = y.to(device)
        self.device = device

    def epoch(self, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        perm = self._perm().to(self.device)
        # advanced indexing (not index_select): for C == 1 images it yields strides that also read as
        # channels_last, which oneDNN convolutions run markedly faster (what a hand-written loop gets)
        xs = self.x[perm]
        ys = self.y[perm]
        bs = self.batch_size
        for i in range(start_step, self.steps_per_epoch):
            yield xs[i * bs:(i + 1) * bs], ys[i * bs:(i + 1) * bs]


class _IndexedTensors(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[idx], self.y[idx]


class StreamBatches(_BaseBatches):
    """Batches streamed through a ``DataLoader`` from CPU tensors (large data or workers requested)."""

    streaming = True

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device, seed: int = 0,
                 num_workers: int = 0, drop_last: bool = False):
        super().__init__(len(x), batch_size, seed, drop_last)
        self.dataset = _IndexedTensors(x.cpu(), y.cpu())
        self.device = device
        self.num_workers = num_workers

    def epoch(self, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        perm = self._perm()
        bs = self.batch_size
        batches = [perm[i * bs:(i + 1) * bs] for i in range(start_step, self.steps_per_epoch)]
        loader = torch.utils.data.DataLoader(
            self.dataset, sampler=batches, batch_size=None, num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        nb = self.device.type == "cuda"
        for xb, yb in loader:
            yield xb.to(self.device, non_blocking=nb), yb.to(self.device, non_blocking=nb)


def make_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device, *, seed: int = 0,
                 num_workers: int = 0, limit_bytes: int = IN_MEMORY_LIMIT_BYTES) -> TensorBatches | StreamBatches:
    """In-memory on-device batches when the data is small and no workers are asked for; else streaming."""
    nbytes = x.numel() * 4
    if num_workers > 0 or nbytes > limit_bytes:
        return StreamBatches(x, y, batch_size, device, seed, num_workers)
    return TensorBatches(x, y, batch_size, device, seed)
