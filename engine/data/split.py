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


def random_split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) without regard to labels (regression targets, or ``stratified: false``)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError("val_fraction must be between 0 and 1")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = min(max(int(round(n * val_fraction)), 1 if n >= 2 else 0), max(n - 1, 0))
    return perm[n_val:], perm[:n_val]


def split_indices(labels: np.ndarray, *, val_fraction: float, seed: int, stratified: bool = True, folds: int = 0,
                  fold: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The project's split: k-fold (validate on fold ``fold``) when ``folds >= 2``, else one split by
    ``val_fraction``; stratified by label unless ``stratified`` is False."""
    labels = np.asarray(labels)
    if folds and folds >= 2:
        if not 0 <= fold < folds:
            raise ValueError(f"data.fold must be in 0..{folds - 1}")
        if stratified:
            return kfold_indices(labels, folds, seed)[fold]
        parts = np.array_split(np.random.default_rng(seed).permutation(len(labels)), folds)
        va = np.sort(parts[fold])
        return np.random.default_rng(seed + 1).permutation(np.setdiff1d(np.arange(len(labels)), va)), va
    if stratified:
        return stratified_split(labels, val_fraction, seed)
    return random_split(len(labels), val_fraction, seed)
