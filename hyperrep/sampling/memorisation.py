"""How close generated models are to the training zoo: the memorisation table.

For every generated model (sampled, or a copy-like baseline): the nearest training-zoo
model in weight space after permutation alignment (and the plain, unaligned distance to
that model for reference), the nearest one in embedding space, and the fraction of
test predictions it shares with its weight-space nearest model. Distances are also given
relative to the norm of that nearest model, which makes them comparable across zoos.

Aligning against every training model costs one weight matching per pair; with
``candidates = k`` only the ``k`` nearest by plain distance and the ``k`` nearest in
embedding space are aligned (all of them when the zoo is that small).

Without task data (``predict`` None) the distances are all there is: agreement is NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eo_tasks.models import Layout
from hyperrep.sampling.align import align
from hyperrep.sampling.evaluate import agreement

COLUMNS = (
    "model", "source", "test_acc", "nearest_weight", "dist_weight_aligned", "dist_weight_plain",
    "rel_dist_weight_aligned", "nearest_embedding", "dist_embedding", "agreement",
)


@dataclass
class Reference:
    """The training zoo as the memorisation check sees it: one checkpoint per model."""

    ids: list[str]
    weights: np.ndarray  # [N, P]
    embeddings: np.ndarray  # [N, D]
    predictions: Callable[[int], np.ndarray] | None  # reference index -> test predictions; None: no data


def memorisation_rows(
    names: Sequence[str],
    source: str,
    weights: np.ndarray,
    embeddings: np.ndarray,
    test_acc: Sequence[float],
    reference: Reference,
    layout: Layout,
    predict: Callable[[np.ndarray], np.ndarray] | None,
    candidates: int = 16,
) -> pd.DataFrame:
    ref_w = np.asarray(reference.weights, dtype=np.float64)
    ref_norm = np.linalg.norm(ref_w, axis=1)
    rows = []
    for name, w, e, acc in zip(names, weights, embeddings, test_acc):
        w = np.asarray(w, dtype=np.float64)
        k, aligned, plain = nearest_aligned(w, e, reference, layout, candidates)
        emb = np.linalg.norm(reference.embeddings - e, axis=1)
        j = int(np.argmin(emb))
        rows.append({
            "model": name,
            "source": source,
            "test_acc": float(acc),
            "nearest_weight": reference.ids[k],
            "dist_weight_aligned": aligned,
            "dist_weight_plain": plain,
            "rel_dist_weight_aligned": float(aligned / max(ref_norm[k], 1e-12)),
            "nearest_embedding": reference.ids[j],
            "dist_embedding": float(emb[j]),
            "agreement": agreement(predict(w), reference.predictions(k))
            if predict is not None and reference.predictions is not None else float("nan"),
        })
    return pd.DataFrame(rows, columns=list(COLUMNS))


def nearest_aligned(w: np.ndarray, e: np.ndarray, reference: Reference, layout: Layout,
                    candidates: int = 16) -> tuple[int, float, float]:
    """The reference model nearest to ``w`` after permutation alignment: its index, the aligned
    distance and the plain one. Only the ``candidates`` nearest by plain distance and the
    ``candidates`` nearest in embedding space are aligned (all when the zoo is that small)."""
    ref_w = np.asarray(reference.weights, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    plain = np.linalg.norm(ref_w - w, axis=1)
    if len(ref_w) <= 2 * candidates:
        pool = np.arange(len(ref_w))
    else:
        emb = np.linalg.norm(reference.embeddings - e, axis=1)
        pool = np.union1d(np.argsort(plain)[:candidates], np.argsort(emb)[:candidates])
    aligned = np.array([align(ref_w[k], w, layout).distance for k in pool])
    k = int(pool[np.argmin(aligned)])
    return k, float(aligned.min()), float(plain[k])


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Mean figures per source."""
    cols = ["test_acc", "dist_weight_aligned", "dist_weight_plain", "rel_dist_weight_aligned",
            "dist_embedding", "agreement"]
    out = table.groupby("source", sort=False)[cols].mean()
    out.insert(0, "n", table.groupby("source", sort=False).size())
    return out.reset_index()


