"""Predictors of one property from one feature set, with their hyperparameters chosen on
validation models, and the metrics they are scored with.

``ridge`` is ridge regression for numbers and (L2-regularised) logistic regression for
classes; its regularisation strength is picked on the validation rows. Ridge regression
is solved in the eigenbasis of the training rows (:mod:`~hyperrep.downstream.spaces`),
exactly and for every strength at once; logistic regression walks the strengths from
strong to weak, each fit starting from the last one's solution, until four in a row have
not scored better on the validation rows. ``gbt`` is scikit-learn's
histogram gradient boosting on at most ``gbt_components`` features, screened on the
training rows (:func:`~hyperrep.downstream.spaces.screen`); for numbers it stops adding
rounds once the validation models' squared error stops improving; it keeps the number of
rounds that scored best there.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.linalg import LinAlgWarning
from scipy.stats import kendalltau
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, mean_absolute_error, r2_score

from hyperrep.downstream.spaces import GBT_COMPONENTS, Prepared, prepare, screen

# scikit-learn >= 1.7 takes the validation rows for early stopping in fit (X_val, y_val)
_FIT_TAKES_VALIDATION = "X_val" in inspect.signature(HistGradientBoostingRegressor.fit).parameters
Kind = Literal["number", "class"]
Method = Literal["ridge", "gbt"]
METHODS = ("ridge", "gbt")
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

    Features are standardised with statistics of the training rows only, and every basis
    is fitted on them only. Without validation rows the defaults are kept (``alpha=1``,
    all ``gbt_rounds``) and ``selected_on_val_`` is False. ``gbt_patience``: for numbers,
    stop adding boosting rounds once that many have not lowered the validation rows'
    squared error (None, or scikit-learn < 1.7: fit all ``gbt_rounds``); the rounds kept
    are the ones of the fitted rounds that score best on the validation rows either way.
    """

    kind: Kind
    method: Method = "ridge"
    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    gbt_rounds: int = 100
    gbt_components: int | None = GBT_COMPONENTS
    gbt_patience: int | None = 20
    alpha_patience: int | None = 4  # logistic regression: see _fit_logistic
    seed: int = 0
    alpha_: float | None = field(default=None, init=False)
    rounds_: int | None = field(default=None, init=False)
    selected_on_val_: bool = field(default=False, init=False)
    basis_: np.ndarray | None = field(default=None, init=False, repr=False)
    selected_: np.ndarray | None = field(default=None, init=False, repr=False)  # gbt: screened columns
    coef_: np.ndarray | None = field(default=None, init=False, repr=False)  # ridge on numbers
    intercept_: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ("number", "class"):
            raise ValueError(f"kind must be 'number' or 'class', got {self.kind!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")

    # ---- fitting --------------------------------------------------------------------
    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        prep: Prepared | None = None,
    ) -> PropertyPredictor:
        """``prep``: the ``prepared_`` of a predictor of the same method fitted on the same
        training rows, reused instead of refitted (for ridge it is a full eigenbasis)."""
        y_train = np.asarray(y_train)
        if len(np.unique(y_train)) < 2:
            raise ValueError("the training rows hold a single value of the property; nothing to learn")
        self.prepared_ = prep if prep is not None else prepare(self.method, x_train)
        self.scaler_ = self.prepared_.scaler
        xt = self.scaler_.transform(x_train)
        xv = None if x_val is None or len(x_val) == 0 else self.scaler_.transform(x_val)
        self.selected_on_val_ = xv is not None
        if self.method == "gbt":
            if self.gbt_components is not None and xt.shape[1] > self.gbt_components:
                self.selected_ = screen(xt, y_train, self.kind, self.gbt_components)
                xt, xv = xt[:, self.selected_], None if xv is None else xv[:, self.selected_]
            self._fit_gbt(xt, y_train, xv, y_val)
        elif self.kind == "number":
            self._fit_ridge(xt, y_train, xv, y_val)
        else:
            self._fit_logistic(xt, y_train, xv, y_val)
        return self

    def _fit_ridge(self, xt, yt, xv, yv) -> None:
        # X is centred (scaled on these rows), so with an intercept the weights are
        # V diag(1/(λ+α)) V^T X^T (y - ȳ): one product per strength, same as a solve
        prep = self.prepared_
        self.basis_ = prep.basis if prep.row_span else None
        self.intercept_ = float(np.mean(yt))
        # in the features' precision, as scikit-learn's Ridge fits float32 features (no float64 copy)
        centred = (np.asarray(yt, np.float64) - self.intercept_).astype(xt.dtype)
        along = prep.basis.T @ np.asarray(centred @ xt, np.float64)
        alphas = sorted(self.alphas) if xv is not None else [1.0]
        coefs = prep.basis @ (along[:, None] / (prep.spectrum[:, None] + np.asarray(alphas)[None, :]))
        if xv is None:
            self.alpha_, self.coef_ = 1.0, coefs[:, 0]
            return
        preds = np.asarray(xv, np.float64) @ coefs + self.intercept_
        best = -np.inf
        # ascending alphas with ">=": ties go to the stronger regularisation
        for i, alpha in enumerate(alphas):
            s = _selection_score(self.kind, yv, preds[:, i])
            if s >= best:
                best, self.alpha_, self.coef_ = s, alpha, coefs[:, i]

    def _fit_logistic(self, xt, yt, xv, yv) -> None:
        if self.prepared_.row_span:
            # the weights lie in the span of the training rows: n coordinates instead of P
            self.basis_ = self.prepared_.basis
            xt, xv = xt @ self.basis_, None if xv is None else xv @ self.basis_
        with warnings.catch_warnings():
            # tiny zoos make near-singular problems at small alphas; validation then rejects them
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", LinAlgWarning)
            if xv is None:
                self.alpha_ = 1.0
                self.model_ = LogisticRegression(C=1.0, max_iter=2000).fit(xt, yt)
                return
            best, since, first = -np.inf, 0, None
            # C is the inverse L2 strength, so one alpha grid serves both kinds; strong to
            # weak, each fit warm-started from the last; ">": ties go to the stronger one.
            # The weak end is where lbfgs needs most iterations (separable classes), so once
            # the score has risen above the strongest strength's (which predicts one class),
            # the walk stops when alpha_patience strengths in a row have not scored better.
            model = LogisticRegression(max_iter=2000, warm_start=True)
            for alpha in sorted(self.alphas, reverse=True):
                model.set_params(C=1.0 / alpha).fit(xt, yt)
                s = _selection_score(self.kind, yv, model.predict(xv))
                first = s if first is None else first
                if s > best:
                    best, since, self.alpha_, self.model_ = s, 0, alpha, copy.deepcopy(model)
                elif best > first:
                    since += 1
                    if self.alpha_patience is not None and since >= self.alpha_patience:
                        break

    def _gbt(self, n_train: int, rounds: int):
        # sklearn's default of 20 rows per leaf would leave a tiny zoo with a constant model
        leaf = int(np.clip(n_train // 10, 2, 20))
        cls = HistGradientBoostingRegressor if self.kind == "number" else HistGradientBoostingClassifier
        return cls(max_iter=rounds, learning_rate=0.1, min_samples_leaf=leaf, early_stopping=False,
                   random_state=self.seed)

    def _fit_gbt(self, xt, yt, xv, yv) -> None:
        self.model_ = self._gbt(len(xt), self.gbt_rounds)
        if xv is not None and self.gbt_patience is not None and self.kind == "number" and _FIT_TAKES_VALIDATION:
            # stop once the validation models' squared error (the selection score) has not
            # improved for gbt_patience rounds; given X_val, scikit-learn holds out no
            # training rows. Not for classes: their log-loss rises with overconfidence while
            # the balanced accuracy the rounds are chosen by still improves.
            self.model_.set_params(early_stopping=True, n_iter_no_change=self.gbt_patience, scoring="loss")
            self.model_.fit(xt, yt, X_val=xv, y_val=yv)
        else:
            self.model_.fit(xt, yt)
        self.rounds_ = self.model_.n_iter_
        if xv is not None:
            # boosting is sequential and deterministic: the first k trees are the model a fit
            # with k rounds gives, so every k up to the rounds fitted is scored from one fit
            scores = [_selection_score(self.kind, yv, p) for p in self.model_.staged_predict(xv)]
            self.rounds_ = int(np.argmax(scores)) + 1  # first best: fewer rounds on a tie

    # ---- use ------------------------------------------------------------------------
    def predict(self, x: np.ndarray) -> np.ndarray:
        x = self.scaler_.transform(x)
        if self.coef_ is not None:
            return np.asarray(x, np.float64) @ self.coef_ + self.intercept_
        if self.basis_ is not None:
            x = x @ self.basis_
        if self.selected_ is not None:
            x = x[:, self.selected_]
        if self.method == "gbt" and self.rounds_ != self.model_.n_iter_:
            # the first rounds_ trees of the fitted model are the model a refit with rounds_ would give
            for rounds, pred in enumerate(self.model_.staged_predict(x), start=1):
                if rounds == self.rounds_:
                    return pred
        return self.model_.predict(x)

    @property
    def chosen(self) -> str:
        """The hyperparameter that was chosen, as text for a results table."""
        if self.method == "ridge":
            return f"alpha={self.alpha_:.3g}"
        if self.selected_ is None:
            return f"rounds={self.rounds_}"
        return f"rounds={self.rounds_} on {len(self.selected_)} screened features"
