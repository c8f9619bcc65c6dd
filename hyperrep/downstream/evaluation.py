"""Every (feature set, predictor, property) on one split by model.

The split is a column of the rows table, decided once per zoo before any feature set
is built, so every feature set is fitted on the same training models, tuned on the
same validation models and scored on the same test models. Every metric comes with a
bootstrap interval over the test models (:mod:`~hyperrep.downstream.bootstrap`).

The predictors are the registry's (:mod:`~hyperrep.downstream.registry`): every feature set
is crossed with every predictor asked for that applies to it. Cells of one feature set and
predictor run as one group, and groups run side by side in ``jobs`` processes
(:mod:`~hyperrep.downstream.cells`); cells of supervised predictors run after them in this
process on every core. A cell's numbers do not depend on which other cells run, nor on the
jobs and threads.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from eo_tasks import ConfigError
from eo_tasks.data import SPLITS
from eo_tasks.models import Layout
from hyperrep.downstream.bootstrap import RESAMPLES
from hyperrep.downstream.cells import Target, quiet, run_groups
from hyperrep.downstream.config import FineTune, PredictConfig
from hyperrep.downstream.feature_sets import FEATURE_SET_REGISTRY, feature_set_names, holds
from hyperrep.downstream.features import FEATURE_SETS, WeightStats, feature_matrix
from hyperrep.downstream.names import PRIMARY_METRIC
from hyperrep.downstream.predictors import CLASS_METRICS, NUMBER_METRICS
from hyperrep.downstream.properties import Property, select_properties
from hyperrep.downstream.registry import (
    PREDICTOR_REGISTRY, FitContext, Predictor, default_predictors, get_predictor, own_feature_sets,
)
from hyperrep.downstream.roles import RoleStats

if TYPE_CHECKING:
    from hyperrep.run import HyperRep

METRICS = (*NUMBER_METRICS, *CLASS_METRICS)
INTERVAL_COLUMNS = tuple(f"{m}_{end}" for m in METRICS for end in ("lo", "hi"))
# Feature sets with no meaning across architectures: their width and columns differ per architecture
# (padding would line up unrelated weights), so a zoo of several architectures skips them.
MIXED_NA = {
    "W": "n/a: several architectures; raw weights differ in width and meaning per architecture "
         "(s(W) per layer role and pool(emb) compare them)",
    "emb": "n/a: several architectures; per-token embeddings differ in width per architecture (see pool(emb))",
    "emb+s(W)": "n/a: several architectures; per-token embeddings differ in width per architecture",
}
RESULT_COLUMNS = (
    "feature_set", "predictor", "property", "kind", "scale", *METRICS, *INTERVAL_COLUMNS,
    "n_train", "n_val", "n_test", "n_test_models", "n_classes", "n_features", "reduced_to", "chosen",
    "val_score", "seconds", "note", "split_id",
)


@dataclass
class DownstreamData:
    """One row per checkpoint (``rows``: model, epoch, split, property columns) with its
    flat weights and, when a hyper-representation run is given, its embedding.

    A zoo of several architectures (``layouts``: arch id -> layout, ``rows["arch"]`` per row;
    ``layout`` None) has its weights zero-padded to the widest architecture, no per-token
    ``embeddings`` (their width differs by architecture) and ``pooled`` embeddings
    (``HyperRep.pool``, one width for all); s(W) is then taken per layer role
    (:class:`~hyperrep.downstream.roles.RoleStats`) and raw W is not a feature set."""

    rows: pd.DataFrame
    weights: np.ndarray
    layout: Layout | None
    embeddings: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    pooled: np.ndarray | None = None  # HyperRep.pool of the embeddings
    layouts: dict[int, Layout] = field(default_factory=dict)  # several architectures: arch id -> layout
    probes: np.ndarray | None = None  # each row's outputs on the probe inputs (feature set "probe")
    zoo: str = ""  # the zoo file the rows came from, for predictors that run its models

    def __post_init__(self) -> None:
        for col in ("model", "epoch", "split"):
            if col not in self.rows:
                raise ValueError(f"rows table lacks the {col!r} column")
        if self.layout is None:
            if len(self.layouts) < 2 or "arch" not in self.rows:
                raise ValueError("without one layout, give the layouts of two or more architectures and "
                                 "an 'arch' column")
            if self.embeddings is not None:
                raise ValueError("per-token embeddings differ in width by architecture; give pooled ones")
            unknown = sorted(set(self.rows["arch"].astype(int)) - set(self.layouts))
            if unknown:
                raise ValueError(f"rows of architectures {unknown} without a layout")
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

    @property
    def mixed(self) -> bool:
        """True for checkpoints of several architectures (role-wise s(W), no raw W)."""
        return self.layout is None

    def weight_stats(self) -> np.ndarray:
        """s(W): layer-wise for one architecture, per layer role for several."""
        if not self.mixed:
            return WeightStats(self.layout).transform(self.weights)
        return RoleStats(self.layouts).transform(self.weights, self.rows["arch"].to_numpy(np.int64))


@dataclass
class Evaluation:
    results: pd.DataFrame  # one row per (feature set, predictor, property), RESULT_COLUMNS
    predictions: pd.DataFrame  # test rows: feature_set, predictor, property, model, epoch, true, pred
    properties: list[Property]
    notes: list[str]
    split_id: str
    seconds: float = float("nan")  # wall-clock time of the whole evaluation
    jobs: int = 1  # cells fitted side by side
    threads: int = 1  # cores in all
    resamples: int = RESAMPLES
    seed: int = 0  # of the predictors and of the resamples
    supervised: FineTune | None = None  # how the supervised row was fine-tuned, when it ran



def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def plan_workers(threads: int | None = None, jobs: int | None = None) -> tuple[int, int]:
    """(cells fitted side by side, BLAS/OpenMP threads each) for ``threads`` cores in all
    (None: every core). By default one single-threaded cell per core: the fits are many
    and small, so running two at once on two cores beats one on both (see
    benchmarks/predict_speed.py, which measures both)."""
    cores = max(1, threads or available_cores())
    jobs = max(1, min(jobs or cores, cores))
    return jobs, max(1, cores // jobs)


def evaluate(data: DownstreamData, config: PredictConfig = PredictConfig(), *,
             properties: list[Property] | None = None, run: HyperRep | None = None,
             log: Callable[[str], None] | None = None) -> Evaluation:
    """Fit and score every combination ``config`` asks for; a combination that cannot run is a
    row with a note. ``properties`` None: every property the rows hold
    (:func:`~hyperrep.downstream.properties.select_properties`); ``run``: what supervised
    predictors fine-tune; ``log`` receives one line per fitted cell."""
    n_jobs, per_job = plan_workers(config.threads, config.jobs)
    start = time.perf_counter()
    with threadpool_limits(per_job), quiet():
        ev = _evaluate(data, config, properties, run, log, n_jobs, per_job)
    ev.seconds, ev.jobs, ev.threads = time.perf_counter() - start, n_jobs, n_jobs * per_job
    ev.resamples, ev.seed = config.resamples, config.seed
    return ev


def asked(config: PredictConfig) -> tuple[tuple[str, ...], tuple[Predictor, ...]]:
    """The feature sets and predictors ``config`` asks for: naming a supervised predictor or
    its feature set, or ``supervised``, asks for both."""
    known = (*FEATURE_SETS, *feature_set_names(), *own_feature_sets())
    for name in config.feature_sets:
        if name not in known:
            raise ConfigError(f"unknown feature set {name!r}, expected some of {known}")
    names = config.predictors if config.predictors is not None else default_predictors()
    predictors = [get_predictor(n) for n in names]
    feature_sets = list(config.feature_sets)
    for p in PREDICTOR_REGISTRY.values():
        if p.supervised and (config.supervised or p in predictors or set(p.feature_sets or ()) & set(feature_sets)):
            predictors += [p] if p not in predictors else []
            feature_sets += [f for f in p.feature_sets or () if f not in feature_sets]
    return tuple(feature_sets), tuple(predictors)


def _features(data: DownstreamData, names: tuple[str, ...], predictors: tuple[Predictor, ...],
              run: HyperRep | None) -> tuple[dict[str, np.ndarray | str], dict[str, dict[str, slice]]]:
    """Each feature set's matrix (or why there is none) and the columns of its parts."""
    stats = data.weight_stats()
    features: dict[str, np.ndarray | str] = {}
    parts: dict[str, dict[str, slice]] = {}
    builders = {f: p.features for p in predictors if p.features is not None for f in p.feature_sets or ()}
    for name in names:
        if name in builders:
            features[name] = builders[name](data, run)
        elif name in FEATURE_SET_REGISTRY:
            features[name] = FEATURE_SET_REGISTRY[name].build(data, stats)
        elif data.mixed and name in MIXED_NA:
            features[name] = MIXED_NA[name]
        elif "emb" in name and (data.pooled if name.startswith("pool(emb)") else data.embeddings) is None:
            features[name] = "no hyper-representation run given"
        else:
            features[name] = feature_matrix(name, data.weights, data.layout, data.embeddings, stats, data.pooled)
        x = features[name]
        if isinstance(x, np.ndarray) and "+" in name:  # "X+s(W)": X's columns, then s(W)'s
            first, second = name.split("+")
            edge = x.shape[1] - stats.shape[1]
            parts[name] = {first: slice(0, edge), second: slice(edge, x.shape[1])}
        else:
            parts[name] = {name: slice(None)}
    return features, parts


