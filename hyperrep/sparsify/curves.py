"""Accuracy-vs-sparsity curves: magnitude pruning plus a short masked fine-tune.

Every model is pruned at every ratio (``eo_tasks.train.prune``: exactly
``round(ratio * prunable)`` weights zeroed, globally or per layer, in one shot or in
gradual steps, :class:`eo_tasks.train.prune.PruneConfig`) and fine-tuned with the mask
held and one recipe for all. Ratio 0 is the dense reference and goes through the same
schedule and epochs, so a curve's drop is due to pruning alone. With distillation
(``PruneConfig.distill``) the dense reference is fine-tuned on the labels alone, as without, and
is the teacher of every pruned twin of its model: a twin learns from the best dense model the
same fine-tune makes, not from the (often under-trained) model as given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from eo_tasks import ConfigError
from eo_tasks.data import TaskData
from eo_tasks.models import ModelSpec
from eo_tasks.train import DivergedError, PruneConfig, TrainConfig, sparsify_model

CURVE_COLUMNS = ("model", "source", "ratio", "scope", "schedule", "test_acc", "val_acc", "pruned_test_acc",
                 "start_test_acc", "sparsity", "wall_s")


def parse_ratios(text: str | Sequence[float]) -> tuple[float, ...]:
    """``"0.5,0.7,0.9"`` -> (0.0, 0.5, 0.7, 0.9): sorted, distinct, in [0, 1), 0 added."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()] if isinstance(text, str) else [float(v) for v in text]
    except (TypeError, ValueError):
        raise ConfigError(f"ratios must be comma-separated numbers, got {text!r}") from None
    bad = [v for v in values if not 0.0 <= v < 1.0]
    if bad or not values:
        raise ConfigError(f"ratios must be numbers in [0, 1), got {text!r}")
    return tuple(sorted({0.0, *values}))


