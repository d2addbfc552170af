"""Batching for the training loop.

Small data (the usual case: up to ``IN_MEMORY_LIMIT_BYTES`` as float32, no workers requested) lives as
tensors on the training device. Each epoch draws one permutation from a seeded ``torch.Generator``,
gathers the whole shuffled epoch once, and yields contiguous slices: no DataLoader, no per-sample
Python. Larger decoded data, or ``data.num_workers > 0``, streams batches from CPU tensors through a
``DataLoader`` (index batches, so each worker fetch is one gather) with pinned memory on CUDA.

Data that is not decoded up front (``data.stream``: ``always``, or ``auto`` when the decoded dataset would
not fit in memory) streams from the lazy source itself: :class:`SourceDataset` decodes one index batch per
fetch with the source's own conversion rules (size, resize mode, channels, 16-bit scaling), in
``data.num_workers`` worker processes, and :class:`SourceBatches` feeds the loop the same batches, in the
same order, as the in-memory path would (same seeded permutation, same float conversion).

Every kind keeps the generator state of the current epoch's start, so a checkpoint taken mid-epoch can
rebuild the same permutation and skip the batches already done (exact resume).

Worker processes are started with the "spawn" method, never "fork": training runs in a thread of the
studio or in a child process that has threads of its own (watchdog, command listener, pin-memory), and a
forked child inherits locks those threads may hold. They are started once per run (persistent workers)
and ignore Ctrl+C from birth, which the training process turns into a clean stop. A process that may not have
children (the studio's daemonic training process) decodes in as many threads instead (PIL releases the
GIL while decoding).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

IN_MEMORY_LIMIT_BYTES = 200 * 2**20
MP_CONTEXT = "spawn"

Batch = tuple[torch.Tensor, torch.Tensor]
Failures = tuple[tuple[str, str], ...]  # (path, reason) of the samples a fetch could not decode


def _steps(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)


class _BaseBatches:
    streaming = False
    from_source = False
    workers = "none"  # how batches are fetched: "none" (on the device), "main", "threads", "processes"

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

    def close(self) -> None:
        """Stop worker processes, if any (the loop calls this when training ends)."""


class TensorBatches(_BaseBatches):
    """In-memory batches on the training device."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device, seed: int = 0,
                 drop_last: bool = False):
        super().__init__(len(x), batch_size, seed, drop_last)
        self.x = x.to(device)
        self.y = y.to(device)
        self.device = device

    def epoch(self, start_step: int = 0) -> Iterator[Batch]:
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

    def __getitem__(self, idx: Any) -> tuple[torch.Tensor, torch.Tensor, Failures]:
        return self.x[idx], self.y[idx], ()


class SourceDataset(torch.utils.data.Dataset):
    """The training split of a lazy source, decoded per fetch: ``dataset[positions]`` is (samples, targets,
    failures) for those positions of the split, samples as the source gives them (uint8 CHW images, or
    float32 features). A sample that does not decode (a file deleted, truncated or made unreadable after
    the scan) is left out of its batch and named in ``failures``. Picklable, for worker processes."""

    def __init__(self, source: Any, index: Sequence[int] | np.ndarray, targets: np.ndarray):
        self.source = source
        self.index = np.asarray(index, dtype=np.int64)
        self.targets = np.asarray(targets)
        if len(self.targets) != len(self.index):
            raise ValueError("one target per sample")
        self.sample_shape = tuple(int(v) for v in source.input_shape)
        self.dtype = torch.uint8 if getattr(source, "is_image", True) else torch.float32

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, positions: Any) -> tuple[torch.Tensor, torch.Tensor, Failures]:
        pos = positions.tolist() if isinstance(positions, torch.Tensor) else positions
        pos = [int(pos)] if isinstance(pos, int) else [int(p) for p in pos]
        samples, ok, failed = [], [], []
        for p in pos:
            i = int(self.index[p])
            try:
                samples.append(self.source.sample(i))
            except (ValueError, OSError) as exc:
                failed.append((self._path(i), str(exc) or type(exc).__name__))
                continue
            ok.append(p)
        if samples:
            x = torch.from_numpy(np.stack(samples))
        else:
            x = torch.zeros((0, *self.sample_shape), dtype=self.dtype)
        return x, torch.from_numpy(self.targets[ok]), tuple(failed)

    def _path(self, i: int) -> str:
        try:
            return str(self.source.info(i).path)
        except Exception:  # naming the sample must not fail where decoding it did
            return f"{getattr(self.source, 'name', 'sample')}[{i}]"


def skipped_while_streaming(path: str, reason: str) -> str:
    """The training warning for a sample that did not decode when its batch came: the scan read only its
    header (or the file changed since), so it is found now."""
    return (f"data: skipped {path} while training: its header read at the scan, but it does not decode: {reason} "
            "(the rest of its batch trains, and it is left out of every later batch; `layerlab data audit` "
            "decodes every file beforehand)")


