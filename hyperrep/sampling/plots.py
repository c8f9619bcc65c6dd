"""Figures of the sampling and sparsification reports. Explicit ``Figure`` objects saved
to files: no pyplot state and no backend switch, so a notebook that imports this keeps its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def zero_shot_histogram(zero_shot: pd.DataFrame, path: Path, metric: str = "test_acc") -> Path:
    fig = Figure(figsize=(6, 3.6), layout="tight")
    ax = fig.subplots()
    values = zero_shot[metric].dropna()
    bins = np.linspace(min(values.min(), 0.0), max(values.max(), 1e-3), 21) if len(values) else 10
    for source, group in zero_shot.groupby("source", sort=False):
        ax.hist(group[metric].dropna(), bins=bins, alpha=0.55, label=f"{source} (n={len(group)})")
    ax.set_xlabel(f"zero-shot {metric.replace('_', ' ')}")
    ax.set_ylabel("models")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    return path


def band_plot(summary: pd.DataFrame, x: str, path: Path, xlabel: str, ylabel: str, title: str = "") -> Path:
    """``summary`` has columns source, ``x``, mean, std: one line with a ±std band per source."""
    fig = Figure(figsize=(6, 3.8), layout="tight")
    ax = fig.subplots()
    for source, g in summary.groupby("source", sort=False):
        g = g.sort_values(x)
        mean, std = g["mean"].to_numpy(float), np.nan_to_num(g["std"].to_numpy(float))
        ax.plot(g[x], mean, marker="o", ms=3, label=source)
        ax.fill_between(g[x], mean - std, mean + std, alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    return path


def paired_plot(paired: pd.DataFrame, path: Path) -> Path:
    """Sampled minus own anchor per fine-tuning epoch (``finetune_paired.csv``), with its 95%
    interval where there is one: the difference the curves' shared scale hides."""
    fig = Figure(figsize=(6, 3.2), layout="tight")
    ax = fig.subplots()
    x, y = paired["epoch"].to_numpy(), paired["gain"].to_numpy(float) * 100
    lo, hi = paired["lo"].to_numpy(float) * 100, paired["hi"].to_numpy(float) * 100
    ax.axhline(0, color="0.5", lw=1)
    ax.errorbar(x, y, yerr=np.nan_to_num(np.vstack([y - lo, hi - y])), marker="o", ms=4, capsize=3)
    ax.set_xlabel("fine-tuning epoch")
    ax.set_ylabel("sampled - own anchor (points)")
    ax.set_xticks(x)
    ax.set_title(f"test accuracy, {int(paired['pairs'].max())} pairs, 95% interval over anchors", fontsize=10)
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=120)
    return path


def novelty_plot(memorisation: pd.DataFrame, path: Path) -> Path:
    """Zero-shot test accuracy against novelty (aligned distance to the nearest training
    model), one colour per source of ``memorisation`` (sampled, anchor+noise, anchor-average)."""
    fig = Figure(figsize=(6, 4), layout="tight")
    ax = fig.subplots()
    markers = iter("os^Dv<>p")
    for source, g in memorisation.groupby("source", sort=False):
        ax.scatter(g["dist_weight_aligned"], g["test_acc"], marker=next(markers, "o"), alpha=0.7, s=24,
                   label=f"{source} (n={len(g)})")
    ax.set_xlabel("novelty: aligned weight distance to the nearest training model")
    ax.set_ylabel("zero-shot test accuracy")
    ax.set_title("accuracy against novelty (up and right is better)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    return path


def markdown_table(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """A GitHub-markdown table (no tabulate dependency)."""
    def cell(v: object) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else format(float(v), floatfmt)
        return "" if v is None else str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])
