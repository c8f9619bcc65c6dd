"""Fitting the cells of an evaluation: one property from one feature set with one predictor
(a :class:`~hyperrep.downstream.registry.Predictor`, whatever it is).

Cells of one feature set and predictor run in order as one group, so that a predictor that
``shares_preparation`` fits its scaler and basis once per training rows
(:mod:`~hyperrep.downstream.spaces`); groups run
side by side in ``jobs`` worker processes. Processes, not threads: gradient boosting grows
its trees node by node in Python, so threads would queue on the interpreter lock. The
feature matrices reach the workers as memory-mapped files written once, not as copies.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from scipy.linalg import LinAlgWarning
from sklearn.exceptions import ConvergenceWarning

from eo_tasks.data import SPLITS
from hyperrep.downstream.bootstrap import intervals
from hyperrep.downstream.names import PRIMARY_METRIC
from hyperrep.downstream.predictors import score
from hyperrep.downstream.properties import Property
from hyperrep.downstream.registry import FitContext, Predictor


@dataclass(frozen=True)
class Target:
    """One property on this zoo's rows: its encoded values and the rows each split uses."""

    prop: Property
    values: np.ndarray
    masks: dict[str, np.ndarray]
    skip: str


Cell = tuple[int, Target, str, Predictor]  # (index in the results, target, feature set, predictor)
Fitted = tuple[int, dict, pd.DataFrame]  # (index, result columns, test-row predictions)


@contextmanager
def quiet() -> Iterator[None]:
    """Filters for the warnings a fit is expected to raise (tiny zoos make near-singular
    problems that validation then rejects; a test class a predictor never outputs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", LinAlgWarning)
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true", UserWarning)
        warnings.filterwarnings("ignore", "Features .* are constant", UserWarning)
        yield


def fit_group(cells: Sequence[Cell], x: np.ndarray, *, models: np.ndarray, epochs: pd.DataFrame, seed: int,
              resamples: int, context: FitContext) -> Iterator[Fitted]:
    """Fit the cells of one feature set and predictor in order; ``context``: theirs but the kind."""
    prepared: dict[bytes, tuple[object, tuple[np.ndarray, ...]]] = {}
    for i, t, fs, predictor in cells:
        start = time.perf_counter()
        key = t.masks["train"].tobytes()
        if key not in prepared:
            prepared[key] = (None, tuple(np.asarray(x[t.masks[s]]) for s in SPLITS))
        prep, (x_train, x_val, x_test) = prepared[key]
        y = t.values
        model = predictor.make(replace(context, kind=t.prop.kind))
        shared = {"prep": prep} if predictor.shares_preparation else {}
        model.fit(x_train, y[t.masks["train"]], x_val, y[t.masks["val"]], **shared)
        if predictor.shares_preparation:
            prepared[key] = (model.prepared_, prepared[key][1])
        pred = model.predict(x_test)
        # the validation models' score at the chosen settings: what picks a feature set and
        # predictor for a table without looking at the test models
        val_score = np.nan
        if t.masks["val"].any():
            val_score = score(t.prop.kind, y[t.masks["val"]], model.predict(x_val))[PRIMARY_METRIC[t.prop.kind]]
        selected = getattr(model, "selected_", None)
        record, pred_rows = scored_cell(
            t, fs, predictor.name, pred, models=models, epochs=epochs, seed=seed, resamples=resamples, start=start,
            selected_on_val=getattr(model, "selected_on_val_", bool(len(x_val))),
            n_features=int(getattr(model, "n_features_", x.shape[1])), chosen=getattr(model, "chosen", ""),
            reduced_to=np.nan if selected is None else len(selected), val_score=val_score)
        yield i, record, pred_rows


def scored_cell(t: Target, fs: str, method: str, pred: np.ndarray, *, models: np.ndarray, epochs: pd.DataFrame,
                seed: int, resamples: int, start: float, selected_on_val: bool,
                **columns: object) -> tuple[dict, pd.DataFrame]:
    """(result columns, test-row predictions) of a cell whose test rows were predicted
    ``pred``: its metrics and their intervals, remarks, seconds since ``start``; ``columns``
    are more result columns (n_features, chosen, reduced_to)."""
    y, test = t.values, t.masks["test"]
    metrics = score(t.prop.kind, y[test], pred)
    metrics.update(intervals(t.prop.kind, y[test], pred, models[test], resamples=resamples, seed=seed))
    remarks = [] if selected_on_val else ["no validation models: defaults kept"]
    if t.prop.kind == "number" and np.isnan(metrics["r2"]):
        remarks.append("R² undefined: the test models hold a single value")
    record = {**metrics, **columns, "seconds": round(time.perf_counter() - start, 3), "note": "; ".join(remarks)}
    pred_rows = epochs.loc[test].assign(feature_set=fs, predictor=method, property=t.prop.name,
                                        true=y[test], pred=pred)
    return record, pred_rows


Group = tuple[Sequence[Cell], np.ndarray, FitContext]  # cells of one feature set and predictor, x, context


def _group_in_worker(cells: Sequence[Cell], x: np.ndarray, context: FitContext, **settings: object) -> list[Fitted]:
    with quiet():  # a worker process starts with the default filters
        return list(fit_group(cells, x, context=context, **settings))


def run_groups(groups: Sequence[Group], jobs: int, threads_per_job: int, **settings: object) -> Iterator[Fitted]:
    """Every group's fitted cells, as they finish: in this process when ``jobs`` is 1,
    else in ``jobs`` worker processes of ``threads_per_job`` BLAS/OpenMP threads each
    (the longest-looking groups first: the widest feature sets, by their predictor's cost)."""
    if jobs == 1 or len(groups) <= 1:
        for cells, x, context in groups:
            yield from fit_group(cells, x, context=context, **settings)
        return
    order = sorted(groups, key=lambda g: -g[1].shape[1] * g[0][0][3].cost)
    with tempfile.TemporaryDirectory(prefix="hyperzoo-predict-") as tmp:
        mapped: dict[int, np.ndarray] = {}
        for _, x, _ in order:
            if id(x) not in mapped:  # one file per feature matrix, however many groups read it
                path = Path(tmp) / f"features{len(mapped)}.npy"
                np.save(path, x)
                mapped[id(x)] = np.load(path, mmap_mode="r")
        tasks = [delayed(_group_in_worker)(cells, mapped[id(x)], context, **settings) for cells, x, context in order]
        with parallel_config(backend="loky", inner_max_num_threads=threads_per_job):
            for fitted in Parallel(n_jobs=jobs, return_as="generator_unordered")(tasks):
                yield from fitted
