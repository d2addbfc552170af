"""Seeded, stratified splits (the bundled CSV is sorted by label, so never split by position)."""

from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): each class contributes ``round(n_c * val_fraction)`` (>= 1 when n_c >= 2)
    validation samples. Both index arrays are shuffled with ``seed``."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError("val_fraction must be between 0 and 1")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * val_fraction))
        if len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    tr = np.concatenate(train_idx)
    va = np.concatenate(val_idx)
    rng.shuffle(tr)
    rng.shuffle(va)
    return tr, va


def kfold_indices(labels: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold: ``k`` (train, val) index pairs; every sample is in exactly one val fold."""
    if k < 2:
        raise ValueError("k must be >= 2")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    folds: list[list[np.ndarray]] = [[] for _ in range(k)]
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        for i, part in enumerate(np.array_split(idx, k)):
            folds[i].append(part)
    out = []
    all_idx = np.arange(len(labels))
    for i in range(k):
        va = np.sort(np.concatenate(folds[i]))
        tr = np.setdiff1d(all_idx, va)
        out.append((rng.permutation(tr), va))
    return out
