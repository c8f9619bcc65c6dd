"""The demo's fusion story: four answers, each read back from the files a run wrote.

1. Which fusion mode is most accurate on cloudy patches (the zoo's per-checkpoint
   ``test_acc_cloudy`` / ``test_acc_clear``, final epoch of every finished model).
2. Whether the weights tell a model's fusion mode (``hyperzoo predict``'s balanced accuracy
   on the class property ``fusion_mode`` from the embeddings, from s(W) and from the probe
   outputs).
3. How well cloud robustness is read from the weights (R² and Kendall τ of
   ``test_acc_cloudy`` and ``cloudy_drop``), three ways: from function (the probe outputs,
   each checkpoint's softmax answers to training-split images; ``hyperzoo predict --probes``),
   from structure (s(W)) and from the hyper-representation's embedding; and which of the three
   is better on the test models, or whether they are level (95% intervals overlap).
   In 2 and 3 each side is one readout, the one with the highest validation score
   (``hyperrep.downstream.best_by_validation``); the test models only score it.
4. Whether sampled models of each mode work (zero-shot test accuracy per mode from the
   per-mode sampling reports, against that mode's anchors and random inits).

A figure that is missing (a zoo of one mode, a report not written, a property the predict
step did not score) is said to be missing, with the reason, never estimated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hyperrep.downstream import EMBEDDING_ALONE, best_by_validation

MODES = ("single", "early", "early_blowup", "late", "late_shared")  # the display order
BASELINE = "s(W)"
FUNCTION = "probe outputs"  # the functional view: softmax outputs on the report's probe images
# what each side may read: the embedding alone, structure (weight statistics), function (probe outputs)
SIDES = {"embeddings": EMBEDDING_ALONE, BASELINE: (BASELINE,), FUNCTION: ("probe",)}
# how the comparison of the three names them
VIEWS = {FUNCTION: "function (probe outputs)", BASELINE: "structure (s(W))", "embeddings": "the embedding"}
NO_PROBES = "missing (the predict step ran without --probes N)"
ROBUSTNESS = ("test_acc_cloudy", "cloudy_drop")
RESAMPLES = 1000


def mode_of(arch: object) -> str:
    """A model's fusion mode as ``hyperzoo predict`` names it: ``late_shared`` for late fusion
    with one shared backbone."""
    fusion = str(getattr(arch, "fusion", "single"))
    return fusion + "_shared" if getattr(arch, "shared_backbone", False) else fusion


def _order(modes) -> list[str]:
    known = [m for m in MODES if m in set(modes)]
    return known + sorted(set(modes) - set(known))


def zoo_models(zoo_path: Path) -> pd.DataFrame:
    """One row per finished model: mode and its final checkpoint's accuracies (cloudy/clear
    where the zoo records them, NaN otherwise)."""
    from zoo import Zoo

    with Zoo.open(zoo_path) as zoo:
        table, metrics = zoo.table, zoo.metrics
        done = table.index[table["status"] == "done"]
        modes = {int(m): mode_of(zoo.spec(int(m)).arch) for m in done}
    final = metrics[metrics["model"].isin(done)].sort_values(["model", "epoch"]).groupby("model").tail(1)
    out = final.set_index("model").reindex(columns=["test_acc", "test_acc_cloudy", "test_acc_clear"])
    out.insert(0, "mode", [modes[int(m)] for m in out.index])
    out["cloudy_drop"] = out["test_acc_clear"] - out["test_acc_cloudy"]
    return out


def _mean_interval(x: np.ndarray, rng: np.random.Generator, resamples: int) -> tuple[float, float, float]:
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return np.nan, np.nan, np.nan
    means = rng.choice(x, size=(resamples, len(x))).mean(axis=1)
    return float(x.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def modes_table(models: pd.DataFrame, seed: int = 0, resamples: int = RESAMPLES) -> pd.DataFrame:
    """Per mode: models, mean final test / cloudy / clear accuracy and cloudy drop, each with a
    95% percentile bootstrap interval over the mode's models."""
    rng = np.random.default_rng(seed)
    rows = []
    for mode in _order(models["mode"]):
        g = models[models["mode"] == mode]
        row = {"mode": mode, "models": len(g)}
        for col in ("test_acc", "test_acc_cloudy", "test_acc_clear", "cloudy_drop"):
            row[col], row[f"{col}_lo"], row[f"{col}_hi"] = _mean_interval(g[col].to_numpy(float), rng, resamples)
        rows.append(row)
    return pd.DataFrame(rows)


