"""Every (feature set, predictor, property) on one split by model.

The split is a column of the rows table, decided once per zoo before any feature set
is built, so every feature set is fitted on the same training models, tuned on the
same validation models and scored on the same test models. Every metric comes with a
bootstrap interval over the test models (:mod:`~hyperrep.downstream.bootstrap`).

Cells of one feature set and predictor share one scaler and basis fitted on the
training rows (:mod:`~hyperrep.downstream.spaces`), so they run as one group, and
groups run side by side in ``jobs`` processes (:mod:`~hyperrep.downstream.cells`). A
cell's numbers do not depend on which other cells run, nor on the jobs and threads.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from eo_tasks.config import ConfigError
from eo_tasks.data.splits import SPLITS
from eo_tasks.models.layout import Layout
from hyperrep.downstream.bootstrap import RESAMPLES
from hyperrep.downstream.blend import BLEND_SETS, blend_cells
from hyperrep.downstream.cells import Target, quiet, run_groups
from hyperrep.downstream.features import FEATURE_SETS, WeightStats, feature_matrix
from hyperrep.downstream.names import BLEND, PREDICTORS, PRIMARY_METRIC, SUPERVISED, SUPERVISED_SET
from hyperrep.downstream.predictors import CLASS_METRICS, NUMBER_METRICS
from hyperrep.downstream.properties import Property, select_properties
from hyperrep.downstream.roles import RoleStats
from hyperrep.downstream.spaces import GBT_COMPONENTS

if TYPE_CHECKING:
    from hyperrep.downstream.supervised import FineTune
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


def evaluate(
    data: DownstreamData,
    properties: list[Property] | None = None,
    feature_sets: tuple[str, ...] = FEATURE_SETS,
    predictors: tuple[str, ...] = PREDICTORS,
    max_gbt_features: int = 4096,
    seed: int = 0,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
    *,
    jobs: int | None = None,
    resamples: int = RESAMPLES,
    gbt_components: int | None = GBT_COMPONENTS,
    run: HyperRep | None = None,
    fine_tune: FineTune | None = None,
) -> Evaluation:
    """Fit and score every combination; a combination that cannot run is a row with a note.

    ``max_gbt_features`` bounds the width of a feature set that gradient boosting is run
    on at all (wider: n/a); narrower sets wider than ``gbt_components`` are boosted on that
    many of their features, screened on the training rows (None: on every feature). ``threads``:
    cores to use in all (None: every core); ``jobs``: cells fitted side by side (None: see
    :func:`plan_workers`). ``resamples``: bootstrap resamples of the test models behind each
    interval (0: no intervals), drawn with ``seed``. ``log`` receives one line per fitted cell.

    The supervised row (``"encoder"`` among the feature sets or ``"supervised"`` among the
    predictors: one cell per property, not crossed with the others) fine-tunes ``run``'s
    encoder with a property head (:mod:`~hyperrep.downstream.supervised`, ``fine_tune``
    options) in this process on all ``threads`` cores, after the other cells.
    """
    n_jobs, per_job = plan_workers(threads, jobs)
    start = time.perf_counter()
    with threadpool_limits(per_job), quiet():
        ev = _evaluate(data, properties, feature_sets, predictors, max_gbt_features, seed, log,
                       n_jobs, per_job, resamples, gbt_components, run, fine_tune)
    ev.seconds, ev.jobs, ev.threads = time.perf_counter() - start, n_jobs, n_jobs * per_job
    ev.resamples, ev.seed = resamples, seed
    return ev


def _check_names(feature_sets: tuple[str, ...], predictors: tuple[str, ...], data: DownstreamData) -> None:
    for name in feature_sets:
        if name not in (*FEATURE_SETS, SUPERVISED_SET):
            raise ConfigError(f"unknown feature set {name!r}, expected some of {(*FEATURE_SETS, SUPERVISED_SET)}")
    for name in predictors:
        if name not in (*PREDICTORS, SUPERVISED):
            raise ConfigError(f"unknown predictor {name!r}, expected some of {(*PREDICTORS, SUPERVISED)}")
    for split in ("train", "test"):
        if not data.models(split):
            counts = {s: len(data.models(s)) for s in SPLITS}
            raise ConfigError(f"the split by model has no {split} models ({counts}); "
                             "property prediction needs a zoo with more finished models")


def _evaluate(data: DownstreamData, properties: list[Property] | None, feature_sets: tuple[str, ...],
              predictors: tuple[str, ...], max_gbt_features: int, seed: int, log: Callable[[str], None] | None,
              n_jobs: int, per_job: int, resamples: int, gbt_components: int | None,
              run: HyperRep | None, fine_tune: FineTune | None) -> Evaluation:
    _check_names(feature_sets, predictors, data)
    supervised = SUPERVISED_SET in feature_sets or SUPERVISED in predictors
    feature_sets = tuple(f for f in feature_sets if f != SUPERVISED_SET)
    predictors = tuple(p for p in predictors if p != SUPERVISED)
    notes = list(data.notes)
    if properties is None:
        properties, more = select_properties(data.rows)
        notes += more
    stats = data.weight_stats()
    features: dict[str, np.ndarray | str] = {}
    for name in feature_sets:
        if data.mixed and name in MIXED_NA:
            features[name] = MIXED_NA[name]
        elif "emb" in name and (data.pooled if name.startswith("pool(emb)") else data.embeddings) is None:
            features[name] = "no hyper-representation run given"
        else:
            features[name] = feature_matrix(name, data.weights, data.layout, data.embeddings, stats, data.pooled)

    split = data.rows["split"].to_numpy()
    targets = []
    for prop in properties:
        values = prop.encode(data.rows[prop.name])
        known = ~pd.isna(data.rows[prop.name]).to_numpy()
        masks = {s: (split == s) & known for s in SPLITS}
        targets.append(Target(prop, values, masks, _skip_reason(prop, values, masks)))
    tunes = set(fine_tune.properties) if fine_tune is not None and fine_tune.properties else None  # None: all
    if tunes is not None and tunes - {t.prop.name for t in targets}:
        raise ConfigError(f"supervised row asked for {sorted(tunes - {t.prop.name for t in targets})}, not among "
                          f"the properties {[t.prop.name for t in targets]}")
    cells = [(t, fs, method) for t in targets
             for fs, method in [*((f, m) for f in feature_sets for m in predictors
                                  if m != BLEND or (f in BLEND_SETS and t.prop.kind == "number")),
                                *([(SUPERVISED_SET, SUPERVISED)]
                                  if supervised and (tunes is None or t.prop.name in tunes) else [])]]
    records: list[dict] = []
    groups: dict[tuple[str, str], list[int]] = {}  # cells sharing a scaler and basis
    tuned: list[int] = []  # the supervised cells
    blends: list[int] = []  # fitted after the cells they average
    for i, (t, fs, method) in enumerate(cells):
        records.append(_base_record(t, fs, method, data))
        if method == BLEND:
            blends.append(i)
            continue
        if method == SUPERVISED:
            reason = t.skip or ("" if run is not None else "no hyper-representation run given")
            records[i]["note"] = reason
            if not reason:
                tuned.append(i)
            continue
        x = features[fs]
        reason = t.skip or (x if isinstance(x, str) else "")
        if not reason and method == "gbt" and x.shape[1] > max_gbt_features:
            reason = f"n/a: {x.shape[1]} features > max_gbt_features={max_gbt_features}"
        if reason:
            records[i]["note"] = reason
        else:
            groups.setdefault((fs, method), []).append(i)

    settings = dict(models=data.rows["model"].to_numpy(), epochs=data.rows[["model", "epoch"]], seed=seed,
                    resamples=resamples, gbt_components=gbt_components)
    work = [([(i, *cells[i]) for i in members], features[fs]) for (fs, _), members in groups.items()]
    total = sum(len(members) for members in groups.values()) + len(tuned)
    predictions: list[pd.DataFrame | None] = [None] * len(cells)
    fitted = run_groups(work, n_jobs, per_job, **settings)
    if tuned:
        fine_tune = _fine_tune_options(fine_tune, n_jobs * per_job)
        fitted = itertools.chain(fitted, _supervised(data, run, [(i, *cells[i]) for i in tuned], fine_tune, settings))
    for done, (i, record, pred) in enumerate(fitted, start=1):
        records[i].update(record)
        predictions[i] = pred
        if log is not None:
            main = PRIMARY_METRIC[records[i]["kind"]]
            log(f"[predict] {records[i]['property']} from {records[i]['feature_set']} with "
                f"{records[i]['predictor']}: {main} {record[main]:.3f} ({record['seconds']:.1f} s; "
                f"{done} of {total} fitted)")
    scoring = {k: v for k, v in settings.items() if k != "gbt_components"}
    for i, record, pred in blend_cells(blends, cells, records, predictions, features, **scoring):
        records[i].update(record)
        predictions[i] = pred
        if log is not None and pred is not None:
            log(f"[predict] {records[i]['property']} from {records[i]['feature_set']} with blend: "
                f"r2 {record['r2']:.3f} ({record['chosen']})")
    results = pd.DataFrame.from_records(records).reindex(columns=list(RESULT_COLUMNS))
    results["note"] = results["note"].fillna("")
    ran = [p for p in predictions if p is not None]
    preds = pd.concat(ran, ignore_index=True) if ran else pd.DataFrame(
        columns=["model", "epoch", "feature_set", "predictor", "property", "true", "pred"])
    return Evaluation(results, preds, properties, notes, data.split_id, supervised=fine_tune if tuned else None)


def _fine_tune_options(options: FineTune | None, cores: int) -> FineTune:
    from hyperrep.downstream.supervised import FineTune

    options = options or FineTune()
    return options if options.threads else replace(options, threads=cores)


def _supervised(data: DownstreamData, run: HyperRep, cells: list, options: FineTune, settings: dict):
    """The supervised cells, after the others (a generator: nothing runs until they are done)."""
    from hyperrep.downstream.supervised import fit_supervised, run_archs

    layouts = data.layouts if data.mixed else {0: data.layout}
    archs = data.rows["arch"].to_numpy() if data.mixed else np.zeros(len(data.rows), np.int64)
    yield from fit_supervised(cells, run, data.weights, run_archs(run, layouts, archs), options=options,
                              **{k: v for k, v in settings.items() if k != "gbt_components"})


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
