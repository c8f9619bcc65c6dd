"""The results table as Markdown, and a summary of where the embedding wins or loses.

Everything here is computed from the results and predictions frames of :func:`evaluate`,
so the text a user reads always matches ``results.csv`` and ``predictions.csv``: the
intervals are columns of the results, and a verdict is a paired bootstrap over the
test-row predictions of the two cells it compares.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hyperrep.downstream.bootstrap import LEVEL, RESAMPLES, paired_difference
from hyperrep.downstream.names import SUPERVISED, SUPERVISED_SET
from hyperrep.downstream.predictors import CLASS_METRICS, NUMBER_METRICS
from hyperrep.downstream.select import EMBEDDING_SETS, WEIGHT_SETS, best_by_validation

HIGHER_IS_BETTER = {"r2": True, "kendall_tau": True, "mae": False, "accuracy": True, "balanced_accuracy": True}
METRIC_TITLES = {
    "r2": "R² (test models; 1 is perfect, 0 is predicting the mean)",
    "kendall_tau": "Kendall's τ (rank agreement on test models)",
    "mae": "MAE (test models, on the property's scale; lower is better)",
    "accuracy": "Accuracy (test models)",
    "balanced_accuracy": "Balanced accuracy (test models; chance is 1/classes)",
}
# The metric a verdict compares, for a property of each kind (rows are chosen by val_score).
PRIMARY = {"number": "r2", "class": "balanced_accuracy"}
MIN_VERDICT_MODELS = 10  # fewer test models: no win or loss, whatever the interval


def _row_label(row: pd.Series) -> str:
    return f"{row['feature_set']} · {row['predictor']}"


def metric_table(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows "feature set · predictor", columns properties; NaN where not run."""
    kind = "number" if metric in NUMBER_METRICS else "class"
    part = results[results["kind"] == kind]
    if part.empty:
        return pd.DataFrame()
    labels = part.apply(_row_label, axis=1)
    table = part.assign(row=labels).pivot_table(index="row", columns="property", values=metric,
                                                aggfunc="first", dropna=False, sort=False)
    order = list(dict.fromkeys(labels))
    props = list(dict.fromkeys(part["property"]))
    return table.reindex(index=order, columns=props)


def _interval(row: pd.Series, metric: str) -> str:
    lo, hi = row.get(f"{metric}_lo", np.nan), row.get(f"{metric}_hi", np.nan)
    return "" if pd.isna(lo) or pd.isna(hi) else f" [{lo:.2f}, {hi:.2f}]"


def _markdown(table: pd.DataFrame, metric: str, part: pd.DataFrame | None = None, digits: int = 3) -> str:
    higher = HIGHER_IS_BETTER[metric]
    best = table.max() if higher else table.min()
    rows = {} if part is None else {(_row_label(r), r["property"]): r for _, r in part.iterrows()}
    header = "| feature set · predictor | " + " | ".join(table.columns) + " |"
    lines = [header, "|" + "---|" * (len(table.columns) + 1)]
    for label, row in table.iterrows():
        cells = []
        for prop, value in row.items():
            if pd.isna(value):
                cells.append("n/a")
                continue
            text = f"{value:.{digits}f}"
            text = f"**{text}**" if np.isclose(value, best[prop]) else text
            source = rows.get((label, prop))
            cells.append(text + ("" if source is None else _interval(source, metric)))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seconds_markdown(results: pd.DataFrame) -> str:
    """Seconds each cell took (rows feature set · predictor, columns properties) and the sum."""
    ran = results.dropna(subset=["seconds"])
    if ran.empty:
        return ""
    table = ran.assign(row=ran.apply(_row_label, axis=1)).pivot_table(
        index="row", columns="property", values="seconds", aggfunc="first", sort=False)
    table = table.reindex(index=list(dict.fromkeys(ran.apply(_row_label, axis=1))),
                          columns=list(dict.fromkeys(ran["property"])))
    table["all properties"] = table.sum(axis=1)
    lines = ["| feature set · predictor | " + " | ".join(table.columns) + " |",
             "|" + "---|" * (len(table.columns) + 1)]
    for label, row in table.iterrows():
        lines.append(f"| {label} | " + " | ".join("" if pd.isna(v) else f"{v:.1f}" for v in row) + " |")
    return "\n".join(lines)


