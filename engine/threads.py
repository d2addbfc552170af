"""How many torch threads to train with, and how OpenMP threads wait, so training degrades gracefully
on a busy machine. No torch import here: the environment must be set before torch loads.
"""

from __future__ import annotations

import os
from typing import Any

# OpenMP threads that spin while waiting for work steal the cores a busy neighbour needs, and with more
# threads than free cores every parallel region waits for its slowest, descheduled thread: training ran
# 15x slower beside one busy process. Passive waiting (sleep at once, no spin) makes oversubscription
# cost a little instead of everything. Read by libgomp/Intel OpenMP when torch loads, so it is set
# before torch is imported (CLI, studio) and inherited by spawned training children.
QUIET_OMP_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0", "GOMP_SPINCOUNT": "0"}


def apply_thread_env(env: Any = None) -> dict[str, str]:
    """Put the passive OpenMP wait policy into ``env`` (default ``os.environ``) unless the user set
    those variables; returns what was set."""
    env = os.environ if env is None else env
    done = {}
    for k, v in QUIET_OMP_ENV.items():
        if k not in env:
            env[k] = v
            done[k] = v
    return done


def busy_cores(sample_s: float = 0.25) -> float:
    """How many cores other processes keep busy right now (Linux ``/proc/stat`` sampled for
    ``sample_s``, minus this process's own use); the 1-minute load average elsewhere; 0 if unknown."""
    def read() -> tuple[float, float] | None:
        try:
            with open("/proc/stat", encoding="ascii") as fh:
                parts = fh.readline().split()[1:]
        except OSError:
            return None
        vals = [float(x) for x in parts[:8]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0.0)
        return sum(vals), idle

    import time

    a, t0, own0 = read(), time.monotonic(), time.process_time()
    if a is None:
        try:
            return max(0.0, float(os.getloadavg()[0]))
        except (OSError, AttributeError):
            return 0.0
    time.sleep(sample_s)
    b, t1, own1 = read(), time.monotonic(), time.process_time()
    if b is None or b[0] <= a[0]:
        return 0.0
    cores = os.cpu_count() or 1
    busy_frac = 1.0 - (b[1] - a[1]) / (b[0] - a[0])
    own = (own1 - own0) / max(t1 - t0, 1e-6)
    return max(0.0, busy_frac * cores - own)


def choose_threads(*, leave_one: bool = False, cores: int | None = None, busy: float | None = None) -> int:
    """Torch threads for a training process: as many as there are free cores (never more than the
    machine has, never fewer than 1); ``leave_one`` keeps a core for a UI. ``LAYERLAB_TORCH_THREADS``
    overrides. With the passive wait policy a later neighbour costs a share, not a collapse."""
    env = os.environ.get("LAYERLAB_TORCH_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    cores = cores or os.cpu_count() or 1
    cap = max(1, cores - 1) if leave_one else cores
    if busy is None:
        busy = busy_cores()
    free = cores - busy
    return max(1, min(cap, int(free + 0.5)))
