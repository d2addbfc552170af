"""Validation metrics computed with torch ops on the training device (one sync per epoch).

Macro precision/recall/F1 follow torchmetrics' ``average="macro"`` convention: a class that appears
in neither the targets nor the predictions is left out of the average; 0/0 counts as 0.
"""

from __future__ import annotations

import torch


def acc_dtype(device: torch.device) -> torch.dtype:
    """float64 for exact sums, except on MPS (no float64 there)."""
    return torch.float32 if device.type == "mps" else torch.float64


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) int64 counts; rows are true classes, columns predicted classes."""
    idx = target.long().reshape(-1) * num_classes + pred.long().reshape(-1)
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _safe_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(b > 0, a / b.clamp_min(1e-12), torch.zeros_like(a))


def scores_from_confusion(cm: torch.Tensor) -> dict[str, torch.Tensor]:
    """accuracy, macro precision/recall/F1 as 0-d tensors (no sync)."""
    cm = cm.to(acc_dtype(cm.device))
    tp = cm.diagonal()
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    f1 = _safe_div(2 * tp, 2 * tp + fp + fn)
    present = (tp + fp + fn) > 0
    n_present = present.sum().clamp_min(1)
    total = cm.sum().clamp_min(1)

    def macro(s: torch.Tensor) -> torch.Tensor:
        return (s * present).sum() / n_present

    return {"accuracy": tp.sum() / total, "precision": macro(precision), "recall": macro(recall), "f1": macro(f1)}


def binary_scores(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """accuracy and precision/recall/F1 of the positive class (pred, target in {0, 1})."""
    pred = pred.reshape(-1).long()
    target = target.reshape(-1).long()
    dt = acc_dtype(pred.device)
    tp = ((pred == 1) & (target == 1)).sum().to(dt)
    fp = ((pred == 1) & (target == 0)).sum().to(dt)
    fn = ((pred == 0) & (target == 1)).sum().to(dt)
    acc = (pred == target).to(dt).mean()
    return {
        "accuracy": acc,
        "precision": _safe_div(tp, tp + fp),
        "recall": _safe_div(tp, tp + fn),
        "f1": _safe_div(2 * tp, 2 * tp + fp + fn),
    }


def regression_scores(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """mse, mae as 0-d tensors."""
    d = pred.reshape(-1).float() - target.reshape(-1).float()
    return {"mse": (d * d).mean(), "mae": d.abs().mean()}


def to_floats(values: dict[str, torch.Tensor], prefix: str = "") -> dict[str, float]:
    """One device sync for a dict of 0-d tensors."""
    keys = list(values)
    if not keys:
        return {}
    dt = acc_dtype(values[keys[0]].device)
    flat = torch.stack([values[k].detach().to(dt).reshape(()) for k in keys]).cpu().tolist()
    return {prefix + k: float(v) for k, v in zip(keys, flat)}