def results_markdown(results: pd.DataFrame, header: str = "", notes: list[str] | None = None) -> str:
    parts = ["# Property prediction from weights", ""]
    if header:
        parts += [header, ""]
    parts += ["Best per property in **bold**; in brackets its 95% bootstrap interval over test models (models "
              "drawn with replacement, each with all its checkpoints); n/a: not run or undefined (see notes).", ""]
    for metric in (*NUMBER_METRICS, *CLASS_METRICS):
        table = metric_table(results, metric)
        if table.empty:
            continue
        parts += [f"## {METRIC_TITLES[metric]}", "", _markdown(table, metric, results), ""]
    cost = seconds_markdown(results) if "seconds" in results else ""
    if cost:
        parts += ["## Seconds per cell", "",
                  "Fit, choice of hyperparameters on the validation models, prediction and intervals; the first "
                  "cell of a feature set · predictor also pays for the scaler and basis its row shares. "
                  f"Sum over cells: {results['seconds'].sum():.1f} s.", "", cost, ""]
    skipped = results[results["note"] != ""]
    all_notes = list(notes or [])
    for (fs, method, note), part in skipped.groupby(["feature_set", "predictor", "note"], sort=False):
        all_notes.append(f"{fs} · {method}: {note} ({', '.join(part['property'])})")
    if all_notes:
        parts += ["## Notes", ""] + [f"- {n}" for n in all_notes] + [""]
    return "\n".join(parts)


def _cell_predictions(predictions: pd.DataFrame, row: pd.Series) -> pd.DataFrame:
    part = predictions[(predictions["feature_set"] == row["feature_set"])
                       & (predictions["predictor"] == row["predictor"])
                       & (predictions["property"] == row["property"])]
    return part.sort_values(["model", "epoch"], kind="stable").reset_index(drop=True)


def paired_margin(predictions: pd.DataFrame, a: pd.Series, b: pd.Series, metric: str, *,
                  resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL) -> tuple[float, float]:
    """The ``level`` bootstrap interval of metric(a) - metric(b), two cells (rows of the
    results table) of one property scored on the same resampled test models."""
    pa, pb = _cell_predictions(predictions, a), _cell_predictions(predictions, b)
    if len(pa) == 0 or not pa[["model", "epoch"]].equals(pb[["model", "epoch"]]):
        raise ValueError(f"{_row_label(a)} and {_row_label(b)} were not scored on the same test rows "
                         f"of {a['property']}; the predictions table does not match the results")
    kind = a["kind"]
    true = pa["true"].to_numpy(float) if kind == "number" else pa["true"].astype(str).to_numpy()
    pred_a = pa["pred"].to_numpy(float) if kind == "number" else pa["pred"].astype(str).to_numpy()
    pred_b = pb["pred"].to_numpy(float) if kind == "number" else pb["pred"].astype(str).to_numpy()
    return paired_difference(kind, metric, true, pred_a, pred_b, pa["model"].to_numpy(),
                             resamples=resamples, seed=seed, level=level)


