"""Bootstrap intervals over test MODELS, and paired comparisons of two predictors.

The test rows are checkpoints, but checkpoints of one model are not independent draws:
the population sampled is the models. So a resample draws test models with replacement
and every checkpoint of a drawn model comes along (a model drawn twice counts twice).

Each resample is a vector of counts per model, so every metric of every resample is a
weighted sum over per-model aggregates (one matrix product for all resamples):
R², MAE, accuracy and balanced accuracy from per-model sums, Kendall's τ-b from
model-by-model matrices of concordance and ties (O(rows²) once, then O(models²) per
resample). The same seed and test models give the same resamples, so two predictors
scored with them are paired: :func:`paired_difference` bootstraps the difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperrep.downstream.predictors import CLASS_METRICS, NUMBER_METRICS, Kind

RESAMPLES = 1000
LEVEL = 0.95
_MIN_DEFINED = 0.5  # fewer defined resamples than this share: no interval


def resample_counts(n_models: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """[resamples, n_models] how often each model is drawn; each row sums to n_models."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_models, size=(resamples, n_models))
    flat = (draws + n_models * np.arange(resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=resamples * n_models).reshape(resamples, n_models)


@dataclass(frozen=True)
class _Blocks:
    """Test rows grouped by model (models sorted), and each row's model index."""

    models: np.ndarray  # [M] model ids
    index: np.ndarray  # [n] row -> model index
    sizes: np.ndarray  # [M] checkpoints per model

    @classmethod
    def of(cls, models: np.ndarray) -> _Blocks:
        ids, index = np.unique(np.asarray(models), return_inverse=True)
        return cls(ids, index, np.bincount(index, minlength=len(ids)).astype(float))

    def sums(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.index, weights=np.asarray(values, float), minlength=len(self.models))


def _pair_matrices(blocks: _Blocks, true: np.ndarray, pred: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, ...]:
    """Model-by-model sums over row pairs of sign(Δtrue)·sign(Δpred), [true ties], [pred ties]."""
    order = np.argsort(blocks.index, kind="stable")
    t, p, idx = true[order], pred[order], blocks.index[order]
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])  # every model has >= 1 row
    m = len(blocks.models)
    out = [np.zeros((len(t), m)) for _ in range(3)]
    for lo in range(0, len(t), chunk):
        dt = t[lo:lo + chunk, None] - t[None, :]
        dp = p[lo:lo + chunk, None] - p[None, :]
        for target, pair in zip(out, (np.sign(dt) * np.sign(dp), dt == 0, dp == 0)):
            target[lo:lo + chunk] = np.add.reduceat(pair.astype(float), starts, axis=1)
    return tuple(np.add.reduceat(x, starts, axis=0) for x in out)


