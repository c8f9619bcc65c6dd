"""What every predictor fitted on the same training rows of one feature set shares, fitted
on those training rows only: the standardisation, and a basis of the standardised space.

- ridge: the full eigenbasis of the training rows' scatter matrix (X^T X = V diag(λ) V^T,
  or, with more features than rows, an orthonormal basis of the rows' span from an SVD).
  Ridge regression is diagonal in it, so every regularisation strength and every
  property costs a matrix-vector product instead of a fresh solve; it is exact.
- gbt: the leading principal components of the training rows (a seeded randomised SVD),
  so gradient-boosted trees split on ``components`` directions instead of thousands of
  features: the cost of a boosting round grows with the number of features.

Validation and test rows never enter these fits, so neither can leak into a prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh
from sklearn.preprocessing import StandardScaler
from sklearn.utils.extmath import randomized_svd

GBT_COMPONENTS = 128  # widest input gradient boosting gets; wider feature sets are projected


@dataclass(frozen=True)
class Prepared:
    """``scaler`` and ``basis`` ([P, r], orthonormal columns; None: the scaled features
    themselves) fitted on one feature set's training rows."""

    scaler: StandardScaler
    basis: np.ndarray | None = None
    spectrum: np.ndarray | None = None  # ridge: λ_i = |X v_i|² of the training rows
    explained: float = 1.0  # share of the training rows' (scaled) variance the basis keeps

    @property
    def row_span(self) -> bool:
        """True when the basis is narrower than the features (fewer training rows)."""
        return self.basis is not None and self.basis.shape[1] < self.basis.shape[0]


def prepare_ridge(x_train: np.ndarray) -> Prepared:
    """The scaler and the exact eigenbasis of the scaled training rows."""
    scaler = StandardScaler().fit(x_train)
    xt = np.asarray(scaler.transform(x_train), dtype=np.float64)
    n, p = xt.shape
    if p > n:
        # an L2-regularised linear model's weights lie in the span of the training rows
        _, s, vt = np.linalg.svd(xt, full_matrices=False)
        return Prepared(scaler, vt.T, s**2)
    lam, v = eigh(xt.T @ xt, overwrite_a=True, check_finite=False)
    return Prepared(scaler, v, np.clip(lam, 0.0, None))


def prepare_gbt(x_train: np.ndarray, components: int | None = GBT_COMPONENTS, seed: int = 0) -> Prepared:
    """The scaler and, for more than ``components`` features, the training rows' leading
    principal components (None: no projection)."""
    scaler = StandardScaler().fit(x_train)
    if components is None or x_train.shape[1] <= components:
        return Prepared(scaler)
    xt = np.asarray(scaler.transform(x_train), dtype=np.float32)
    k = min(components, *xt.shape)
    _, s, vt = randomized_svd(xt, k, n_oversamples=10, n_iter=4, random_state=seed)
    total = float(np.square(xt, dtype=np.float64).sum())
    return Prepared(scaler, np.ascontiguousarray(vt.T), explained=float((s.astype(np.float64) ** 2).sum() / total)
                    if total > 0 else 1.0)


def prepare(method: str, x_train: np.ndarray, components: int | None = GBT_COMPONENTS, seed: int = 0) -> Prepared:
    return prepare_ridge(x_train) if method == "ridge" else prepare_gbt(x_train, components, seed)