def _iv(r, col: str) -> str:
    return f"{r[col]:.3f} [{r[f'{col}_lo']:.3f}, {r[f'{col}_hi']:.3f}]"


def answer_cloudy(models: pd.DataFrame, table: pd.DataFrame, seed: int = 0, resamples: int = RESAMPLES) -> str:
    """Which mode has the highest mean cloudy accuracy, and whether its lead over the
    runner-up is clear (bootstrap interval of the difference of means excludes 0)."""
    scored = table.dropna(subset=["test_acc_cloudy"])
    if len(scored) == 0:
        return "missing: the zoo records no cloudy/clear test accuracy (its task does not flag cloudy patches)"
    if len(scored) == 1:
        return (f"missing: the zoo holds one fusion mode ({scored['mode'].iloc[0]}), so there is nothing to compare; "
                f"its cloudy accuracy is {_iv(scored.iloc[0], 'test_acc_cloudy')}")
    ranked = scored.sort_values("test_acc_cloudy", ascending=False)
    best, second = ranked.iloc[0], ranked.iloc[1]
    a = models.loc[models["mode"] == best["mode"], "test_acc_cloudy"].dropna().to_numpy(float)
    b = models.loc[models["mode"] == second["mode"], "test_acc_cloudy"].dropna().to_numpy(float)
    rng = np.random.default_rng(seed)
    diff = rng.choice(a, (resamples, len(a))).mean(1) - rng.choice(b, (resamples, len(b))).mean(1)
    lo, hi = np.quantile(diff, [0.025, 0.975])
    clear = lo > 0
    return (f"**{best['mode']}** (cloudy accuracy {_iv(best, 'test_acc_cloudy')}, {int(best['models'])} models; "
            f"drop from clear {best['cloudy_drop']:.3f}), ahead of {second['mode']} ({second['test_acc_cloudy']:.3f}) "
            f"by {best['test_acc_cloudy'] - second['test_acc_cloudy']:.3f} [{lo:.3f}, {hi:.3f}]: "
            + ("a clear lead (the interval excludes 0)" if clear else "not a clear lead (the interval includes 0)"))


def chosen_rows(results: pd.DataFrame, prop: str) -> dict[str, pd.Series | None]:
    """Side ("embeddings", "s(W)", "probe outputs") -> its readout of ``prop`` with the highest
    validation score, None where no readout of that side has one."""
    mine = results[results["property"] == prop]
    return {side: best_by_validation(mine[mine["feature_set"].isin(sets)]) for side, sets in SIDES.items()}


def _value_text(r: pd.Series, metric: str) -> str:
    v, lo, hi = (float(r.get(c, np.nan)) for c in (metric, f"{metric}_lo", f"{metric}_hi"))
    if not np.isfinite(v):
        return "n/a"
    return f"{v:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) and np.isfinite(hi) else "")


def _row_text(r: pd.Series, metric: str) -> str:
    return f"`{r['feature_set']}·{r['predictor']}` {_value_text(r, metric)}"


def mode_property(results: pd.DataFrame) -> str | None:
    props = set(results["property"])
    return "fusion_mode" if "fusion_mode" in props else "fusion" if "fusion" in props else None


def answer_mode(results: pd.DataFrame | None) -> str:
    if results is None:
        return "missing: the predict step wrote no results.csv"
    prop = mode_property(results)
    if prop is None:
        return ("missing: `hyperzoo predict` scored no fusion-mode property (the zoo holds one fusion mode, "
                "or this predict step does not know the property yet)")
    rows = chosen_rows(results, prop)
    n_classes = results.loc[results["property"] == prop, "n_classes"].dropna()
    chance = f"; chance is {1 / n_classes.iloc[0]:.3f}" if len(n_classes) and n_classes.iloc[0] > 0 else ""
    emb, base, probe = rows["embeddings"], rows[BASELINE], rows[FUNCTION]
    parts = [f"embeddings {_row_text(emb, 'balanced_accuracy')}" if emb is not None else
             "embeddings: missing (no embedding feature set scored it on validation models: the "
             "hyper-representation was not trained over every architecture, or the split has no validation models)"]
    parts.append(f"{BASELINE} {_row_text(base, 'balanced_accuracy')}" if base is not None
                 else f"{BASELINE}: missing")
    parts.append(f"{FUNCTION} {_row_text(probe, 'balanced_accuracy')}" if probe is not None
                 else f"{FUNCTION}: {_why_no_probe(results)}")
    return (f"balanced accuracy of `{prop}` on the test models, each side's readout chosen on the validation "
            "models: " + "; ".join(parts) + chance
            + ". Each mode is its own architecture (its own layout and parameter count), and the embeddings are "
              "computed per architecture, so a high score shows that the features keep the modes apart, not that "
              "fusion was learnt from what the weights compute")


