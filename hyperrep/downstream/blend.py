"""The blend readout: an embedding read by ridge regression, averaged with s(W) · gbt.

``X+s(W) · blend`` predicts ``w * [s(W) · gbt] + (1 - w) * [X · ridge]`` (X is emb or
pool(emb)), with the weight ``w`` chosen on the validation models among 0, 0.05, ..., 0.95;
never 1, so the row always reads the embedding. Why not boosting on the concatenation
``X+s(W) · gbt``: trees split on one column at a time, and next to a few strong statistics
they pass over a signal that is spread thinly across many embedding dimensions, which is
exactly what ridge reads. Averaging keeps each readout where it is good.

Numbers only (the two readouts' class predictions do not average). The two readouts are
the report's own cells, so a blend costs no fit: it is chosen on their validation-row
predictions and applied to their test-row predictions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from hyperrep.downstream.cells import VAL_PRED, scored_cell
from hyperrep.downstream.names import BLEND
from hyperrep.downstream.predictors import score

__all__ = ["BLEND", "BLEND_SETS", "blend", "blend_cells", "choose_weight", "readouts"]
# feature set -> the embedding readout it blends with s(W) · gbt
BLEND_SETS = {"emb+s(W)": "emb", "pool(emb)+s(W)": "pool(emb)"}
STATS_READOUT = ("s(W)", "gbt")
WEIGHTS = tuple(round(w, 2) for w in np.linspace(0.0, 0.95, 20))
DEFAULT_WEIGHT = 0.5  # without validation rows


def readouts(feature_set: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """The (feature set, predictor) cells a blend of ``feature_set`` averages: the embedding's, the statistics'."""
    if feature_set not in BLEND_SETS:
        raise ValueError(f"{feature_set!r} cannot be blended; blends exist for {sorted(BLEND_SETS)}")
    return (BLEND_SETS[feature_set], "ridge"), STATS_READOUT


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


def blend_cells(indices: Sequence[int], cells: Sequence[tuple], records: Sequence[dict],
                predictions: Sequence[pd.DataFrame | None], features: dict[str, np.ndarray | str], *,
                models: np.ndarray, epochs: pd.DataFrame, seed: int,
                resamples: int) -> Iterator[tuple[int, dict, pd.DataFrame | None]]:
    """(index, result columns, test-row predictions) of each blend cell of ``cells`` (target,
    feature set, predictor), from the fitted records and predictions of the two readouts it
    averages; a blend whose readouts did not run gets a note and no predictions."""
    where = {(t.prop.name, fs, m): i for i, (t, fs, m) in enumerate(cells)}
    for i in indices:
        start = time.perf_counter()
        t, fs, _ = cells[i]
        parts = readouts(fs)
        found = [where.get((t.prop.name, *part)) for part in parts]
        x = features.get(fs)
        note = t.skip or (x if isinstance(x, str) else _missing(parts, found, predictions))
        if note:
            yield i, {"note": note}, None
            continue
        emb, stats = (records[j] for j in found)
        y_val = t.values[t.masks["val"]]
        weight = choose_weight(y_val, emb[VAL_PRED], stats[VAL_PRED])
        pred = blend(weight, predictions[found[0]]["pred"].to_numpy(), predictions[found[1]]["pred"].to_numpy())
        val_score = score("number", y_val, blend(weight, emb[VAL_PRED], stats[VAL_PRED]))["r2"] if len(y_val) else np.nan
        record, pred_rows = scored_cell(
            t, fs, BLEND, pred, models=models, epochs=epochs, seed=seed, resamples=resamples, start=start,
            selected_on_val=bool(len(y_val)), n_features=x.shape[1] if isinstance(x, np.ndarray) else np.nan,
            chosen=f"w={weight:.2f} on s(W)·gbt", reduced_to=np.nan, val_score=val_score)
        yield i, record, pred_rows


def _missing(parts, found, predictions) -> str:
    absent = [f"{f} · {m}" for (f, m), j in zip(parts, found) if j is None]
    if absent:
        return f"n/a: needs {' and '.join(absent)} in the same report"
    failed = [f"{f} · {m}" for (f, m), j in zip(parts, found) if predictions[j] is None]
    return f"n/a: {' and '.join(failed)} did not run" if failed else ""
