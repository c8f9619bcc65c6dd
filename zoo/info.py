"""A zoo at a glance: models by status, epochs, parameter counts, accuracy distribution."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zoo.reader import Zoo

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _quantiles(values: np.ndarray) -> str:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "n/a"
    q = np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0])
    return f"min {q[0]:.3f}  q25 {q[1]:.3f}  median {q[2]:.3f}  q75 {q[3]:.3f}  max {q[4]:.3f}  (mean {values.mean():.3f})"


def summary(zoo: Zoo) -> str:
    t, m = zoo.table, zoo.metrics
    task = zoo.task
    prov = zoo.provenance
    counts = t["status"].value_counts()
    lines = [
        f"zoo {zoo.path}",
        f"  task: {task.dataset}{' (synthetic)' if task.synthetic else ''}, {len(task.classes)} classes"
        f"{' multi-label' if task.multilabel else ''}, modalities "
        + ", ".join(f"{mod.name}[{mod.channels}]" for mod in task.modalities)
        + f", {task.image_size}x{task.image_size}",
        f"  models: {len(t)}  " + "  ".join(f"{s} {int(counts.get(s, 0))}" for s in ("done", "failed", "diverged", "pending")),
        f"  checkpoints per model: {len(zoo.epochs)} (epochs {zoo.epochs.tolist()})",
        "  architectures: " + ", ".join(f"#{a}: {layout.num_params} params" for a, layout in enumerate(zoo.layouts)),
    ]
    done = t.index[t["status"] == "done"]
    if len(done):
        final = m[m["model"].isin(done)].groupby("model").tail(1)
        for key in ("test_acc", "val_acc", "train_acc", "gap"):
            if key in final:
                lines.append(f"  final {key:<9}: {_quantiles(final[key].to_numpy())}")
        wall = t.loc[done, "wall_time"].to_numpy()
        lines.append(f"  wall time per model: median {np.median(wall):.1f}s, total {wall.sum() / 3600:.2f} CPU-task hours")
    bad = t[t["status"].isin(["failed", "diverged"])]
    for i, row in bad.head(5).iterrows():
        lines.append(f"  {row['name']} {row['status']}: {row['error'][:150]}")
    if len(bad) > 5:
        lines.append(f"  ... and {len(bad) - 5} more failed/diverged")
    tm = zoo.twin_metrics
    if len(tm):
        for ratio, g in tm.groupby("ratio"):
            lines.append(f"  twins ratio {ratio:g}: test_acc {_quantiles(g['test_acc'].to_numpy())}")
    lines.append(f"  made with hyperzoo {prov.get('hyperzoo')} (git {prov.get('git_revision')}), torch {prov.get('torch')}, "
                 f"ray {prov.get('ray')} on {prov.get('created')}")
    return "\n".join(lines)


def curves_figure(zoo: Zoo, metric: str = "test_acc") -> Figure:
    """One line per model: ``metric`` over epochs, coloured by final value."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    m = zoo.metrics
    fig = Figure(figsize=(7, 4.5), layout="tight")
    ax = fig.subplots()
    cmap = colormaps["viridis"]
    finals = m.groupby("model")[metric].last()
    lo, hi = np.nanmin(finals.to_numpy()), np.nanmax(finals.to_numpy())
    for model, g in m.groupby("model"):
        x = (finals[model] - lo) / (hi - lo) if hi > lo else 0.5
        ax.plot(g["epoch"], g[metric], color=cmap(x), alpha=0.6, lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{zoo.path.name}: {m['model'].nunique()} models")
    ax.grid(alpha=0.3)
    return fig


def plot_curves(zoo: Zoo, path: str | Path, metric: str = "test_acc") -> Path:
    """:func:`curves_figure` saved as an image at ``path``."""
    path = Path(path)
    curves_figure(zoo, metric).savefig(path, dpi=120)
    return path
