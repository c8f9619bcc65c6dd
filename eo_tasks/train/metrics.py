"""Classification metrics from logits; multi-label reports micro-F1 as ``acc`` and macro mAP."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    """Macro mean of per-class average precision over classes that have positives."""
    aps = []
    for k in range(truth.shape[1]):
        pos = truth[:, k] > 0.5
        if not pos.any():
            continue
        order = np.argsort(-scores[:, k], kind="stable")
        hits = pos[order]
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        aps.append(float(precision[hits].mean()))
    return float(np.mean(aps)) if aps else float("nan")


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, multilabel: bool) -> dict[str, float]:
    if len(labels) == 0:
        return {"loss": float("nan"), "acc": float("nan")}
    if multilabel:
        truth = labels.float()
        loss = F.binary_cross_entropy_with_logits(logits, truth).item()
        pred = logits > 0
        tp = (pred & (truth > 0.5)).sum().item()
        denom = pred.sum().item() + (truth > 0.5).sum().item()
        f1 = 2 * tp / denom if denom else 1.0
        return {"loss": loss, "acc": f1, "map": _average_precision(logits.numpy(), truth.numpy())}
    loss = F.cross_entropy(logits, labels).item()
    acc = (logits.argmax(1) == labels).float().mean().item()
    return {"loss": loss, "acc": acc}
