"""Magnitude pruning and masked fine-tuning: the "sparsified twins" of zoo models.

What is pruned: the ``weight`` tensors of the layers the layout lists (every conv and
linear layer). Biases are never pruned: there are few of them and zeroing a bias moves
the neuron's operating point rather than removing a connection. The ratio is a fraction
of these prunable weights, and exactly ``round(ratio * prunable)`` of them are zeroed:

- ``scope="global"``: the smallest magnitudes over all layers together;
- ``scope="layer"``: every layer loses the same fraction, each layer's count apportioned by
  largest remainder so that the counts still add up to ``round(ratio * prunable)``.

Ties in magnitude are broken by position (lower flat index is pruned first), so the
mask is a deterministic function of the weights.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from eo_tasks.data.types import TaskData
from eo_tasks.models.layout import Layout
from eo_tasks.models.spec import ModelSpec
from eo_tasks.train.config import TrainConfig

SCOPES = ("global", "layer")


def prunable_slices(layout: Layout) -> list[slice]:
    """Flat-vector slices of the prunable tensors (the layers' weights), in layout order."""
    return [layout.slice(layer.weight) for layer in layout.layers]


def _smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` smallest |values|, ties to the lower index."""
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(np.abs(values), kind="stable")
    return order[:k]


def _apportion(sizes: list[int], ratio: float, total: int) -> list[int]:
    exact = [ratio * s for s in sizes]
    counts = [math.floor(e) for e in exact]
    # hand the remaining units to the largest fractional parts (ties: earlier layer first)
    rest = total - sum(counts)
    order = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[:rest]:
        counts[i] += 1
    return [min(c, s) for c, s in zip(counts, sizes)]


def magnitude_mask(flat: np.ndarray, layout: Layout, ratio: float, scope: str = "global") -> np.ndarray:
    """0/1 float32 mask over the flat vector zeroing ``round(ratio * prunable)`` weights."""
    flat = np.asarray(flat)
    if flat.shape != (layout.num_params,):
        raise ValueError(f"flat vector has shape {flat.shape}, layout needs ({layout.num_params},)")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    if not np.isfinite(flat).all():
        raise ValueError("cannot prune a weight vector with NaN/inf entries")
    slices = prunable_slices(layout)
    sizes = [s.stop - s.start for s in slices]
    total = round(ratio * sum(sizes))
    mask = np.ones(layout.num_params, dtype=np.float32)
    if scope == "global":
        index = np.concatenate([np.arange(s.start, s.stop) for s in slices])
        mask[index[_smallest(flat[index], total)]] = 0.0
    else:
        for s, k in zip(slices, _apportion(sizes, ratio, total)):
            mask[s.start + _smallest(flat[s], k)] = 0.0
    return mask


def sparsity(flat: np.ndarray, layout: Layout) -> float:
    """Fraction of prunable weights that are exactly zero."""
    parts = [np.asarray(flat)[s] for s in prunable_slices(layout)]
    n = sum(p.size for p in parts)
    return float(sum(int((p == 0).sum()) for p in parts) / n) if n else 0.0


def prune_and_finetune(
    spec: ModelSpec,
    data: TaskData,
    cfg: TrainConfig,
    flat: np.ndarray,
    ratio: float,
    epochs: int,
    scope: str = "global",
) -> tuple[np.ndarray, dict[str, float]]:
    """Prune ``flat`` by magnitude, fine-tune ``epochs`` epochs with the mask held, and return
    the twin's weights and metrics.

    Metrics are the trainer's final ones (``epoch`` = fine-tune epochs) plus ``ratio``,
    ``sparsity`` (of the returned weights) and ``pruned_<split>_acc``/``pruned_<split>_loss``:
    the pruned model before any fine-tuning. ``cfg`` supplies seed, optimizer, lr and batch size.
    """
    from eo_tasks.models.family import layout_for
    from eo_tasks.train.loop import train_model

    layout = layout_for(spec)
    mask = magnitude_mask(flat, layout, ratio, scope)
    result = train_model(spec, data, dataclasses.replace(cfg, epochs=epochs), init_weights=flat * mask, mask=mask)
    out = result.model.layout.flatten(result.model.state_dict())
    metrics = dict(result.final)
    for key, value in result.history[0].items():
        if key.endswith(("_acc", "_loss")):
            metrics[f"pruned_{key}"] = value
    metrics["ratio"] = float(ratio)
    metrics["sparsity"] = sparsity(out, layout)
    return out, metrics
