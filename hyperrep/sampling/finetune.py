"""Fine-tune generated models, anchors and fresh inits with one recipe; compare the curves."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from eo_tasks.data import TaskData
from eo_tasks.models import ModelSpec
from eo_tasks.train import DivergedError, TrainConfig, train_model
from hyperrep.downstream.bootstrap import percentile_interval, resample_counts

CURVE_COLUMNS = ("source", "model", "epoch", "train_acc", "val_acc", "test_acc", "test_loss")


def finetune_curves(
    starts: Mapping[str, tuple[Sequence[str], np.ndarray]],
    spec: ModelSpec,
    data: TaskData,
    recipe: TrainConfig,
    epochs: int,
) -> pd.DataFrame:
    """``starts[source] = (names, weights [n, P])``; every model is trained ``epochs`` epochs
    with ``recipe`` (same seed, so same batch order); one row per model and epoch, epoch 0
    being the starting point. A run that diverges keeps the epochs it finished."""
    cfg = dataclasses.replace(recipe, epochs=epochs)
    rows = []
    for source, (names, weights) in starts.items():
        for name, flat in zip(names, weights):
            if not np.isfinite(flat).all():
                continue
            history: list[dict[str, float]] = []
            try:
                train_model(spec, data, cfg, init_weights=np.asarray(flat, dtype=np.float32),
                            callback=lambda _e, _w, m: history.append(m))
            except DivergedError:
                pass  # the curve stops where the run did
            for h in history:
                rows.append({"source": source, "model": name, "epoch": int(h["epoch"]),
                             **{k: h.get(k, float("nan")) for k in CURVE_COLUMNS[3:]}})
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def curve_summary(curves: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    """Mean and std of ``metric`` per source and epoch."""
    g = curves.groupby(["source", "epoch"], sort=False)[metric]
    return g.agg(["mean", "std", "count"]).reset_index()


PAIRED_COLUMNS = ("epoch", "pairs", "anchors", "gain", "lo", "hi")
# resampling fewer anchors than this gives a handful of distinct means, not an interval
MIN_ANCHORS = 5


def paired_gain(curves: pd.DataFrame, pairs: pd.DataFrame, metric: str = "test_acc",
                resamples: int = 1000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Per epoch, the mean of ``metric`` of each sampled model minus that of its own anchor
    (``pairs``: columns ``sampled`` and ``anchor``, curve names of the sources "sampled" and
    "own anchor"), with a bootstrap interval that resamples anchors, not pairs: samples drawn
    around one anchor share its curve, so they are not independent evidence. Fewer than
    ``MIN_ANCHORS`` anchors: no interval (NaN)."""
    pivot = curves.pivot_table(index=["source", "model"], columns="epoch", values=metric)
    rows = []
    for epoch in sorted(curves["epoch"].unique()):
        diff, anchor = [], []
        for s, a in zip(pairs["sampled"], pairs["anchor"]):
            try:
                d = pivot.loc[("sampled", s), epoch] - pivot.loc[("own anchor", a), epoch]
            except KeyError:  # a curve that stopped early (diverged) or never started
                continue
            if np.isfinite(d):
                diff.append(d)
                anchor.append(a)
        if not diff:
            continue
        diff = np.asarray(diff)
        ids, group = np.unique(anchor, return_inverse=True)
        sums, sizes = np.bincount(group, diff), np.bincount(group).astype(float)
        lo, hi = np.nan, np.nan
        if len(ids) >= MIN_ANCHORS:  # the property report's resampling, with anchors as the models
            counts = resample_counts(len(ids), resamples, seed)
            lo, hi = percentile_interval((counts @ sums) / (counts @ sizes), level)
        rows.append({"epoch": int(epoch), "pairs": len(diff), "anchors": len(ids), "gain": float(diff.mean()),
                     "lo": float(lo), "hi": float(hi)})
    return pd.DataFrame(rows, columns=list(PAIRED_COLUMNS))
