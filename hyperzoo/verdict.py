"""The five lines a pipeline's summary.md opens with, before any table: what the zoo is, how
well accuracy is read from the embedding and from function against the statistics, whether
the samples are novel, and how far models sparsify. Every figure is read from the CSV files
the steps wrote; each comparison names the readouts chosen on validation models and calls a
side better only where the 95% intervals over test models are apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SIDES = {"the embedding": ("emb", "pool(emb)", "emb+s(W)", "pool(emb)+s(W)"), "s(W)": ("s(W)",),
         "probe outputs": ("probe", "probe+s(W)")}


def _side(res: pd.DataFrame, sets: tuple[str, ...]) -> pd.Series | None:
    from hyperrep.downstream import best_by_validation

    return best_by_validation(res[res["feature_set"].isin(sets)])


def _compare(a: pd.Series, b: pd.Series, name_a: str, name_b: str) -> str:
    if a["r2_lo"] > b["r2_hi"]:
        word = f"{name_a} reads it better"
    elif b["r2_lo"] > a["r2_hi"]:
        word = f"{name_b} reads it better"
    else:
        word = "level (the intervals overlap)"
    return (f"{name_a} ({a['feature_set']}·{a['predictor']}) R² {a['r2']:.3f} [{a['r2_lo']:.2f}, {a['r2_hi']:.2f}] "
            f"against {name_b} ({b['feature_set']}·{b['predictor']}) {b['r2']:.3f} [{b['r2_lo']:.2f}, "
            f"{b['r2_hi']:.2f}]: {word}")


def predict_lines(report: Path, prop: str = "test_acc") -> list[str]:
    res = pd.read_csv(report / "results.csv")
    res = res[(res["property"] == prop) & res["r2"].notna()]
    chosen = {name: _side(res, sets) for name, sets in SIDES.items()}
    stats = chosen["s(W)"]
    if stats is None:
        return [f"Properties: no s(W) row for {prop} in {report}."]
    n = int(res["n_test_models"].max())
    lines = []
    for name in ("the embedding", "probe outputs"):
        if chosen[name] is not None:
            lines.append(f"Test accuracy from {name} against s(W), {n} test models: "
                         + _compare(chosen[name], stats, name, "s(W)") + ".")
    return lines or [f"Test accuracy from s(W): R² {stats['r2']:.3f} (no embedding or probe rows)."]


def verdict(zoo: Path, predict: Path, sample: Path, sparsify: Path) -> list[str]:
    """At most five lines; a missing file is named, not guessed."""
    from hyperzoo.results import sample_rows, sparsify_rows, zoo_rows

    lines = []
    for what, fn in (("zoo", lambda: [f"The zoo: {zoo_rows(zoo)[0][1]}."]), ("predict", lambda: predict_lines(predict)),
                     ("sample", lambda: [f"Sampling: {sample_rows(sample)[0][1]}."]),
                     ("sparsify", lambda: [f"Sparsity: {sparsify_rows(sparsify)[0][1]}."])):
        try:
            lines += fn()
        except (FileNotFoundError, KeyError, IndexError) as err:
            lines.append(f"{what}: not available ({getattr(err, 'filename', None) or err}).")
    return [line for line in lines if line and not (isinstance(line, float) and np.isnan(line))][:5]