def answer_robustness(results: pd.DataFrame | None) -> str:
    if results is None:
        return "missing: the predict step wrote no results.csv"
    lines = []
    for prop in ROBUSTNESS:
        if not np.isfinite(results.loc[results["property"] == prop, "r2"].astype(float)).any():
            lines.append(f"`{prop}`: missing (not scored: the zoo records no cloudy test accuracy)")
            continue
        rows = chosen_rows(results, prop)
        lines.append(f"`{prop}` (readouts chosen on the validation models): " + "; ".join(
            (f"{side} {_why_no_probe(results)}" if side == FUNCTION else f"{side} missing") if r is None else
            f"{side} R² {_row_text(r, 'r2')}, τ {_value_text(r, 'kendall_tau')}"
            for side, r in rows.items()) + ". Read from function, from structure or from the embedding? "
            + compare_views(rows))
    return "\n".join(f"- {line}" for line in lines)


def _why_no_probe(results: pd.DataFrame) -> str:
    """Why the probe-outputs side has no readout: not asked for, or asked for and not scored."""
    if "probe" not in set(results["feature_set"]):
        return NO_PROBES
    return "missing (no probe readout has a validation score)"


def _interval_of(r: pd.Series, metric: str) -> tuple[float, float, float]:
    columns = (metric, f"{metric}_lo", f"{metric}_hi")
    return tuple(float(pd.to_numeric(r.get(c, np.nan), errors="coerce")) for c in columns)


def compare_views(rows: dict[str, pd.Series | None], metric: str = "r2") -> str:
    """Which side reads the property best on the test models, each side being its readout
    chosen on the validation models (:func:`chosen_rows`): the side with the highest test
    score is *better* than another only where its 95% interval lies wholly above the other's;
    where the intervals overlap the two are *level*. Without intervals nothing is decided."""
    label = {"r2": "R²", "balanced_accuracy": "balanced accuracy"}.get(metric, metric)
    name = lambda side: VIEWS.get(side, side)  # noqa: E731
    scored = {s: _interval_of(r, metric) for s, r in rows.items() if r is not None}
    scored = {s: v for s, v in scored.items() if np.isfinite(v[0])}
    absent = [name(s) for s in rows if s not in scored]
    tail = f" ({', '.join(absent)}: missing)" if absent else ""
    if len(scored) < 2:
        return "nothing to compare: fewer than two of the views were scored" + tail
    ranked = sorted(scored.items(), key=lambda kv: -kv[1][0])
    (top, (v0, lo0, _)), others = ranked[0], ranked[1:]
    n = [pd.to_numeric(rows[s].get("n_test_models", np.nan), errors="coerce") for s in scored]
    finite_n = [int(x) for x in n if np.isfinite(x)]
    on = f"On the {max(finite_n)} test models" if finite_n else "On the test models"
    text = lambda s, v: f"{name(s)} {label} {v[0]:.3f}" + (  # noqa: E731
        f" [{v[1]:.3f}, {v[2]:.3f}]" if np.isfinite(v[1]) and np.isfinite(v[2]) else "")
    listing = lambda group: ", ".join([text(s, v) for s, v in group][:-1]) + (  # noqa: E731
        " and " if len(group) > 1 else "") + text(*group[-1])
    floor = "; none beats predicting the mean (R² <= 0)" if metric == "r2" and v0 <= 0 else ""
    if not all(np.isfinite(v[1]) and np.isfinite(v[2]) for _, v in ranked):
        return (f"{on}, {text(top, ranked[0][1])} scores highest, but without intervals (--resamples 0) the "
                "report cannot tell a lead from a tie" + floor + tail)
    ahead = [(s, v) for s, v in others if lo0 > v[2]]
    level = [(s, v) for s, v in others if lo0 <= v[2]]
    if not ahead:
        return (f"{on}, {listing(ranked)} are level: their intervals overlap, so none reads it better"
                + floor + tail)
    best = f"{on}, **{name(top)}** reads it best ({text(top, ranked[0][1]).removeprefix(name(top) + ' ')})"
    if not level:
        return f"{best}, better than {listing(ahead)} (the intervals are apart)" + floor + tail
    return (f"{best}, better than {listing(ahead)} (the intervals are apart), level with {listing(level)} "
            "(the intervals overlap)" + floor + tail)


