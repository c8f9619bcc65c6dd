"""What predictors fitted on the same training rows of one feature set share, and the
features gradient boosting reads, all fitted on those training rows only.

- ridge: the standardisation and the full eigenbasis of the training rows' scatter
  matrix (X^T X = V diag(λ) V^T, or, with more features than rows, an orthonormal basis of
  the rows' span from an SVD). Ridge regression is diagonal in it, so every
  regularisation strength and every property costs a matrix-vector product instead of a
  fresh solve; it is exact.
- gbt: the standardisation, and for a feature set wider than ``components`` the
  ``components`` features most associated with the property on the training rows
  (:func:`screen`): the cost of a boosting round grows with the number of features.
  Screening keeps the features themselves: trees split one feature at a time, and on a
  rotation of the features (principal components) they did markedly worse in
  benchmarks/predict_speed.py's comparison, while screened features scored like all of them.

Validation and test rows never enter these fits, so neither can leak into a prediction.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh
from sklearn.feature_selection import f_classif
from sklearn.preprocessing import StandardScaler

GBT_COMPONENTS = 256  # widest input gradient boosting gets; wider feature sets are screened


@dataclass(frozen=True)
class Prepared:
    """``scaler`` and ``basis`` ([P, r], orthonormal columns; None: the scaled features
    themselves) fitted on one feature set's training rows."""

    scaler: StandardScaler
    basis: np.ndarray | None = None
    spectrum: np.ndarray | None = None  # ridge: λ_i = |X v_i|² of the training rows

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
    lam, v = eigh(xt.T @ xt, overwrite_a=True, check_finite=False, driver="evd")
    return Prepared(scaler, v, np.clip(lam, 0.0, None))


def screen(x_scaled: np.ndarray, y: np.ndarray, kind: str, k: int) -> np.ndarray:
    """Indices (ascending) of the ``k`` columns of the standardised training rows most
    associated with the property: |correlation| for numbers, the ANOVA F statistic for
    classes; a constant column scores 0; ties go to the earlier column."""
    if kind == "number":
        # the columns are standardised on these rows: |x^T (y - ȳ)| is |correlation| times a constant
        scores = np.abs((np.asarray(y, np.float64) - np.mean(y)).astype(x_scaled.dtype) @ x_scaled)
    else:
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", UserWarning)  # "features ... are constant": they score 0
            scores = f_classif(x_scaled, np.asarray(y).astype(str))[0]
    scores = np.nan_to_num(np.asarray(scores, np.float64), nan=0.0, posinf=np.finfo(float).max)
    return np.sort(np.argsort(-scores, kind="stable")[:k])


def prepare(method: str, x_train: np.ndarray) -> Prepared:
    """Ridge: the scaler and eigenbasis; gbt: the scaler (the screening is per property)."""
    return prepare_ridge(x_train) if method == "ridge" else Prepared(StandardScaler().fit(x_train))