def compare_embedding(results: pd.DataFrame, predictions: pd.DataFrame, *, resamples: int = RESAMPLES,
                      seed: int = 0, level: float = LEVEL,
                      embedding_sets: tuple[str, ...] = EMBEDDING_SETS) -> pd.DataFrame:
    """Per property: the embedding-based row (feature sets ``embedding_sets``: the
    self-supervised ones; ``("encoder",)``: the supervised row) with the highest validation
    score against the weight-only baseline (raw W or s(W)) with the highest validation score
    (:func:`best_by_validation`; a side with no validation score is not compared), both then
    scored on the property's primary metric over the test models. ``margin`` > 0: the
    embedding scores higher; ``margin_lo``/``margin_hi``: the ``level`` interval of the paired
    difference over the same resampled test models (``predictions``: the evaluation's test-row
    predictions). The embedding wins or loses only where that interval excludes 0."""
    records = []
    for prop, part in results.groupby("property", sort=False):
        kind = part["kind"].iloc[0]
        metric = PRIMARY[kind]
        # the test models only score: each side's row is the one its validation score picks
        e = best_by_validation(part[part["feature_set"].isin(embedding_sets)])
        b = best_by_validation(part[part["feature_set"].isin(WEIGHT_SETS)])
        record = {"property": prop, "kind": kind, "metric": metric}
        if e is None or b is None or pd.isna(e[metric]) or pd.isna(b[metric]):
            records.append({**record, "verdict": "not compared"})
            continue
        margin = float(e[metric] - b[metric])
        lo, hi = paired_margin(predictions, e, b, metric, resamples=resamples, seed=seed, level=level)
        verdict = "embedding wins" if lo > 0 else ("embedding loses" if hi < 0 else "tie")
        models = int(predictions.loc[predictions["property"] == prop, "model"].nunique())
        if models < MIN_VERDICT_MODELS:
            verdict = "tie"  # a bootstrap of a handful of models says little about the population

        if metric == "r2" and max(e[metric], b[metric]) <= 0:
            verdict = "neither beats the mean"
        chance = 1.0 / e["n_classes"] if "n_classes" in e and e["n_classes"] > 0 else np.nan
        if metric == "balanced_accuracy" and max(e[metric], b[metric]) <= chance:
            verdict = "neither beats chance"
        records.append({
            **record, "best_embedding": _row_label(e), "embedding_score": float(e[metric]),
            "best_baseline": _row_label(b), "baseline_score": float(b[metric]),
            "embedding_val_score": float(e["val_score"]), "baseline_val_score": float(b["val_score"]),
            "margin": margin, "margin_lo": lo, "margin_hi": hi, "n_test_models": models, "verdict": verdict,
        })
    return pd.DataFrame.from_records(records)


def _scored(row: object, which: str) -> str:
    label, value = getattr(row, f"best_{which}"), getattr(row, f"{which}_score")
    return f"{label} {value:.3f} (val. {getattr(row, f'{which}_val_score'):.3f})"


