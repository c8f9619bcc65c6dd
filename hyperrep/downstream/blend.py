"""The blend readout: an embedding read by ridge regression, averaged with s(W) · gbt.

``X+s(W) · blend`` predicts ``w * [s(W) · gbt] + (1 - w) * [X · ridge]`` (X is emb or
pool(emb)), with the weight ``w`` chosen on the validation models among 0, 0.05, ..., 0.95;
never 1, so the row always reads the embedding. Why not boosting on the concatenation
``X+s(W) · gbt``: trees split on one column at a time, and next to a few strong statistics
they pass over a signal that is spread thinly across many embedding dimensions, which is
exactly what ridge reads. Averaging keeps each readout where it is good.

Numbers only (the two readouts' class predictions do not average). A blend fits its two
readouts on its own feature set's parts, exactly as the report's own ``X · ridge`` and
``s(W) · gbt`` cells fit them (same rows, settings and seed, so the same predictions), and
is registered as one predictor (:mod:`~hyperrep.downstream.registry`).
"""

from __future__ import annotations

import numpy as np

from hyperrep.downstream.predictors import PropertyPredictor
from hyperrep.downstream.spaces import Prepared

WEIGHTS = tuple(round(w, 2) for w in np.linspace(0.0, 0.95, 20))
DEFAULT_WEIGHT = 0.5  # without validation rows
STATS = "s(W)"  # the part of a blended feature set that gradient boosting reads


def choose_weight(y_val: np.ndarray, emb_val: np.ndarray, stats_val: np.ndarray) -> float:
    """The weight of the statistics' readout with the lowest squared error on the validation
    rows; a tie goes to the larger weight (the one that credits the embedding less)."""
    y_val = np.asarray(y_val, np.float64)
    if len(y_val) == 0:
        return DEFAULT_WEIGHT
    emb_val, stats_val = np.asarray(emb_val, np.float64), np.asarray(stats_val, np.float64)
    errors = [float(np.mean((y_val - (w * stats_val + (1 - w) * emb_val)) ** 2)) for w in WEIGHTS]
    best = min(errors)
    return max(w for w, e in zip(WEIGHTS, errors) if e == best)


def blend(weight: float, emb_pred: np.ndarray, stats_pred: np.ndarray) -> np.ndarray:
    return weight * np.asarray(stats_pred, np.float64) + (1 - weight) * np.asarray(emb_pred, np.float64)


class BlendPredictor:
    """``fit``/``predict`` on ``X+s(W)`` rows: ridge on the ``emb`` columns, gradient boosting
    on the ``stats`` columns, their predictions averaged with the weight chosen on the
    validation rows. ``prep``/``prepared_``: the ridge readout's, shared between properties."""

    def __init__(self, emb: slice, stats: slice, gbt_components: int | None = None, seed: int = 0) -> None:
        self.emb, self.stats, self.gbt_components, self.seed = emb, stats, gbt_components, seed

    @classmethod
    def for_context(cls, ctx) -> BlendPredictor:
        (emb,) = [part for name, part in ctx.parts.items() if name != STATS]
        return cls(emb, ctx.parts[STATS], ctx.config.gbt_components, ctx.config.seed)

    def _part(self, x: np.ndarray | None, part: slice) -> np.ndarray | None:
        # contiguous, as the readouts' own cells get their feature sets: the same arithmetic
        return None if x is None else np.ascontiguousarray(x[:, part])

    def fit(self, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None, prep: Prepared | None = None) -> BlendPredictor:
        x_val = None if x_val is None or len(x_val) == 0 else x_val
        self.ridge_ = PropertyPredictor("number", "ridge", gbt_components=self.gbt_components, seed=self.seed).fit(
            self._part(x_train, self.emb), y_train, self._part(x_val, self.emb), y_val, prep=prep)
        self.gbt_ = PropertyPredictor("number", "gbt", gbt_components=self.gbt_components, seed=self.seed).fit(
            self._part(x_train, self.stats), y_train, self._part(x_val, self.stats), y_val)
        self.prepared_ = self.ridge_.prepared_
        self.selected_on_val_ = x_val is not None
        self.weight_ = DEFAULT_WEIGHT
        if x_val is not None:
            self.weight_ = choose_weight(y_val, self.ridge_.predict(self._part(x_val, self.emb)),
                                         self.gbt_.predict(self._part(x_val, self.stats)))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return blend(self.weight_, self.ridge_.predict(self._part(x, self.emb)),
                     self.gbt_.predict(self._part(x, self.stats)))

    @property
    def chosen(self) -> str:
        return f"w={self.weight_:.2f} on s(W)·gbt"
