"""Predict how well a model survives pruning from its dense embedding.

Targets are the test accuracies of a model's sparsified twins (one per ratio). A ridge
regression (features standardised, the penalty chosen by internal cross-validation) is
fitted on the training models and scored by R^2 on held-out models. The same regression
on the dense model's own accuracy is the reference a useful embedding has to beat; the
third predictor, ``embedding+dense_acc``, fits that line first and a ridge on the embedding
to what the line leaves, so it shows what the embedding adds to the dense accuracy (with
no signal, the CV'd penalty shrinks the ridge to about nothing and the row ties the line).
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
FEATURES = ("embedding", "dense_acc", "embedding+dense_acc")


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
    emb = np.asarray(embeddings, dtype=float)
    dense = np.asarray(dense_acc, dtype=float)
    rows, fitted = [], {}
    for r, ratio in enumerate(ratios):
        y = np.asarray(twin_acc[:, r], dtype=float)
        ok = np.isfinite(y) & np.isfinite(dense)
        train, test = ok & is_train, ok & ~is_train
        preds: dict[str, np.ndarray] = {}
        if train.sum() >= 3:
            line = ridge().fit(dense[train, None], y[train])
            model = ridge().fit(emb[train], y[train])
            fitted[float(ratio)] = model
            both = ridge().fit(emb[train], y[train] - line.predict(dense[train, None]))
            preds = {"embedding": model.predict(emb), "dense_acc": line.predict(dense[:, None]),
                     "embedding+dense_acc": line.predict(dense[:, None]) + both.predict(emb)}
        for feature in FEATURES:
            row = {"ratio": float(ratio), "feature": feature, "n_train": int(train.sum()), "n_test": int(test.sum()),
                   "r2": np.nan, "mae": np.nan}
            if feature in preds and test.sum() >= 2:
                pred = preds[feature][test]
                row.update(r2=float(r2_score(y[test], pred)), mae=float(mean_absolute_error(y[test], pred)))
            rows.append(row)
    return TwinFit(pd.DataFrame(rows), fitted)


def twin_verdict(table: pd.DataFrame, tolerance: float = 0.01, min_test: int = 5) -> list[str]:
    """One plain sentence per ratio: is the embedding at least level (R^2 within ``tolerance``)
    with the dense-accuracy baseline, and does it add to it? Fewer than ``min_test``
    held-out models: no verdict, the R^2 of so few says nothing."""
    lines = []
    for ratio, g in table.groupby("ratio", sort=True):
        r2 = g.set_index("feature")["r2"]
        emb, dense, both = (float(r2.get(f, np.nan)) for f in FEATURES)
        n_test = int(g["n_test"].min()) if "n_test" in g else min_test
        if not (np.isfinite(emb) and np.isfinite(dense)) or n_test < min_test:
            lines.append(f"ratio {ratio:g}: too few held-out models ({n_test}) to compare the predictors")
            continue
        level = emb >= dense - tolerance
        verdict = ("the embedding is at least level with the dense-accuracy baseline" if level else
                   "the embedding is NOT level with the dense-accuracy baseline")
        added = (f"; embedding + dense accuracy R^2 {both:.3f} ("
                 f"{'adds to' if both > dense + tolerance else 'does not add to'} the dense accuracy alone)"
                 if np.isfinite(both) else "")
        lines.append(f"ratio {ratio:g}: {verdict}: held-out R^2 {emb:.3f} against {dense:.3f}{added}")
    return lines


def robust_direction(model: Pipeline) -> np.ndarray:
    """The unit direction, in the embedding's own coordinates, along which a fitted ridge
    predicts the twin accuracy to grow fastest."""
    scaler, reg = model[0], model[-1]
    grad = np.asarray(reg.coef_, dtype=float) / scaler.scale_
    norm = np.linalg.norm(grad)
    return grad / norm if norm > 0 else grad