def to_model_input(x: torch.Tensor, device: torch.device, non_blocking: bool = False) -> torch.Tensor:
    """A fetched batch on ``device`` as float32: uint8 pixels divided by 255 (what ``load_bundle`` does to
    decoded data, so both paths give the same numbers), anything else as float."""
    x = x.to(device, non_blocking=non_blocking)
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


class _EpochBatches(torch.utils.data.Sampler):
    """The index batches of the current epoch; the loader re-reads them at each new iteration (persistent
    workers keep the same sampler object). Lists go to worker processes (cheap to send), tensors stay in
    the process (faster to gather)."""

    def __init__(self) -> None:
        self.batches: list[torch.Tensor] = []
        self.as_lists = False

    def __iter__(self):
        return (b.tolist() for b in self.batches) if self.as_lists else iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


@contextlib.contextmanager
def _children_ignore_sigint() -> Iterator[None]:
    """Ignore SIGINT while worker processes are created, so each starts with it ignored (an ignored signal stays
    ignored across exec, and Python keeps it so): a Ctrl+C while a worker still imports torch cannot kill it
    (the run then failed, or hung). A handler or a blocked mask would not be inherited. The window is the few
    milliseconds of creating the processes: what they need comes in a file (``_DatasetFile``), so starting
    them never waits for them. Only the main thread may change handlers; elsewhere this does nothing."""
    import signal
    import threading

    prev = None
    if threading.current_thread() is threading.main_thread():
        prev = signal.getsignal(signal.SIGINT)
        if prev is not None:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        if prev is not None:
            signal.signal(signal.SIGINT, prev)


class _DatasetFile(torch.utils.data.Dataset):
    """What a worker process receives instead of a source's dataset: the path of a file holding it, pickled by
    this process and loaded once per worker. Starting a spawned process writes everything it is given into a
    pipe that the child reads only once Python and torch are up, so a dataset of 100,000 paths made each start
    wait seconds; a path does not."""

    def __init__(self, dataset: Any):
        import pickle
        import tempfile

        self.length = len(dataset)
        fd, self.path = tempfile.mkstemp(prefix="layerlab-dataset-", suffix=".pickle")  # private: mode 0600
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(dataset, fh, protocol=pickle.HIGHEST_PROTOCOL)
        self._dataset: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"length": self.length, "path": self.path, "_dataset": None}

    def load(self) -> Any:
        if self._dataset is None:
            import pickle

            with open(self.path, "rb") as fh:  # written by the training process for its own workers
                self._dataset = pickle.load(fh)
        return self._dataset

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, idx: Any) -> Any:
        return self.load()[idx]

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)


def _worker_init(_worker_id: int) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited already; kept for platforms that do not inherit
    info = torch.utils.data.get_worker_info()
    if info is not None and isinstance(info.dataset, _DatasetFile):
        info.dataset.load()


def can_start_processes() -> bool:
    """False inside a daemonic process (multiprocessing forbids it children), e.g. the studio's training child."""
    return not multiprocessing.current_process().daemon


