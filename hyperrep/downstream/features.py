"""Feature sets that a property predictor reads: embeddings, raw weights, weight statistics.

``s(W)`` follows Unterthiner et al. (2020, "Predicting neural network accuracy from
weights"): per layer, the mean, variance and the 1/25/50/75/99 percentiles of the
layer's weights and, separately, of its biases. It ignores the neuron order, so it is
the permutation-invariant baseline a hyper-representation has to beat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eo_tasks.models import Layout
from hyperrep.downstream.names import FEATURE_SETS

PERCENTILES = (1, 25, 50, 75, 99)
STAT_NAMES = ("mean", "var", *(f"p{q}" for q in PERCENTILES))


def _stats(block: np.ndarray) -> np.ndarray:
    """[N, k] values of one tensor -> [N, 7] statistics."""
    block = block.astype(np.float64, copy=False)
    pct = np.percentile(block, PERCENTILES, axis=1)  # [5, N]
    return np.column_stack([block.mean(axis=1), block.var(axis=1), pct.T])


@dataclass(frozen=True)
class WeightStats:
    """Layer-wise weight statistics s(W) of flat weight vectors laid out by ``layout``.

    Stateless (nothing is fitted), so ``fit`` only checks shapes; it is there so the
    class composes like a scikit-learn transformer.
    """

    layout: Layout

    @property
    def feature_names(self) -> list[str]:
        names = []
        for layer in self.layout.layers:
            for tensor in (layer.weight, layer.bias):
                if tensor is not None:
                    names += [f"{tensor}:{s}" for s in STAT_NAMES]
        return names

    def fit(self, weights: np.ndarray, y: object = None) -> WeightStats:
        self._check(weights)
        return self

    def transform(self, weights: np.ndarray) -> np.ndarray:
        weights = self._check(weights)
        cols = []
        for layer in self.layout.layers:
            for tensor in (layer.weight, layer.bias):
                if tensor is not None:
                    cols.append(_stats(weights[:, self.layout.slice(tensor)]))
        if not cols:
            raise ValueError("layout has no layers, so s(W) has no features")
        return np.concatenate(cols, axis=1).astype(np.float32)

    def fit_transform(self, weights: np.ndarray, y: object = None) -> np.ndarray:
        return self.fit(weights).transform(weights)

    def _check(self, weights: np.ndarray) -> np.ndarray:
        weights = np.asarray(weights)
        if weights.ndim != 2 or weights.shape[1] != self.layout.num_params:
            raise ValueError(
                f"weights have shape {weights.shape}, expected [N, {self.layout.num_params}] for this layout"
            )
        return weights


def feature_matrix(
    name: str,
    weights: np.ndarray,
    layout: Layout,
    embeddings: np.ndarray | None = None,
    stats: np.ndarray | None = None,
    pooled: np.ndarray | None = None,
) -> np.ndarray:
    """The feature set ``name`` (one of :data:`FEATURE_SETS`) for rows of ``weights``.

    ``stats`` lets a caller pass s(W) computed once for all feature sets; ``pooled`` is
    ``HyperRep.pool`` of the embeddings (averaged over tokens and per layer).
    """
    if name not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {name!r}, expected one of {FEATURE_SETS}")
    if name == "W":
        return np.asarray(weights, dtype=np.float32)
    if stats is None and "s(W)" in name:
        stats = WeightStats(layout).transform(weights)
    if name == "s(W)":
        return stats
    if name.startswith("pool(emb)"):
        if pooled is None or len(pooled) != len(weights):
            raise ValueError(f"feature set {name!r} needs one pooled embedding (HyperRep.pool) per weight vector")
        pooled = np.asarray(pooled, dtype=np.float32)
        return pooled if name == "pool(emb)" else np.concatenate([pooled, stats], axis=1)
    if embeddings is None:
        raise ValueError(f"feature set {name!r} needs embeddings from a hyper-representation run")
    if len(embeddings) != len(weights):
        raise ValueError(f"{len(embeddings)} embeddings for {len(weights)} weight vectors")
    emb = np.asarray(embeddings, dtype=np.float32).reshape(len(embeddings), -1)
    return emb if name == "emb" else np.concatenate([emb, stats], axis=1)
