"""Copy-like baselines at matched accuracy, for the memorisation check.

A sampler that memorised its training zoo would produce near-copies of zoo models. Two
ways of making near-copies on purpose give the yardstick:

- ``anchor+noise``: an anchor plus Gaussian noise, per tensor scaled by ``sigma`` times
  the tensor's standard deviation;
- ``anchor-average``: ``(1 - t) * a + t * b`` for two anchors, ``b`` permutation-aligned
  to ``a`` first (so the mix stays a working model); ``t = 0.5`` is their average.

``sigma`` and ``t`` are set by a short bisection so that the baseline's mean validation
accuracy matches a target (the sampled models' mean validation accuracy). Each knob is
capped (``t`` at 0.5, ``sigma`` at ``max_sigma``); when the cap is reached before the
target, the baseline is as far as it goes and its accuracy is reported as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from eo_tasks.models import Layout
from hyperrep.sampling.align import align


@dataclass(frozen=True)
class Baseline:
    name: str
    weights: np.ndarray  # [n, P]
    sources: list[str]  # per model: the anchor ids it was made from
    knob: float  # sigma (noise) or t (average)
    val_acc: np.ndarray  # [n]


def _tensor_scales(layout: Layout, flat: np.ndarray) -> np.ndarray:
    scale = np.empty(layout.num_params, dtype=np.float64)
    for t in layout.tensors:
        part = flat[t.offset : t.offset + t.size]
        scale[t.offset : t.offset + t.size] = part.std() if t.size > 1 else abs(part).max()
    return scale


def _bisect(make: Callable[[float], np.ndarray], accuracy: Callable[[np.ndarray], float],
            lo: float, hi: float, target: float, steps: int, log: bool) -> float:
    """The knob in [lo, hi] whose mean accuracy is closest to ``target``, accuracy assumed
    to fall as the knob grows."""
    best_knob, best_gap = hi, np.inf
    for _ in range(steps):
        mid = float(np.sqrt(lo * hi)) if log else (lo + hi) / 2
        acc = accuracy(make(mid))
        gap = abs(acc - target) if np.isfinite(acc) else np.inf
        if gap < best_gap:
            best_knob, best_gap = mid, gap
        if not np.isfinite(acc) or acc < target:
            hi = mid
        else:
            lo = mid
    acc_hi = accuracy(make(hi))
    if np.isfinite(acc_hi) and abs(acc_hi - target) < best_gap:
        best_knob = hi
    return best_knob


def noise_baseline(
    anchors: np.ndarray,
    anchor_ids: list[str],
    layout: Layout,
    n: int,
    target_acc: float,
    val_accuracy: Callable[[np.ndarray], np.ndarray],
    seed: int,
    steps: int = 8,
    max_sigma: float = 3.0,
) -> Baseline:
    """``n`` anchors + noise, ``sigma`` matched to ``target_acc`` (mean validation accuracy)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(anchors), size=n)
    noise = rng.standard_normal((n, layout.num_params))
    scales = np.stack([_tensor_scales(layout, a) for a in anchors])

    def make(sigma: float) -> np.ndarray:
        return (anchors[picks] + sigma * scales[picks] * noise).astype(np.float32)

    sigma = _bisect(make, lambda w: float(np.nanmean(val_accuracy(w))), 1e-3, max_sigma, target_acc, steps, log=True)
    weights = make(sigma)
    return Baseline("anchor+noise", weights, [anchor_ids[p] for p in picks], sigma, val_accuracy(weights))


def average_baseline(
    anchors: np.ndarray,
    anchor_ids: list[str],
    layout: Layout,
    n: int,
    target_acc: float,
    val_accuracy: Callable[[np.ndarray], np.ndarray],
    seed: int,
    steps: int = 6,
) -> Baseline:
    """``n`` mixes of two distinct anchors (``b`` aligned to ``a``), ``t`` matched to ``target_acc``."""
    if len(anchors) < 2:
        raise ValueError("the anchor-average baseline needs at least two anchors")
    rng = np.random.default_rng(seed)
    pairs = np.array([rng.choice(len(anchors), size=2, replace=False) for _ in range(n)])
    a = anchors[pairs[:, 0]].astype(np.float64)
    b = np.stack([anchors[j][align(anchors[i], anchors[j], layout).index] for i, j in pairs]).astype(np.float64)

    def make(t: float) -> np.ndarray:
        return ((1 - t) * a + t * b).astype(np.float32)

    t = _bisect(make, lambda w: float(np.nanmean(val_accuracy(w))), 0.0, 0.5, target_acc, steps, log=False)
    weights = make(t)
    sources = [f"{anchor_ids[i]}+{anchor_ids[j]}" for i, j in pairs]
    return Baseline("anchor-average", weights, sources, t, val_accuracy(weights))