def summary_markdown(results: pd.DataFrame, predictions: pd.DataFrame, *, resamples: int = RESAMPLES,
                     seed: int = 0, level: float = LEVEL) -> str:
    cmp = compare_embedding(results, predictions, resamples=resamples, seed=seed, level=level)
    lines = ["# Summary: does the hyper-representation read properties better than the weights?", ""]
    if cmp.empty or (cmp["verdict"] == "not compared").all():
        lines.append("No comparison: on every property the embedding or the weight baselines did not run, or "
                     "none of their rows has a validation score to be chosen by.")
        lines += _supervised_section(results, predictions, resamples=resamples, seed=seed, level=level)
        return "\n".join(lines) + "\n"
    done = cmp[cmp["verdict"] != "not compared"]
    counts = done["verdict"].value_counts()
    pct = f"{level:.0%}"
    lines += [
        f"Over {len(done)} properties, the self-supervised embedding-based predictor "
        "(emb, pool(emb), emb+s(W) or pool(emb)+s(W)) with the highest validation score against the "
        "predictor on the weights alone (raw W or the layer statistics s(W)) with the highest validation score, "
        "scored by R² for numbers and balanced accuracy for classes on the test models: "
        f"wins on {counts.get('embedding wins', 0)}, ties on {counts.get('tie', 0)}, "
        f"loses on {counts.get('embedding loses', 0)}; on "
        f"{counts.get('neither beats the mean', 0) + counts.get('neither beats chance', 0)} neither side beats "
        "predicting the mean (numbers) or chance (classes).",
        "",
        f"How a verdict is decided: both predictors are scored on the same {resamples} bootstrap resamples of the "
        "test models (models drawn with replacement, each with all its checkpoints; seed "
        f"{seed}); the margin's {pct} interval is the central {pct} of the resampled differences. The embedding "
        "wins (or loses) only where that interval lies above (below) 0; otherwise the two are a tie: the test models "
        "cannot tell them apart. With fewer than "
        f"{MIN_VERDICT_MODELS} test models every verdict is a tie: resamples of a handful of models say little "
        "about the population. Each side's row is chosen on the validation models (the highest validation "
        "score of its group, shown as val.); the test models choose nothing, they only score the two chosen rows.",
        "",
        f"| property | metric | with embedding (val.) | on weights (val.) | margin [{pct} interval] | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in done.itertuples():
        lines.append(f"| {r.property} | {r.metric} | {_scored(r, 'embedding')} | {_scored(r, 'baseline')} | "
                     f"{r.margin:+.3f} [{r.margin_lo:+.3f}, {r.margin_hi:+.3f}] | {r.verdict} |")
    lines.append("")
    by_verdict = {v: done.loc[done["verdict"] == v, "property"].tolist() for v in set(done["verdict"])}
    if by_verdict.get("embedding wins"):
        wins = ", ".join(by_verdict["embedding wins"])
        lines.append(f"- The embedding reads more than the weights alone about: {wins}.")
    if by_verdict.get("tie"):
        lines.append(f"- Tie (the {pct} interval of the difference includes 0) on: {', '.join(by_verdict['tie'])}.")
    if by_verdict.get("embedding loses"):
        lines.append(f"- The weight baselines are better for: {', '.join(by_verdict['embedding loses'])}.")
    if by_verdict.get("neither beats the mean"):
        lines.append(f"- Neither side predicts {', '.join(by_verdict['neither beats the mean'])} better than "
                     "its test-set mean (R² <= 0).")
    if by_verdict.get("neither beats chance"):
        lines.append(f"- Neither side classifies {', '.join(by_verdict['neither beats chance'])} better than "
                     "chance (balanced accuracy <= 1 / classes).")
    skipped = cmp[cmp["verdict"] == "not compared"]["property"].tolist()
    if skipped:
        lines.append(f"- Not compared (a side did not run or has no validation score): {', '.join(skipped)}.")
    lines += _supervised_section(results, predictions, resamples=resamples, seed=seed, level=level)
    return "\n".join(lines) + "\n"


def _supervised_section(results: pd.DataFrame, predictions: pd.DataFrame, **bootstrap: object) -> list[str]:
    """The supervised row against the same weight baselines, apart from the self-supervised
    verdicts above: it is trained on the property, they are not."""
    label = f"{SUPERVISED_SET} · {SUPERVISED}"
    if results[(results["feature_set"] == SUPERVISED_SET)].dropna(subset=["r2", "balanced_accuracy"], how="all").empty:
        return []
    cmp = compare_embedding(results, predictions, embedding_sets=(SUPERVISED_SET,), **bootstrap)
    done = cmp[cmp["verdict"] != "not compared"]
    lines = ["", "## Supervised: the encoder fine-tuned on each property (not a self-supervised embedding)", "",
             f"`{label}` is a copy of the run's encoder trained together with a small head on the training models "
             "to predict the property itself (epoch chosen on the validation models), so it is a supervised "
             "predictor like NFN's, not an embedding read by a probe; it is kept out of the verdicts above and "
             "compared here, in the same way, with the predictor on the weights alone chosen on the validation "
             "models.", "",
             "| property | metric | supervised (val.) | on weights (val.) | margin [95% interval] | verdict |",
             "|---|---|---|---|---|---|"]
    for r in done.itertuples():
        verdict = r.verdict.replace("embedding", "supervised")
        lines.append(f"| {r.property} | {r.metric} | {r.embedding_score:.3f} (val. {r.embedding_val_score:.3f}) | "
                     f"{_scored(r, 'baseline')} | "
                     f"{r.margin:+.3f} [{r.margin_lo:+.3f}, {r.margin_hi:+.3f}] | {verdict} |")
    return lines