class _LoaderBatches(_BaseBatches):
    """Batches fetched from a map-style dataset by index batches: in the training process, in threads, or in
    worker processes through a ``DataLoader``; then moved to the device."""

    streaming = True

    def __init__(self, dataset: Any, batch_size: int, device: torch.device, seed: int, num_workers: int,
                 drop_last: bool = False, on_skip: Callable[[str, str], None] | None = None):
        super().__init__(len(dataset), batch_size, seed, drop_last)
        self.dataset = dataset
        self.device = torch.device(device)
        self.num_workers = int(num_workers)
        self.on_skip = on_skip
        self.failed: dict[str, str] = {}  # path -> reason, each reported once
        self._sampler = _EpochBatches()
        self._loader: torch.utils.data.DataLoader | None = None
        self._seed = int(seed)
        if self.num_workers <= 0:
            self.workers = "main"
        else:
            self.workers = "processes" if can_start_processes() else "threads"

    def epoch(self, start_step: int = 0) -> Iterator[Batch]:
        perm = self._perm()
        bs = self.batch_size
        self._sampler.batches = [perm[i * bs:(i + 1) * bs] for i in range(start_step, self.steps_per_epoch)]
        nb = self.device.type == "cuda"
        for x, y, failed in self._fetch():
            if failed:
                self._report(failed)
                if len(y) == 0:
                    from .sources import DatasetError

                    shown = "; ".join(f"{p}: {r}" for p, r in failed[:3])
                    raise DatasetError(f"no sample of a training batch could be decoded ({shown}); the scan "
                                       "reads image headers only: `layerlab data audit` decodes every file and "
                                       "lists those that do not decode; fix or exclude them and start again")
            yield to_model_input(x, self.device, nb), y.to(self.device, non_blocking=nb)

    def _fetch(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, Failures]]:
        if self.workers == "processes":
            self._sampler.as_lists = True
            loader = self._process_loader()
            with _children_ignore_sigint():
                it = iter(loader)  # starts the workers the first time
            for k, got in enumerate(it):
                yield got
                if k + 1 == self.num_workers and isinstance(loader.dataset, _DatasetFile):
                    loader.dataset.remove()  # batch k came from worker k: every worker has loaded the file
        elif self.workers == "threads":
            yield from self._threaded(self.num_workers)
        else:
            for b in self._sampler:
                yield self.dataset[b]

    def _worker_dataset(self) -> Any:
        """The dataset as worker processes receive it."""
        return self.dataset

    def _process_loader(self) -> torch.utils.data.DataLoader:
        if self._loader is None:
            self._loader = torch.utils.data.DataLoader(
                self._worker_dataset(), sampler=self._sampler, batch_size=None, num_workers=self.num_workers,
                multiprocessing_context=multiprocessing.get_context(MP_CONTEXT), persistent_workers=True,
                pin_memory=self.device.type == "cuda", worker_init_fn=_worker_init,
                # its own generator: drawing the workers' base seed must not move the global RNG that
                # dropout and augmentation use, or streaming would train differently from in-memory
                generator=torch.Generator().manual_seed(self._seed),
            )
        return self._loader

    def _threaded(self, threads: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, Failures]]:
        ahead: collections.deque = collections.deque()
        it = iter(self._sampler)
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="layerlab-decode") as pool:
            try:
                for b in itertools.islice(it, 2 * threads):
                    ahead.append(pool.submit(self.dataset.__getitem__, b))
                while ahead:
                    got = ahead.popleft().result()
                    nxt = next(it, None)
                    if nxt is not None:
                        ahead.append(pool.submit(self.dataset.__getitem__, nxt))
                    yield got
            finally:
                for f in ahead:
                    f.cancel()

    def _report(self, failed: Failures) -> None:
        for path, reason in failed:
            if path not in self.failed:
                self.failed[path] = reason
                if self.on_skip is not None:
                    self.on_skip(path, reason)

    def close(self) -> None:
        loader, self._loader = self._loader, None
        it = getattr(loader, "_iterator", None) if loader is not None else None
        shutdown = getattr(it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        if loader is not None and isinstance(loader.dataset, _DatasetFile):
            loader.dataset.remove()


class StreamBatches(_LoaderBatches):
    """Batches streamed through a ``DataLoader`` from CPU tensors (large decoded data, or workers requested)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device, seed: int = 0,
                 num_workers: int = 0, drop_last: bool = False):
        super().__init__(_IndexedTensors(x.cpu(), y.cpu()), batch_size, device, seed, num_workers, drop_last)


class SourceBatches(_LoaderBatches):
    """Batches decoded from the lazy source per fetch (data not decoded up front): see the module text."""

    from_source = True

    def __init__(self, dataset: SourceDataset, batch_size: int, device: torch.device, seed: int = 0,
                 num_workers: int = 0, on_skip: Callable[[str, str], None] | None = None, drop_last: bool = False):
        super().__init__(dataset, batch_size, device, seed, num_workers, drop_last, on_skip)

    def _worker_dataset(self) -> Any:
        return _DatasetFile(self.dataset)  # CPU tensors (StreamBatches) travel as shared memory handles instead


class SourceSamples:
    """The streamed training split where trainers expect a tensor of samples: ``len``, ``shape``, ``dim()``,
    ``device`` and indexing (a slice, positions, an int), which decodes just those samples onto the device
    (float32, as the batches are). Trainers use it for shapes and a few reference images only."""

    def __init__(self, dataset: SourceDataset, device: torch.device | str = "cpu"):
        self.dataset = dataset
        self.device = torch.device(device)

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.dataset), *self.dataset.sample_shape))

    def dim(self) -> int:
        return 1 + len(self.dataset.sample_shape)

    def to(self, device: torch.device | str) -> SourceSamples:
        return SourceSamples(self.dataset, device)

    def __getitem__(self, key: Any) -> torch.Tensor:
        n = len(self.dataset)
        if isinstance(key, slice):
            pos: Any = range(n)[key]
        elif isinstance(key, torch.Tensor):
            pos = [int(v) % n for v in key.reshape(-1).tolist()]
        elif isinstance(key, int):
            return self[[key]][0]
        else:
            pos = [int(v) % n for v in key]
        x, _, _ = self.dataset[pos]  # previews only: a sample that does not decode is left out
        return to_model_input(x, self.device)


def make_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device, *, seed: int = 0,
                 num_workers: int = 0, limit_bytes: int = IN_MEMORY_LIMIT_BYTES) -> TensorBatches | StreamBatches:
    """In-memory on-device batches when the data is small and no workers are asked for; else streaming."""
    nbytes = x.numel() * 4
    if num_workers > 0 or nbytes > limit_bytes:
        return StreamBatches(x, y, batch_size, device, seed, num_workers)
    return TensorBatches(x, y, batch_size, device, seed)