def prune_curves(
    models: Sequence[tuple[str, str, np.ndarray]],
    spec: ModelSpec,
    data: TaskData,
    recipe: TrainConfig,
    ratios: Sequence[float],
    scope: str = "global",
    finetune_epochs: int = 1,
    log: Callable[[str], None] | None = None,
    prune: PruneConfig | None = None,
) -> pd.DataFrame:
    """``models`` = (name, source, flat weights); one row per model and ratio. ``prune``, when
    given, replaces ``scope`` and ``finetune_epochs`` (one-shot pruning with those otherwise).
    ``log`` gets a progress line per model."""
    prune = prune or PruneConfig(scope=scope, finetune_epochs=finetune_epochs)
    if prune.distill and 0.0 not in {float(r) for r in ratios}:
        raise ConfigError("distillation teaches with the dense reference: the ratios must include 0")
    rows = []
    for k, (name, source, flat) in enumerate(models, 1):
        flat = np.asarray(flat, dtype=np.float32)
        teacher = None
        for ratio in sorted(float(r) for r in ratios):  # 0 first: the teacher of the others
            row = {"model": name, "source": source, "ratio": ratio, "scope": prune.scope,
                   "schedule": prune.schedule}
            try:
                if ratio == 0.0:
                    twin, m = sparsify_model(spec, data, recipe, flat, ratio, replace(prune, distill=0.0))
                    teacher = twin
                else:
                    _, m = sparsify_model(spec, data, recipe, flat, ratio, prune, teacher=teacher)
                row.update(test_acc=m.get("test_acc", np.nan), val_acc=m.get("val_acc", np.nan),
                           pruned_test_acc=m.get("pruned_test_acc", np.nan),
                           start_test_acc=m.get("start_test_acc", np.nan), sparsity=m["sparsity"], wall_s=m["wall_s"])
            except (DivergedError, ValueError):  # NaN weights or a diverged fine-tune: no point
                row.update(test_acc=np.nan, val_acc=np.nan, pruned_test_acc=np.nan, start_test_acc=np.nan,
                           sparsity=np.nan, wall_s=np.nan)
            rows.append(row)
        if log is not None:
            accs = " ".join(f"{r['ratio']:g}:{r['test_acc']:.3f}" for r in rows[-len(ratios):])
            log(f"[sparsify {k}/{len(models)}] {source} {name}: test_acc by ratio {accs}")
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def mean_curves(curves: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    g = curves.groupby(["source", "ratio"], sort=False)[metric]
    return g.agg(["mean", "std", "count"]).reset_index()


def drop_point(ratios: Sequence[float], accs: Sequence[float], drop: float = 0.02,
               reference: float | None = None) -> float | None:
    """The sparsity at which ``accs`` first falls ``drop`` below its value at the lowest ratio
    (or below ``reference``), linearly interpolated between the two ratios around the
    crossing; None if it never does."""
    r = np.asarray(ratios, dtype=float)
    a = np.asarray(accs, dtype=float)
    order = np.argsort(r)
    r, a = r[order], a[order]
    ok = np.isfinite(a)
    r, a = r[ok], a[ok]
    if len(r) < 2:
        return None
    level = (a[0] if reference is None else float(reference)) - drop
    if a[0] < level:
        return float(r[0])
    for k in range(1, len(r)):
        if a[k] < level:
            # a[k-1] >= level > a[k]: the crossing lies between r[k-1] and r[k]
            frac = (a[k - 1] - level) / (a[k - 1] - a[k])
            return float(r[k - 1] + frac * (r[k] - r[k - 1]))
    return None


def drop_interval(curves: pd.DataFrame, drop: float = 0.02, metric: str = "test_acc", resamples: int = 1000,
                  seed: int = 0, level: float = 0.95) -> tuple[float, float] | None:
    """A percentile bootstrap interval over MODELS for the drop sparsity of one source's mean
    curve: each resample draws the models with replacement (a model brings all its ratios),
    averages their curves and reads the crossing (:func:`drop_point`). A resample whose mean
    curve never drops counts as infinitely sparse, so an upper bound of ``inf`` reads "never
    drops within the ratios tried". None with fewer than 2 models: there is nothing to resample.
    """
    from hyperrep.downstream.bootstrap import resample_counts

    acc = curves.pivot_table(index="model", columns="ratio", values=metric, aggfunc="mean", dropna=False)
    if len(acc) < 2:
        return None
    values = acc.to_numpy(dtype=float)
    seen = np.isfinite(values).astype(float)
    counts = resample_counts(len(acc), resamples, seed).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (counts @ np.nan_to_num(values)) / (counts @ seen)  # [resamples, ratios]
    ratios = acc.columns.to_numpy(dtype=float)
    points = [drop_point(ratios, row, drop) for row in means]
    points = np.sort([np.inf if p is None else p for p in points])
    # order statistics, not bootstrap.percentile_interval: that one drops non-finite resamples and
    # interpolates, while a "never" here is a real outcome that must stay an unbounded bound
    tail = (1.0 - level) / 2.0
    lo = points[int(np.floor(tail * (len(points) - 1)))]
    hi = points[int(np.ceil((1.0 - tail) * (len(points) - 1)))]
    return float(lo), float(hi)


def drop_table(curves: pd.DataFrame, drop: float = 0.02) -> pd.DataFrame:
    """Per source: dense test accuracy, test accuracy at the highest ratio, the drop sparsity
    of the mean test curve with its 95% bootstrap interval over models (``drop_lo``,
    ``drop_hi``: :func:`drop_interval`; ``inf`` = never drops; NaN with one model) and (where
    the curves have ``val_acc``) of the mean validation curve, the one to choose pruning options
    on; ``twin_wall_s``: mean seconds per twin.

    ``original_acc`` is the mean test accuracy of the models as given (ratio 0 before any
    fine-tune), and ``drop_vs_original`` the sparsity where the mean test curve falls
    ``drop`` below it: a fine-tune that moves the dense reference itself, down or up, shows
    here and not in ``drop_sparsity``."""
    rows = []
    val = mean_curves(curves, "val_acc") if "val_acc" in curves and curves["val_acc"].notna().any() else None
    for source, m in mean_curves(curves).groupby("source", sort=False):
        point = drop_point(m["ratio"], m["mean"], drop)
        row = {
            "source": source,
            "models": int(m["count"].max()),
            "dense_acc": float(m["mean"].iloc[int(np.argmin(m["ratio"]))]),
            "max_ratio": float(m["ratio"].max()),
            "acc_at_max_ratio": float(m["mean"].iloc[int(np.argmax(m["ratio"]))]),
            "drop_sparsity": point,
        }
        ci = drop_interval(curves[curves["source"] == source], drop)
        row["drop_lo"], row["drop_hi"] = ci if ci is not None else (np.nan, np.nan)
        if val is not None:
            v = val[val["source"] == source]
            row["val_drop_sparsity"] = drop_point(v["ratio"], v["mean"], drop)
        dense0 = curves[(curves["source"] == source) & (curves["ratio"] == m["ratio"].min())]
        # the model as given: ratio 0 before any fine-tune (start_ for gradual runs, whose
        # pruned_ at ratio 0 comes after the earlier steps' fine-tunes)
        given = "start_test_acc" if "start_test_acc" in curves else "pruned_test_acc"
        if given in curves and dense0[given].notna().any():
            row["original_acc"] = float(dense0[given].mean())
            row["drop_vs_original"] = drop_point(m["ratio"], m["mean"], drop, reference=row["original_acc"])
        if "wall_s" in curves:
            row["twin_wall_s"] = float(curves.loc[curves["source"] == source, "wall_s"].mean())
        row["note"] = "" if point is not None else f"never drops by {drop:.2f} up to ratio {m['ratio'].max():g}"
        rows.append(row)
    return pd.DataFrame(rows)


def format_drop(point: float | None, lo: float = np.nan, hi: float = np.nan, digits: int = 3) -> str:
    """``0.802 [0.77, never]``: a drop sparsity (None or NaN: ``never``) and, where there is one,
    its interval (:func:`drop_interval`; ``inf``: never)."""
    def one(v: float | None, d: int) -> str:
        return "never" if pd.isna(v) or np.isinf(v) else f"{v:.{d}f}"

    text = one(point, digits)
    if not (pd.isna(lo) and pd.isna(hi)):
        text += f" [{one(lo, 2)}, {one(hi, 2)}]"
    return text