def sampling_table(reports: dict[str, Path]) -> pd.DataFrame:
    """mode -> sampling report folder: per mode and source (sampled, anchor, random init),
    models and mean / best zero-shot test accuracy; missing reports are left out."""
    rows = []
    for mode, folder in reports.items():
        path = Path(folder) / "zero_shot.csv"
        if not path.is_file():
            continue
        zs = pd.read_csv(path)
        for source, g in zs.groupby("source", sort=False):
            rows.append({"mode": mode, "source": source, "models": len(g), "mean": g["test_acc"].mean(),
                         "best": g["test_acc"].max()})
    return pd.DataFrame(rows, columns=["mode", "source", "models", "mean", "best"])


def answer_sampling(table: pd.DataFrame, modes: list[str], why_missing: str = "") -> str:
    if len(table) == 0:
        return "missing: " + (why_missing or "no per-mode sampling report was written")
    parts = []
    for mode in _order(modes):
        g = table[table["mode"] == mode].set_index("source")
        if "sampled" not in g.index:
            parts.append(f"{mode}: missing")
            continue
        ref = "".join(f", {s} {g.loc[s, 'mean']:.3f}" for s in ("anchor", "random init") if s in g.index)
        parts.append(f"{mode}: sampled {g.loc['sampled', 'mean']:.3f} (best {g.loc['sampled', 'best']:.3f}, "
                     f"n={int(g.loc['sampled', 'models'])}){ref}")
    return "mean zero-shot test accuracy per mode: " + "; ".join(parts) + _sampling_verdict(table)


def _sampling_verdict(table: pd.DataFrame) -> str:
    """How many modes' samples beat their random inits and reach their anchors (means)."""
    wide = table.pivot_table(index="mode", columns="source", values="mean")
    if not {"sampled", "anchor", "random init"} <= set(wide.columns):
        return ""
    wide = wide.dropna(subset=["sampled", "anchor", "random init"])
    above = int((wide["sampled"] > wide["random init"]).sum())
    reach = int((wide["sampled"] >= wide["anchor"]).sum())
    return (f". Sampled models beat random inits in {above} of {len(wide)} modes and reach their anchors' "
            f"accuracy in {reach} of {len(wide)}")


@dataclass
class FusionStory:
    models: pd.DataFrame
    modes: pd.DataFrame
    results: pd.DataFrame | None
    sampling: pd.DataFrame
    answers: dict[str, str] = field(default_factory=dict)


def fusion_story(zoo_path: Path, predict_dir: Path, sample_reports: dict[str, Path], why_no_sampling: str = "",
                 seed: int = 0) -> FusionStory:
    models = zoo_models(zoo_path)
    modes = modes_table(models, seed)
    results_path = Path(predict_dir) / "results.csv"
    results = pd.read_csv(results_path) if results_path.is_file() else None
    sampling = sampling_table(sample_reports)
    story = FusionStory(models, modes, results, sampling)
    story.answers = {
        "Which fusion mode is most accurate on cloudy patches?": answer_cloudy(models, modes, seed),
        "Do the weights tell a model's fusion mode?": answer_mode(results),
        "How well is cloud robustness read from function (the probe outputs: every model's softmax answers to "
        "the same training-split images), from structure (s(W)) and from the embedding?": "\n"
        + answer_robustness(results),
        "Do sampled models of each mode work?": answer_sampling(sampling, list(modes["mode"]), why_no_sampling),
    }
    return story


def modes_markdown(modes: pd.DataFrame) -> str:
    head = "| mode | models | test acc | cloudy acc | clear acc | cloudy drop |\n|---|---:|---|---|---|---|\n"
    cell = lambda r, c: "n/a" if not np.isfinite(r[c]) else _iv(r, c)  # noqa: E731
    return head + "".join(f"| {r['mode']} | {int(r['models'])} | {cell(r, 'test_acc')} | {cell(r, 'test_acc_cloudy')} | "
                          f"{cell(r, 'test_acc_clear')} | {cell(r, 'cloudy_drop')} |\n" for _, r in modes.iterrows())


def story_markdown(story: FusionStory, figure: str | None) -> str:
    lines = ["Final checkpoint of every finished model; intervals: 95% bootstrap over the mode's models.\n",
             modes_markdown(story.modes)]
    for question, answer in story.answers.items():
        lines.append(f"**{question}** {answer}\n")
    if figure:
        lines.append(f"![the fusion story]({figure})\n")
    return "\n".join(lines)
