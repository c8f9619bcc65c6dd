"""Every (feature set, predictor, property) on one split by model.

The split is a column of the rows table, decided once per zoo before any feature set
is built, so every feature set is fitted on the same training models, tuned on the
same validation models and scored on the same test models.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from eo_tasks.config import ConfigError
from eo_tasks.data.splits import SPLITS
from eo_tasks.models.layout import Layout
from hyperrep.downstream.features import FEATURE_SETS, WeightStats, feature_matrix
from hyperrep.downstream.predictors import CLASS_METRICS, NUMBER_METRICS, PREDICTORS, PropertyPredictor, score
from hyperrep.downstream.properties import Property, select_properties

RESULT_COLUMNS = (
    "feature_set", "predictor", "property", "kind", "scale", *NUMBER_METRICS, *CLASS_METRICS,
    "n_train", "n_val", "n_test", "n_classes", "n_features", "chosen", "seconds", "note", "split_id",
)


@dataclass
class DownstreamData:
    """One row per checkpoint (``rows``: model, epoch, split, property columns) with its
    flat weights and, when a hyper-representation run is given, its embedding."""

    rows: pd.DataFrame
    weights: np.ndarray
    layout: Layout
    embeddings: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    pooled: np.ndarray | None = None  # HyperRep.pool of the embeddings

    def __post_init__(self) -> None:
        for col in ("model", "epoch", "split"):
            if col not in self.rows:
                raise ValueError(f"rows table lacks the {col!r} column")
        if len(self.rows) != len(self.weights):
            raise ValueError(f"{len(self.rows)} rows but {len(self.weights)} weight vectors")
        if self.embeddings is not None and len(self.embeddings) != len(self.rows):
            raise ValueError(f"{len(self.rows)} rows but {len(self.embeddings)} embeddings")
        bad = set(self.rows["split"]) - set(SPLITS)
        if bad:
            raise ValueError(f"split column holds {sorted(bad)}, expected only {SPLITS}")
        per_model = self.rows.groupby("model")["split"].nunique()
        if (per_model > 1).any():
            raise ValueError(f"models {list(per_model[per_model > 1].index)} have checkpoints in two splits")
        self.rows = self.rows.reset_index(drop=True)

    @property
    def split_id(self) -> str:
        """A short fingerprint of which model is in which split."""
        pairs = sorted(set(zip(self.rows["model"].astype(str), self.rows["split"])))
        return hashlib.sha1(repr(pairs).encode()).hexdigest()[:12]

    def models(self, split: str) -> list:
        return sorted(set(self.rows.loc[self.rows["split"] == split, "model"].tolist()))


@dataclass
class Evaluation:
    results: pd.DataFrame  # one row per (feature set, predictor, property), RESULT_COLUMNS
    predictions: pd.DataFrame  # test rows: feature_set, predictor, property, model, epoch, true, pred
    properties: list[Property]
    notes: list[str]
    split_id: str


def evaluate(
    data: DownstreamData,
    properties: list[Property] | None = None,
    feature_sets: tuple[str, ...] = FEATURE_SETS,
    predictors: tuple[str, ...] = PREDICTORS,
    max_gbt_features: int = 4096,
    seed: int = 0,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
) -> Evaluation:
    """Fit and score every combination; a combination that cannot run is a row with a note.

    ``max_gbt_features`` bounds the width of a feature set that gradient boosting is run
    on; raw weights of a real CNN exceed it, and the table says so (n/a) instead of
    spending minutes on a baseline that s(W) already covers. ``threads`` caps the BLAS and
    OpenMP threads of the predictors (None: the libraries' default); on a shared or busy
    machine 1 avoids the oversubscription that slows gradient boosting many times over.
    ``log`` receives one progress line per fitted cell.
    """
    with threadpool_limits(threads):
        return _evaluate(data, properties, feature_sets, predictors, max_gbt_features, seed, log)


def _evaluate(data: DownstreamData, properties: list[Property] | None, feature_sets: tuple[str, ...],
              predictors: tuple[str, ...], max_gbt_features: int, seed: int,
              log: Callable[[str], None] | None) -> Evaluation:
    for name in feature_sets:
        if name not in FEATURE_SETS:
            raise ConfigError(f"unknown feature set {name!r}, expected some of {FEATURE_SETS}")
    for name in predictors:
        if name not in PREDICTORS:
            raise ConfigError(f"unknown predictor {name!r}, expected some of {PREDICTORS}")
    for split in ("train", "test"):
        if not data.models(split):
            counts = {s: len(data.models(s)) for s in SPLITS}
            raise ConfigError(f"the split by model has no {split} models ({counts}); "
                             "property prediction needs a zoo with more finished models")
    notes = list(data.notes)
    if properties is None:
        properties, more = select_properties(data.rows)
        notes += more
    stats = WeightStats(data.layout).transform(data.weights)
    features: dict[str, np.ndarray | str] = {}
    for name in feature_sets:
        if "emb" in name and (data.pooled if name == "pool(emb)" else data.embeddings) is None:
            features[name] = "no hyper-representation run given"
        else:
            features[name] = feature_matrix(name, data.weights, data.layout, data.embeddings, stats, data.pooled)

    split = data.rows["split"].to_numpy()
    split_id = data.split_id
    records, predictions = [], []
    cells, done = len(properties) * len(feature_sets) * len(predictors), 0
    prepared: dict[tuple[str, str, bytes], tuple] = {}  # one scaler and SVD per feature set and training rows
    for prop in properties:
        target = prop.encode(data.rows[prop.name])
        known = ~pd.isna(data.rows[prop.name]).to_numpy()
        masks = {s: (split == s) & known for s in SPLITS}
        note = _skip_reason(prop, target, masks)
        for fs in feature_sets:
            for method in predictors:
                base = {
                    "feature_set": fs, "predictor": method, "property": prop.name, "kind": prop.kind,
                    "scale": prop.scale if prop.kind == "number" else "", "split_id": split_id,
                    **{f"n_{s}": int(masks[s].sum()) for s in SPLITS},
                    "n_classes": len(np.unique(target[known])) if prop.kind == "class" else np.nan,
                }
                x = features[fs]
                reason = note
                if isinstance(x, str):
                    reason = reason or x
                elif method == "gbt" and x.shape[1] > max_gbt_features:
                    reason = reason or f"n/a: {x.shape[1]} features > max_gbt_features={max_gbt_features}"
                if reason:
                    records.append({**base, "note": reason})
                    continue
                start = time.perf_counter()
                key = (fs, method, masks["train"].tobytes())
                model = PropertyPredictor(prop.kind, method, seed=seed).fit(
                    x[masks["train"]], target[masks["train"]], x[masks["val"]], target[masks["val"]],
                    prep=prepared.get(key),
                )
                prepared[key] = (model.scaler_, model.basis_)
                pred = model.predict(x[masks["test"]])
                metrics = score(prop.kind, target[masks["test"]], pred)
                done += 1
                if log is not None:
                    key = "r2" if prop.kind == "number" else "balanced_accuracy"
                    log(f"[predict] {prop.name} from {fs} with {method}: {key} {metrics[key]:.3f} "
                        f"({time.perf_counter() - start:.1f} s; {done} fitted, {cells} cells in all)")
                remarks = [] if model.selected_on_val_ else ["no validation models: defaults kept"]
                if prop.kind == "number" and np.isnan(metrics["r2"]):
                    remarks.append("R² undefined: the test models hold a single value")
                records.append({
                    **base, **metrics, "n_features": int(x.shape[1]), "chosen": model.chosen,
                    "seconds": round(time.perf_counter() - start, 3), "note": "; ".join(remarks),
                })
                test_rows = data.rows.loc[masks["test"], ["model", "epoch"]]
                predictions.append(test_rows.assign(
                    feature_set=fs, predictor=method, property=prop.name,
                    true=target[masks["test"]], pred=pred,
                ))
    results = pd.DataFrame.from_records(records).reindex(columns=list(RESULT_COLUMNS))
    results["note"] = results["note"].fillna("")
    preds = pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(
        columns=["model", "epoch", "feature_set", "predictor", "property", "true", "pred"])
    return Evaluation(results, preds, properties, notes, split_id)


def _skip_reason(prop: Property, target: np.ndarray, masks: dict[str, np.ndarray]) -> str:
    if masks["train"].sum() == 0 or masks["test"].sum() == 0:
        return "skipped: no training or no test rows"
    if len(np.unique(target[masks["train"]])) < 2:
        what = "class" if prop.kind == "class" else "value"
        return f"skipped: a single {what} in the training models"
    return ""
