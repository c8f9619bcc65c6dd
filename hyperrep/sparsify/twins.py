"""Predict how well a model survives pruning from its dense embedding.

Targets are the test accuracies of a model's sparsified twins (one per ratio). A ridge
regression (features standardised, the penalty chosen by internal cross-validation) is
fitted on the training models and scored by R^2 on held-out models. The same regression
on the dense model's own accuracy is the reference a useful embedding has to beat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

ALPHAS = np.logspace(-3, 4, 15)


def ridge() -> Pipeline:
    return make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS))


@dataclass
class TwinFit:
    table: pd.DataFrame  # ratio, feature, n_train, n_test, r2, mae
    models: dict[float, Pipeline]  # ratio -> ridge on embeddings, fitted on the training models


def twin_prediction(
    embeddings: np.ndarray,
    dense_acc: np.ndarray,
    twin_acc: np.ndarray,
    ratios: Sequence[float],
    is_train: np.ndarray,
) -> TwinFit:
    """``embeddings`` [N, D], ``dense_acc`` [N], ``twin_acc`` [N, R]; ``is_train`` [N] marks the
    models to fit on, the others are held out."""
    is_train = np.asarray(is_train, dtype=bool)
    rows, fitted = [], {}
    for r, ratio in enumerate(ratios):
        y = np.asarray(twin_acc[:, r], dtype=float)
        ok = np.isfinite(y) & np.isfinite(dense_acc)
        train, test = ok & is_train, ok & ~is_train
        for feature, x in (("embedding", np.asarray(embeddings, dtype=float)), ("dense_acc", dense_acc[:, None])):
            row = {"ratio": float(ratio), "feature": feature, "n_train": int(train.sum()), "n_test": int(test.sum()),
                   "r2": np.nan, "mae": np.nan}
            if train.sum() >= 3:
                model = ridge().fit(x[train], y[train])
                if feature == "embedding":
                    fitted[float(ratio)] = model
                if test.sum() >= 2:
                    pred = model.predict(x[test])
                    row.update(r2=float(r2_score(y[test], pred)), mae=float(mean_absolute_error(y[test], pred)))
            rows.append(row)
    return TwinFit(pd.DataFrame(rows), fitted)


def robust_direction(model: Pipeline) -> np.ndarray:
    """The unit direction, in the embedding's own coordinates, along which a fitted ridge
    predicts the twin accuracy to grow fastest."""
    scaler, reg = model[0], model[-1]
    grad = np.asarray(reg.coef_, dtype=float) / scaler.scale_
    norm = np.linalg.norm(grad)
    return grad / norm if norm > 0 else grad
