"""The results table as Markdown, and a summary of where the embedding wins or loses.

Everything here is computed from the results frame of :func:`evaluate`, so the text a
user reads always matches the numbers in ``results.csv``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hyperrep.downstream.predictors import CLASS_METRICS, NUMBER_METRICS

HIGHER_IS_BETTER = {"r2": True, "kendall_tau": True, "mae": False, "accuracy": True, "balanced_accuracy": True}
METRIC_TITLES = {
    "r2": "R² (test models; 1 is perfect, 0 is predicting the mean)",
    "kendall_tau": "Kendall's τ (rank agreement on test models)",
    "mae": "MAE (test models, on the property's scale; lower is better)",
    "accuracy": "Accuracy (test models)",
    "balanced_accuracy": "Balanced accuracy (test models; chance is 1/classes)",
}
# The metric that decides "best" for a property of each kind.
PRIMARY = {"number": "r2", "class": "balanced_accuracy"}
EMBEDDING_SETS = ("emb", "pool(emb)", "emb+s(W)")


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


def _markdown(table: pd.DataFrame, metric: str, digits: int = 3) -> str:
    higher = HIGHER_IS_BETTER[metric]
    best = table.max() if higher else table.min()
    header = "| feature set · predictor | " + " | ".join(table.columns) + " |"
    lines = [header, "|" + "---|" * (len(table.columns) + 1)]
    for label, row in table.iterrows():
        cells = []
        for prop, value in row.items():
            if pd.isna(value):
                cells.append("n/a")
            else:
                text = f"{value:.{digits}f}"
                cells.append(f"**{text}**" if np.isclose(value, best[prop]) else text)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def results_markdown(results: pd.DataFrame, header: str = "", notes: list[str] | None = None) -> str:
    parts = ["# Property prediction from weights", ""]
    if header:
        parts += [header, ""]
    parts += ["Best per property in **bold**; n/a: not run or undefined (see notes).", ""]
    for metric in (*NUMBER_METRICS, *CLASS_METRICS):
        table = metric_table(results, metric)
        if table.empty:
            continue
        parts += [f"## {METRIC_TITLES[metric]}", "", _markdown(table, metric), ""]
    skipped = results[results["note"] != ""]
    all_notes = list(notes or [])
    for (fs, method, note), part in skipped.groupby(["feature_set", "predictor", "note"], sort=False):
        all_notes.append(f"{fs} · {method}: {note} ({', '.join(part['property'])})")
    if all_notes:
        parts += ["## Notes", ""] + [f"- {n}" for n in all_notes] + [""]
    return "\n".join(parts)


def compare_embedding(results: pd.DataFrame, tol: float = 0.01) -> pd.DataFrame:
    """Per property: the best embedding-based row against the best weight-only baseline
    (raw W or s(W)) on the property's primary metric. ``margin`` > 0: the embedding wins."""
    records = []
    for prop, part in results.groupby("property", sort=False):
        kind = part["kind"].iloc[0]
        metric = PRIMARY[kind]
        ran = part.dropna(subset=[metric])
        emb = ran[ran["feature_set"].isin(EMBEDDING_SETS)]
        base = ran[~ran["feature_set"].isin(EMBEDDING_SETS)]
        record = {"property": prop, "kind": kind, "metric": metric}
        if emb.empty or base.empty:
            records.append({**record, "verdict": "not compared"})
            continue
        e, b = emb.loc[emb[metric].idxmax()], base.loc[base[metric].idxmax()]
        margin = float(e[metric] - b[metric])
        verdict = "tie" if abs(margin) <= tol else ("embedding wins" if margin > 0 else "embedding loses")
        if metric == "r2" and max(e[metric], b[metric]) <= 0:
            verdict = "neither beats the mean"
        chance = 1.0 / e["n_classes"] if "n_classes" in e and e["n_classes"] > 0 else np.nan
        if metric == "balanced_accuracy" and max(e[metric], b[metric]) <= chance + tol:
            verdict = "neither beats chance"
        records.append({
            **record, "best_embedding": _row_label(e), "embedding_score": float(e[metric]),
            "best_baseline": _row_label(b), "baseline_score": float(b[metric]),
            "margin": margin, "verdict": verdict,
        })
    return pd.DataFrame.from_records(records)


def summary_markdown(results: pd.DataFrame, tol: float = 0.01) -> str:
    cmp = compare_embedding(results, tol)
    lines = ["# Summary: does the hyper-representation read properties better than the weights?", ""]
    if cmp.empty or (cmp["verdict"] == "not compared").all():
        lines.append("No comparison: the embedding or the weight baselines did not run on any property.")
        return "\n".join(lines) + "\n"
    done = cmp[cmp["verdict"] != "not compared"]
    counts = done["verdict"].value_counts()
    lines += [
        f"Over {len(done)} properties, the best embedding-based predictor (emb, pool(emb) or emb+s(W)) against the best "
        "predictor on the weights alone (raw W or the layer statistics s(W)), by R² for numbers and balanced "
        f"accuracy for classes: wins on {counts.get('embedding wins', 0)}, ties on {counts.get('tie', 0)} "
        f"(within {tol}), loses on {counts.get('embedding loses', 0)}; on "
        f"{counts.get('neither beats the mean', 0) + counts.get('neither beats chance', 0)} neither side beats "
        "predicting the mean (numbers) or chance (classes).",
        "",
        "| property | metric | best with embedding | best on weights | margin | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in done.itertuples():
        lines.append(
            f"| {r.property} | {r.metric} | {r.best_embedding} ({r.embedding_score:.3f}) | "
            f"{r.best_baseline} ({r.baseline_score:.3f}) | {r.margin:+.3f} | {r.verdict} |"
        )
    lines.append("")
    by_verdict = {v: done.loc[done["verdict"] == v, "property"].tolist() for v in set(done["verdict"])}
    if by_verdict.get("embedding wins"):
        wins = ", ".join(by_verdict["embedding wins"])
        lines.append(f"- The embedding reads more than the weights alone about: {wins}.")
    if by_verdict.get("tie"):
        lines.append(f"- Embedding and weight baselines are level on: {', '.join(by_verdict['tie'])}.")
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
        lines.append(f"- Not compared (a side did not run): {', '.join(skipped)}.")
    return "\n".join(lines) + "\n"
