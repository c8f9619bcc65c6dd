"""Figures of a property report: predicted against true per property, and the embedding
space projected to 2-D. Uses matplotlib's Agg backend through explicit Figure objects,
so no display and no global pyplot state is needed."""

from __future__ import annotations

from math import ceil
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from hyperrep.downstream.properties import Property


def _grid(n: int, cols: int = 4, size: float = 3.0) -> tuple[Figure, np.ndarray]:
    cols = min(cols, n)
    rows = ceil(n / cols)
    fig = Figure(figsize=(size * cols, size * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes[n:]:
        ax.set_axis_off()
    return fig, axes


def plot_pred_vs_true(predictions: pd.DataFrame, results: pd.DataFrame, prop: Property, path: Path) -> Path | None:
    """One panel per feature set · predictor that ran: a scatter of the test models'
    predictions against the truth (numbers), or a confusion matrix (classes)."""
    preds = predictions[predictions["property"] == prop.name]
    if preds.empty:
        return None
    groups = list(preds.groupby(["feature_set", "predictor"], sort=False))
    fig, axes = _grid(len(groups))
    res = results[results["property"] == prop.name].set_index(["feature_set", "predictor"])
    for ax, ((fs, method), part) in zip(axes, groups):
        row = res.loc[(fs, method)]
        if prop.kind == "number":
            true, pred = part["true"].to_numpy(float), part["pred"].to_numpy(float)
            lo, hi = float(min(true.min(), pred.min())), float(max(true.max(), pred.max()))
            ax.plot([lo, hi], [lo, hi], color="0.6", lw=1, ls="--")
            ax.scatter(true, pred, s=12, c=part["epoch"].to_numpy(float), cmap="viridis")
            ax.set_xlabel(f"true {prop.label}")
            ax.set_ylabel("predicted")
            ax.set_title(f"{fs} · {method}\nR²={row['r2']:.2f}  τ={row['kendall_tau']:.2f}", fontsize=9)
        else:
            classes = sorted(set(part["true"].astype(str)) | set(part["pred"].astype(str)))
            index = {c: i for i, c in enumerate(classes)}
            counts = np.zeros((len(classes), len(classes)), dtype=int)
            for t, p in zip(part["true"].astype(str), part["pred"].astype(str)):
                counts[index[t], index[p]] += 1
            ax.imshow(counts, cmap="Blues")
            for (i, j), c in np.ndenumerate(counts):
                ax.text(j, i, str(c), ha="center", va="center", fontsize=8)
            ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=7)
            ax.set_yticks(range(len(classes)), classes, fontsize=7)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_title(f"{fs} · {method}\nbal. acc={row['balanced_accuracy']:.2f}", fontsize=9)
    what = "colour: epoch" if prop.kind == "number" else "confusion matrix"
    fig.suptitle(f"{prop.label}: predicted vs true on test models ({what})")
    fig.savefig(path, dpi=90)
    return path


def plot_embedding_pca(embeddings: np.ndarray, rows: pd.DataFrame, path: Path,
                       colour_by: tuple[str, ...] = ("test_acc", "epoch")) -> Path:
    """The embeddings of all checkpoints projected on their first two principal
    components, one panel per column of ``rows`` to colour by."""
    emb = np.asarray(embeddings, dtype=np.float64).reshape(len(embeddings), -1)
    pca = PCA(n_components=min(2, *emb.shape))
    xy = pca.fit_transform(emb)
    if xy.shape[1] == 1:
        xy = np.column_stack([xy, np.zeros(len(xy))])
    cols = [c for c in colour_by if c in rows]
    fig, axes = _grid(max(len(cols), 1), cols=2, size=4.0)
    explained = pca.explained_variance_ratio_
    held_out = (rows["split"] == "test").to_numpy() if "split" in rows else np.zeros(len(rows), bool)
    for ax, col in zip(axes, cols or [None]):
        colours = None if col is None else pd.to_numeric(rows[col], errors="coerce").to_numpy(float)
        points = ax.scatter(xy[:, 0], xy[:, 1], s=14, c=colours, cmap="viridis",
                            edgecolors=np.where(held_out, "black", "none"), linewidths=0.8)
        if col is not None:
            fig.colorbar(points, ax=ax, label=col)
            ax.set_title(f"coloured by {col}", fontsize=10)
        ax.set_xlabel(f"PC 1 ({explained[0]:.0%} of variance)")
        ax.set_ylabel(f"PC 2 ({explained[1]:.0%} of variance)" if len(explained) > 1 else "PC 2")
    fig.suptitle("Hyper-representation embeddings of all checkpoints, PCA to 2-D"
                 + (" (black edge: test models)" if held_out.any() else ""))
    fig.savefig(path, dpi=90)
    return path
