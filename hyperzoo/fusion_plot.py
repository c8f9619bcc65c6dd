"""The fusion story as one figure of four panels, one per question (:mod:`hyperzoo.fusion`).

A matplotlib ``Figure`` built without pyplot (no global figure state: safe in library code,
threads and tests); a panel whose figures are missing says so in place of its plot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hyperzoo.fusion import ROBUSTNESS, SIDES, FusionStory, _order, chosen_rows, mode_property


def _missing(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=9, color="0.4", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _cloudy_panel(ax, story: FusionStory) -> None:
    models = story.models.dropna(subset=["test_acc_cloudy"])
    if len(models) == 0:
        return _missing(ax, "no cloudy/clear test accuracy in the zoo")
    modes = _order(models["mode"])
    x = np.arange(len(modes))
    rng = np.random.default_rng(0)  # horizontal jitter only
    for k, (col, colour, label) in enumerate((("test_acc_clear", "tab:blue", "clear"),
                                              ("test_acc_cloudy", "tab:grey", "cloudy"))):
        off = -0.17 if k == 0 else 0.17
        for i, mode in enumerate(modes):
            v = models.loc[models["mode"] == mode, col].to_numpy(float)
            ax.scatter(i + off + rng.uniform(-0.06, 0.06, len(v)), v, s=10, alpha=0.5, color=colour,
                       label=label if i == 0 else None)
            ax.hlines(np.nanmean(v), i + off - 0.13, i + off + 0.13, color="k", lw=1.5)
    ax.set_xticks(x, modes, rotation=20)
    ax.set_ylabel("final test accuracy")
    ax.set_title("accuracy on clear and cloudy patches", fontsize=10)
    ax.legend(fontsize=8)


def _bars(ax, results: pd.DataFrame, props: list[str], metric: str, ylabel: str, title: str) -> None:
    """Grouped bars: one group per property, one bar per side (the embeddings, s(W), the probe
    outputs): the side's readout chosen on the validation models, named on its bar, with its
    95% interval; a side with no readout (no probes asked for) has no bar."""
    chosen = {prop: chosen_rows(results, prop) for prop in props}
    sides = list(SIDES)
    drawn = [(i, k, r) for i, prop in enumerate(props) for k, r in enumerate(chosen[prop].values())
             if r is not None and np.isfinite(float(r[metric]))]
    if not drawn:
        return _missing(ax, f"no {metric} scored on validation and test models for {', '.join(props)}")
    width = 0.8 / len(sides)
    labelled: set[int] = set()
    for i, k, r in drawn:
        v, lo, hi = float(r[metric]), float(r.get(f"{metric}_lo", np.nan)), float(r.get(f"{metric}_hi", np.nan))
        err = None if not (np.isfinite(lo) and np.isfinite(hi)) else [[max(v - lo, 0)], [max(hi - v, 0)]]
        x = i - 0.4 + (k + 0.5) * width
        ax.bar(x, v, width, yerr=err, capsize=2, color=f"C{k}",
               label=None if k in labelled else f"{sides[k]} (chosen on validation)")
        labelled.add(k)
        ax.text(x, 0, f"{r['feature_set']} · {r['predictor']}", rotation=90, ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(len(props)), props)
    if metric == "r2":  # an R² far below 0 says 'worse than the mean' already at -1; keep 0..1 readable
        ax.set_ylim(bottom=max(ax.get_ylim()[0], -1.0))
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)


def _sampling_panel(ax, story: FusionStory) -> None:
    t = story.sampling
    if len(t) == 0:
        return _missing(ax, "no per-mode sampling report")
    modes = _order(t["mode"])
    sources = list(dict.fromkeys(t["source"]))
    width = 0.8 / len(sources)
    for k, source in enumerate(sources):
        g = t[t["source"] == source].set_index("mode")
        xs = [i for i, m in enumerate(modes) if m in g.index]
        ax.bar([i - 0.4 + (k + 0.5) * width for i in xs], [g.loc[modes[i], "mean"] for i in xs], width,
               color=f"C{k}", label=source)
    ax.set_xticks(range(len(modes)), modes, rotation=20)
    ax.set_ylabel("mean zero-shot test accuracy")
    ax.set_title("sampled models per mode", fontsize=10)
    ax.legend(fontsize=7)


def fusion_figure(story: FusionStory, title: str = "") -> Figure:
    fig = Figure(figsize=(11, 8), layout="constrained")
    (a, b), (c, d) = fig.subplots(2, 2)
    _cloudy_panel(a, story)
    prop = mode_property(story.results) if story.results is not None else None
    if prop is None:
        _missing(b, "fusion mode not scored by predict")
    else:
        _bars(b, story.results, [prop], "balanced_accuracy", "balanced accuracy (test models)",
              "fusion mode from the weights")
    if story.results is None:
        _missing(c, "no predict results")
    else:
        _bars(c, story.results, list(ROBUSTNESS), "r2", "R² (test models)",
              "cloud robustness: embedding, structure s(W), function (probes)")
    _sampling_panel(d, story)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def save_fusion_figure(story: FusionStory, path: Path, title: str = "") -> Path:
    fig = fusion_figure(story, title)
    fig.savefig(path, dpi=110)
    return path
