"""How spread out a set of models is in weight space: mean pairwise distance after
permutation alignment (weight matching, :func:`hyperrep.sampling.align.align`).

Sampled models that collapsed onto one point, or onto their anchors' mean, show a much
smaller pairwise distance than the anchors they came from. Needs no task data. Each pair
costs one alignment, so at most ``max_models`` models per source take part (a seeded
subset when there are more).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from eo_tasks.models import Layout
from hyperrep.sampling.align import align

COLUMNS = ("source", "n", "pairs", "mean_dist_aligned", "mean_dist_plain", "mean_norm", "rel_dist_aligned")


def pairwise_distances(weights: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Aligned and plain distances of every pair ``i < j`` of ``weights`` ``[n, P]``."""
    aligned, plain = [], []
    for i in range(len(weights)):
        for j in range(i + 1, len(weights)):
            a = align(weights[i], weights[j], layout)
            aligned.append(a.distance)
            plain.append(a.plain_distance)
    return np.asarray(aligned, dtype=float), np.asarray(plain, dtype=float)


def diversity_table(groups: Mapping[str, np.ndarray], layout: Layout, max_models: int = 16,
                    seed: int = 0) -> pd.DataFrame:
    """One row per source in ``groups`` (source -> weights ``[n, P]``); non-finite models are
    left out; ``rel_dist_aligned`` is the mean aligned distance over the mean model norm."""
    rng = np.random.default_rng(seed)
    rows = []
    for source, weights in groups.items():
        w = np.asarray(weights, dtype=np.float64)
        w = w[np.isfinite(w).all(axis=1)] if len(w) else w
        if len(w) > max_models:
            w = w[np.sort(rng.choice(len(w), size=max_models, replace=False))]
        aligned, plain = pairwise_distances(w, layout)
        norm = float(np.linalg.norm(w, axis=1).mean()) if len(w) else float("nan")
        mean_aligned = float(aligned.mean()) if len(aligned) else float("nan")
        rows.append({"source": source, "n": len(w), "pairs": len(aligned), "mean_dist_aligned": mean_aligned,
                     "mean_dist_plain": float(plain.mean()) if len(plain) else float("nan"),
                     "mean_norm": norm, "rel_dist_aligned": mean_aligned / max(norm, 1e-12)})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def diversity_ratio(table: pd.DataFrame, source: str = "sampled", reference: str = "anchor") -> float:
    """``source``'s mean pairwise aligned distance over ``reference``'s (NaN when either is missing)."""
    by = table.set_index("source")["mean_dist_aligned"]
    if source not in by or reference not in by or not by[reference] > 0:
        return float("nan")
    return float(by[source] / by[reference])


def diversity_line(ratio: float, goal: float = 0.5) -> str:
    """One sentence: the kept samples' diversity as a percentage of the anchors', against ``goal``."""
    if not np.isfinite(ratio):
        return "Diversity of the kept samples relative to the anchors: not measurable (fewer than 2 models)."
    met = "meets" if ratio >= goal else "misses"
    return (f"Kept samples' mean pairwise aligned distance is {ratio:.0%} of the anchors' "
            f"({met} the goal of >= {goal:.0%}).")