def _evaluate(data: DownstreamData, config: PredictConfig, properties: list[Property] | None,
              run: HyperRep | None, log: Callable[[str], None] | None, n_jobs: int, per_job: int) -> Evaluation:
    feature_sets, predictors = asked(config)
    for split in ("train", "test"):
        if not data.models(split):
            counts = {s: len(data.models(s)) for s in SPLITS}
            raise ConfigError(f"the split by model has no {split} models ({counts}); "
                              "property prediction needs a zoo with more finished models")
    notes = list(data.notes)
    if properties is None:
        properties, more = select_properties(data.rows)
        if config.properties:  # only these: the others are neither fitted nor noted
            names = [p.name for p in properties]
            unknown = [n for n in config.properties if n not in names]
            if unknown:
                raise ConfigError(f"properties {unknown} asked for, but this zoo's properties are {names} "
                                  f"({'; '.join(more) or 'no others'})")
            properties = [p for p in properties if p.name in config.properties]
            more = [n for n in more if n.split(":")[0] in config.properties]
        notes += more
    features, parts = _features(data, feature_sets, predictors, run)
    split = data.rows["split"].to_numpy()
    targets = []
    for prop in properties:
        values = prop.encode(data.rows[prop.name])
        known = ~pd.isna(data.rows[prop.name]).to_numpy()
        masks = {s: (split == s) & known for s in SPLITS}
        targets.append(Target(prop, values, masks, _skip_reason(prop, values, masks)))
    tunes = set(config.fine_tune.properties) or None  # supervised predictors: these properties only (None: all)
    if tunes is not None and tunes - {t.prop.name for t in targets}:
        raise ConfigError(f"supervised row asked for {sorted(tunes - {t.prop.name for t in targets})}, not among "
                          f"the properties {[t.prop.name for t in targets]}")
    owner = {f: p for p in predictors if p.features is not None for f in p.feature_sets or ()}
    cells = [(t, fs, p) for t in targets for fs in feature_sets for p in predictors
             if p.applies(fs, t.prop.kind) and owner.get(fs, p) is p  # a predictor's own set is its alone
             and (not p.supervised or tunes is None or t.prop.name in tunes)]
    records: list[dict] = []
    groups: dict[tuple[str, str], list[int]] = {}  # cells of one feature set and predictor
    for i, (t, fs, p) in enumerate(cells):
        records.append(_base_record(t, fs, p.name, data))
        x = features[fs]
        reason = t.skip or (x if isinstance(x, str) else "")
        if not reason and holds(fs, t.prop.name):
            reason = f"n/a: {fs} holds {t.prop.name} itself"
        limit = getattr(config, p.width_limit) if p.width_limit else None
        if not reason and limit is not None and x.shape[1] > limit:
            reason = f"n/a: {x.shape[1]} features > {p.width_limit}={limit}"
        if reason:
            records[i]["note"] = reason
        else:
            groups.setdefault((fs, p.name), []).append(i)

    settings = dict(models=data.rows["model"].to_numpy(), epochs=data.rows[["model", "epoch"]], seed=config.seed,
                    resamples=config.resamples)
    tuned = replace(config, fine_tune=_fine_tune_options(config.fine_tune, n_jobs * per_job))
    work = {False: [], True: []}  # by supervised: those run after the others, here, on every core
    for (fs, name), members in groups.items():
        p = cells[members[0]][2]
        context = FitContext("", fs, parts[fs], tuned if p.supervised else config, run if p.supervised else None,
                             data.zoo)
        work[p.supervised].append(([(i, *cells[i]) for i in members], features[fs], context))
    total = sum(len(members) for members in groups.values())
    predictions: list[pd.DataFrame | None] = [None] * len(cells)
    fitted = [run_groups(work[False], n_jobs, per_job, **settings), run_groups(work[True], 1, 1, **settings)]
    done = 0
    for i, record, pred in (f for part in fitted for f in part):
        done += 1
        records[i].update(record)
        predictions[i] = pred
        if log is not None:
            main = PRIMARY_METRIC[records[i]["kind"]]
            log(f"[predict] {records[i]['property']} from {records[i]['feature_set']} with "
                f"{records[i]['predictor']}: {main} {record[main]:.3f} ({record['seconds']:.1f} s; "
                f"{done} of {total} fitted)")
    results = pd.DataFrame.from_records(records).reindex(columns=list(RESULT_COLUMNS))
    results["note"] = results["note"].fillna("")
    ran = [p for p in predictions if p is not None]
    preds = pd.concat(ran, ignore_index=True) if ran else pd.DataFrame(
        columns=["model", "epoch", "feature_set", "predictor", "property", "true", "pred"])
    supervised_ran = any(cells[i][2].supervised and predictions[i] is not None for i in range(len(cells)))
    return Evaluation(results, preds, properties, notes, data.split_id,
                      supervised=tuned.fine_tune if supervised_ran else None)


def _fine_tune_options(options: FineTune, cores: int) -> FineTune:
    return options if options.threads else replace(options, threads=cores)


def _base_record(t: Target, fs: str, method: str, data: DownstreamData) -> dict:
    known = t.masks["train"] | t.masks["val"] | t.masks["test"]
    return {
        "feature_set": fs, "predictor": method, "property": t.prop.name, "kind": t.prop.kind,
        "scale": t.prop.scale if t.prop.kind == "number" else "", "split_id": data.split_id,
        **{f"n_{s}": int(t.masks[s].sum()) for s in SPLITS},
        "n_test_models": int(data.rows.loc[t.masks["test"], "model"].nunique()),
        "n_classes": len(np.unique(t.values[known])) if t.prop.kind == "class" else np.nan,
    }


def _skip_reason(prop: Property, target: np.ndarray, masks: dict[str, np.ndarray]) -> str:
    if masks["train"].sum() == 0 or masks["test"].sum() == 0:
        return "skipped: no training or no test rows"
    if len(np.unique(target[masks["train"]])) < 2:
        what = "class" if prop.kind == "class" else "value"
        return f"skipped: a single {what} in the training models"
    return ""