def _quad(counts: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """c^T A c for every row c of counts."""
    return np.einsum("bi,bi->b", counts @ matrix, counts)


def _spread(blocks: _Blocks, values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per resample: whether ``values`` differ between the drawn rows."""
    hi = np.full(len(blocks.models), -np.inf)
    lo = np.full(len(blocks.models), np.inf)
    np.maximum.at(hi, blocks.index, values)
    np.minimum.at(lo, blocks.index, values)
    drawn = counts > 0
    return np.where(drawn, hi, -np.inf).max(axis=1) > np.where(drawn, lo, np.inf).min(axis=1)


def number_replicates(true: np.ndarray, pred: np.ndarray, models: np.ndarray,
                      counts: np.ndarray) -> dict[str, np.ndarray]:
    """R², Kendall's τ-b and MAE of every resample (rows of ``counts``), with the
    conventions of :func:`~hyperrep.downstream.predictors.number_metrics`: R² and τ are
    NaN where the drawn truth is constant, τ is 0 where the drawn predictions are."""
    true, pred = np.asarray(true, float), np.asarray(pred, float)
    b = _Blocks.of(models)
    c = counts.astype(float)
    n = c @ b.sizes
    centred = true - true.mean()  # shift first: the sums of squares lose less precision
    sse = c @ b.sums((true - pred) ** 2)
    sy, syy = c @ b.sums(centred), c @ b.sums(centred**2)
    varies, pred_varies = _spread(b, true, counts), _spread(b, pred, counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(varies & (n > 1), 1.0 - sse / (syy - sy**2 / n), np.nan)
        concord, tied_t, tied_p = _pair_matrices(b, true, pred)
        pairs = n * (n - 1) / 2
        untied_t = pairs - (_quad(c, tied_t) - n) / 2
        untied_p = pairs - (_quad(c, tied_p) - n) / 2
        tau = _quad(c, concord) / 2 / np.sqrt(untied_t * untied_p)
    tau = np.where(~varies, np.nan, np.where(pred_varies, tau, 0.0))
    return {"r2": r2, "kendall_tau": tau, "mae": (c @ b.sums(np.abs(true - pred))) / n}


def class_replicates(true: np.ndarray, pred: np.ndarray, models: np.ndarray,
                     counts: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy and balanced accuracy (mean recall over the classes present in the drawn
    truth, as scikit-learn's) of every resample."""
    true, pred = np.asarray(true).astype(str), np.asarray(pred).astype(str)
    b = _Blocks.of(models)
    c = counts.astype(float)
    hit = true == pred
    classes = np.unique(true)
    support = np.column_stack([b.sums(true == k) for k in classes])  # [M, K]
    correct = np.column_stack([b.sums(hit & (true == k)) for k in classes])
    drawn_support, drawn_correct = c @ support, c @ correct
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(drawn_support > 0, drawn_correct / drawn_support, np.nan)
    present = (drawn_support > 0).sum(axis=1)
    balanced = np.where(present > 0, np.nansum(recall, axis=1) / np.maximum(present, 1), np.nan)
    return {"accuracy": (c @ b.sums(hit)) / (c @ b.sizes), "balanced_accuracy": balanced}


def replicates(kind: Kind, true: np.ndarray, pred: np.ndarray, models: np.ndarray,
               counts: np.ndarray) -> dict[str, np.ndarray]:
    fn = number_replicates if kind == "number" else class_replicates
    return fn(true, pred, models, counts)


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central ``level`` interval of the defined resamples; NaN where under half are."""
    defined = values[np.isfinite(values)]
    if len(defined) < _MIN_DEFINED * len(values) or len(defined) == 0:
        return np.nan, np.nan
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(defined, [tail, 100 - tail])
    return float(lo), float(hi)


def intervals(kind: Kind, true: np.ndarray, pred: np.ndarray, models: np.ndarray, *,
              resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL) -> dict[str, float]:
    """``{metric}_lo`` and ``{metric}_hi`` of every metric of ``kind``: the percentile
    bootstrap interval over test models (see the module docstring)."""
    metrics = NUMBER_METRICS if kind == "number" else CLASS_METRICS
    if resamples <= 0:
        return {f"{m}_{end}": np.nan for m in metrics for end in ("lo", "hi")}
    counts = resample_counts(len(np.unique(models)), resamples, seed)
    out: dict[str, float] = {}
    for metric, values in replicates(kind, true, pred, models, counts).items():
        out[f"{metric}_lo"], out[f"{metric}_hi"] = percentile_interval(values, level)
    return out


def paired_difference(kind: Kind, metric: str, true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray,
                      models: np.ndarray, *, resamples: int = RESAMPLES, seed: int = 0,
                      level: float = LEVEL) -> tuple[float, float]:
    """The ``level`` interval of metric(a) - metric(b) over the same resampled test models
    (rows of both predictions aligned with ``true`` and ``models``)."""
    counts = resample_counts(len(np.unique(models)), resamples, seed)
    a = replicates(kind, true, pred_a, models, counts)[metric]
    b = replicates(kind, true, pred_b, models, counts)[metric]
    return percentile_interval(a - b, level)
