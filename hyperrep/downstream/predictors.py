"""Predictors of one property from one feature set, with their hyperparameters chosen on
validation models, and the metrics they are scored with.

``ridge`` is ridge regression for numbers and (L2-regularised) logistic regression for
classes; its regularisation strength is picked on the validation rows. ``gbt`` is
scikit-learn's histogram gradient boosting, whose number of boosting rounds is picked on
the validation rows from its staged predictions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.linalg import LinAlgWarning
from scipy.stats import kendalltau
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, balanced_accuracy_score, mean_absolute_error, r2_score
from sklearn.preprocessing import StandardScaler

from hyperrep.downstream.names import PREDICTORS

Kind = Literal["number", "class"]
Method = Literal["ridge", "gbt"]
NUMBER_METRICS = ("r2", "kendall_tau", "mae")
CLASS_METRICS = ("accuracy", "balanced_accuracy")
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-3, 5, 17))


def number_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    # a constant prediction ranks nothing: tau 0 (scipy says NaN); a constant truth leaves it undefined
    if np.ptp(y_true) == 0:
        tau = np.nan
    elif np.ptp(y_pred) == 0:
        tau = 0.0
    else:
        tau = float(kendalltau(y_true, y_pred).statistic)
    r2 = float(r2_score(y_true, y_pred)) if len(y_true) > 1 and np.ptp(y_true) > 0 else np.nan
    return {"r2": r2, "kendall_tau": tau, "mae": float(mean_absolute_error(y_true, y_pred))}


def class_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    with warnings.catch_warnings():
        # a test class the predictor never outputs is a legitimate (bad) result, not a warning
        warnings.simplefilter("ignore", UserWarning)
        bal = float(balanced_accuracy_score(y_true, y_pred))
    return {"accuracy": float(accuracy_score(y_true, y_pred)), "balanced_accuracy": bal}


def score(kind: Kind, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    return number_metrics(y_true, y_pred) if kind == "number" else class_metrics(y_true, y_pred)


def _selection_score(kind: Kind, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Higher is better; the criterion for picking hyperparameters on validation rows."""
    if kind == "number":
        return -float(np.mean((np.asarray(y_true, float) - np.asarray(y_pred, float)) ** 2))
    return class_metrics(y_true, y_pred)["balanced_accuracy"]


@dataclass
class PropertyPredictor:
    """Fit on training rows, choose hyperparameters on validation rows, predict any rows.

    Features are standardised with statistics of the training rows only. Without
    validation rows the defaults are kept (``alpha=1``, all boosting rounds) and
    ``selected_on_val_`` is False.
    """

    kind: Kind
    method: Method = "ridge"
    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    gbt_rounds: int = 100
    seed: int = 0
    alpha_: float | None = field(default=None, init=False)
    rounds_: int | None = field(default=None, init=False)
    selected_on_val_: bool = field(default=False, init=False)
    basis_: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ("number", "class"):
            raise ValueError(f"kind must be 'number' or 'class', got {self.kind!r}")
        if self.method not in PREDICTORS:
            raise ValueError(f"method must be one of {PREDICTORS}, got {self.method!r}")

    # ---- fitting --------------------------------------------------------------------
    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        prep: tuple[StandardScaler, np.ndarray | None] | None = None,
    ) -> PropertyPredictor:
        """``prep``: the ``(scaler_, basis_)`` of a predictor fitted on the same training
        rows, reused instead of recomputed (the basis is an SVD of the whole feature matrix)."""
        y_train = np.asarray(y_train)
        if len(np.unique(y_train)) < 2:
            raise ValueError("the training rows hold a single value of the property; nothing to learn")
        self.scaler_, basis = prep if prep is not None else (StandardScaler().fit(x_train), None)
        xt = self.scaler_.transform(x_train)
        xv = None if x_val is None or len(x_val) == 0 else self.scaler_.transform(x_val)
        self.selected_on_val_ = xv is not None
        if self.method == "ridge":
            self._fit_linear(xt, y_train, xv, y_val, basis)
        else:
            self._fit_gbt(xt, y_train, xv, y_val)
        return self

    def _linear(self, alpha: float):
        if self.kind == "number":
            return Ridge(alpha=alpha)
        # C is the inverse L2 strength, so one alpha grid serves both kinds
        return LogisticRegression(C=1.0 / alpha, max_iter=2000)

    def _fit_linear(self, xt, yt, xv, yv, basis: np.ndarray | None = None) -> None:
        if xt.shape[1] > xt.shape[0]:
            # An L2-regularised linear model's weights lie in the span of the training rows,
            # so fitting on coordinates in an orthonormal basis of that span gives the same
            # predictions with n instead of P features (raw W: P is far larger than n).
            self.basis_ = basis if basis is not None else np.linalg.svd(xt, full_matrices=False)[2].T
            xt = xt @ self.basis_
            xv = None if xv is None else xv @ self.basis_
        with warnings.catch_warnings():
            # tiny zoos make near-singular kernels at small alphas; validation then rejects them
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", LinAlgWarning)
            if xv is None:
                self.alpha_ = 1.0
                self.model_ = self._linear(self.alpha_).fit(xt, yt)
                return
            best = -np.inf
            # ascending alphas with ">=": ties go to the stronger regularisation
            for alpha in sorted(self.alphas):
                model = self._linear(alpha).fit(xt, yt)
                s = _selection_score(self.kind, yv, model.predict(xv))
                if s >= best:
                    best, self.alpha_, self.model_ = s, alpha, model

    def _gbt(self, n_train: int, rounds: int):
        # sklearn's default of 20 rows per leaf would leave a tiny zoo with a constant model
        leaf = int(np.clip(n_train // 10, 2, 20))
        cls = HistGradientBoostingRegressor if self.kind == "number" else HistGradientBoostingClassifier
        return cls(max_iter=rounds, learning_rate=0.1, min_samples_leaf=leaf, early_stopping=False,
                   random_state=self.seed)

    def _fit_gbt(self, xt, yt, xv, yv) -> None:
        self.model_ = self._gbt(len(xt), self.gbt_rounds).fit(xt, yt)
        self.rounds_ = self.model_.n_iter_
        if xv is not None:
            scores = [_selection_score(self.kind, yv, p) for p in self.model_.staged_predict(xv)]
            # first best: fewer rounds on a tie
            self.rounds_ = int(np.argmax(scores)) + 1

    # ---- use ------------------------------------------------------------------------
    def predict(self, x: np.ndarray) -> np.ndarray:
        x = self.scaler_.transform(x)
        if self.basis_ is not None:
            x = x @ self.basis_
        if self.method == "gbt" and self.rounds_ != self.model_.n_iter_:
            # boosting is sequential and deterministic here, so the first rounds_ trees of
            # the full model are the model a refit with rounds_ would give
            for rounds, pred in enumerate(self.model_.staged_predict(x), start=1):
                if rounds == self.rounds_:
                    return pred
        return self.model_.predict(x)

    @property
    def chosen(self) -> str:
        """The hyperparameter that was chosen, as text for a results table."""
        if self.method == "ridge":
            return f"alpha={self.alpha_:.3g}"
        return f"rounds={self.rounds_}"