def novelty_verdict(summary: pd.DataFrame, sampled: str = "sampled", match_tol: float = 0.03) -> list[str]:
    """One sentence per baseline: are the sampled models more novel than it?

    More novel = farther (aligned weight distance) from their nearest training model
    *and* agreeing less with its predictions.
    """
    by = summary.set_index("source")
    if sampled not in by.index:
        return []
    s = by.loc[sampled]
    lines = []
    for base in by.index:
        if base == sampled:
            continue
        b = by.loc[base]
        farther = s["dist_weight_aligned"] > b["dist_weight_aligned"]
        agrees_less = s["agreement"] < b["agreement"]
        verdict = "more novel than" if farther and agrees_less else (
            "not more novel than" if not farther and not agrees_less else "mixed against")
        line = (
            f"Sampled models are {verdict} `{base}` (mean test acc {s['test_acc']:.3f} vs {b['test_acc']:.3f}): "
            f"aligned distance to the nearest training model {s['dist_weight_aligned']:.3f} vs "
            f"{b['dist_weight_aligned']:.3f} ({'farther' if farther else 'closer'}), prediction agreement "
            f"{s['agreement']:.3f} vs {b['agreement']:.3f} ({'lower' if agrees_less else 'higher'})."
        )
        gap = abs(s["test_acc"] - b["test_acc"])
        if not gap <= match_tol:
            line += (f" The accuracies differ by {gap:.3f} (> {match_tol:g}): the baseline could not be matched, "
                     "so this comparison is only indicative.")
        lines.append(line)
    return lines


def novelty_line(summary: pd.DataFrame, sampled: str = "sampled", match_tol: float = 0.03) -> str:
    """One sentence: are the sampled models more novel than *both* copy-like baselines
    (farther from their nearest training model and agreeing less with it) at matched
    accuracy (test accuracy within ``match_tol``)?"""
    by = summary.set_index("source")
    bases = [b for b in by.index if b.startswith(("anchor+noise", "anchor-average"))]
    answer = novel_against_baselines(summary, sampled)
    if answer is None:
        return "Novelty against the copy-like baselines: not measured (no baselines)."
    s = by.loc[sampled]
    novel = [bool(s["dist_weight_aligned"] > by.loc[b, "dist_weight_aligned"]
                  and s["agreement"] < by.loc[b, "agreement"]) for b in bases]
    matched = [bool(abs(s["test_acc"] - by.loc[b, "test_acc"]) <= match_tol) for b in bases]
    names = ", ".join(f"`{b}` {'more novel' if n else 'not more novel'}"
                      f"{'' if m else ' (accuracy not matched)'}" for b, n, m in zip(bases, novel, matched))
    caveat = "" if all(matched) else (f" At least one baseline's mean test accuracy differs from the samples' by more "
                                     f"than {match_tol:g}, so that comparison is only indicative.")
    at = " at matched accuracy" if all(matched) else ""
    return f"Samples more novel than both baselines{at}: {answer} ({names}).{caveat}"


def zoo_spacing(reference: Reference, layout: Layout, n: int = 16, candidates: int = 16, seed: int = 0) -> float:
    """The zoo's own model-to-model distance: the median, over up to ``n`` training models
    (a seeded subset), of the aligned distance from each to its nearest *other* training
    model. Independently trained models sit this far apart; a sample at a small fraction of
    it from a training model is close to a copy of that model."""
    total = len(reference.weights)
    if total < 2:
        return float("nan")
    picks = np.random.default_rng(seed).permutation(total)[: min(n, total)]
    dists = []
    for i in picks:
        rest = np.delete(np.arange(total), i)
        others = Reference([reference.ids[j] for j in rest], reference.weights[rest], reference.embeddings[rest], None)
        row = memorisation_rows([reference.ids[i]], "zoo", reference.weights[i:i + 1],
                                reference.embeddings[i:i + 1], [np.nan], others, layout, None, candidates)
        dists.append(float(row["dist_weight_aligned"].iloc[0]))
    return float(np.median(dists))


def novel_against_baselines(summary: pd.DataFrame, sampled: str = "sampled") -> str | None:
    """"yes" when the sampled models are farther from their nearest training model and agree
    less with it than both copy-like baselines, "partly" for one, "no" for none; None without
    baselines."""
    by = summary.set_index("source")
    bases = [b for b in by.index if b.startswith(("anchor+noise", "anchor-average"))]
    if sampled not in by.index or len(bases) < 2:
        return None
    s = by.loc[sampled]
    novel = [bool(s["dist_weight_aligned"] > by.loc[b, "dist_weight_aligned"]
                  and s["agreement"] < by.loc[b, "agreement"]) for b in bases]
    return "yes" if all(novel) else ("no" if not any(novel) else "partly")
