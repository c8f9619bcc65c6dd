"""Ablations of a hyper-representation, decided on validation models only.

An ablation TOML names a base run config, settings every variant shares (``[common]``), and
variants, each a partial config merged over them (``[variants.<name>]``, the same tables
and keys as ``configs/hyperrep/*.toml``; an unknown key fails with its path); a variant's
``readout`` table changes how its run is read, not trained (:class:`Readout`). Each variant
trains its own run (resumable) under ``OUT/<name>/run`` on the zoo's training models. Its
readouts (the feature sets of ``hyperzoo predict`` that read an embedding) are then fitted
on the training models' checkpoints, tuned on one half of the validation models and scored
on the other half; the zoo's test models are dropped before anything is fitted or scored,
so an ablation never looks at them. The weight baselines (s(W), W) are scored once on the
same halves. ``OUT/ablation.csv`` holds every cell, ``OUT/ablation.md`` the tables.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eo_tasks import ConfigError, from_dict, load_toml
from hyperrep.config import HyperRepConfig
from hyperrep.downstream.names import BLEND
from hyperrep.downstream.select import EMBEDDING_SETS, WEIGHT_SETS, best_by_validation

BASELINES = WEIGHT_SETS  # scored once, beside every variant
COLUMNS = ("variant", "feature_set", "predictor", "property", "r2", "r2_lo", "r2_hi", "kendall_tau",
           "kendall_tau_lo", "kendall_tau_hi", "n_test_models", "val_score", "seconds", "note")


@dataclass(frozen=True)
class AblationSettings:
    base: str  # the run config every variant starts from (relative to the ablation TOML)
    properties: tuple[str, ...] = ("test_acc", "epoch", "gap")
    features: tuple[str, ...] = EMBEDDING_SETS
    predictors: tuple[str, ...] = ("ridge", "gbt", "blend")
    seed: int = 0  # which validation models tune and which score
    resamples: int = 500  # bootstrap resamples of the scoring models behind each interval
    threads: int = 0  # cores for the readouts (0: all); training uses the run config's threads


@dataclass(frozen=True)
class Readout:
    """How a variant's run is read: a lever that needs no training."""

    views: int = 1  # each checkpoint embedded as its mean over itself and views - 1 neuron permutations

    def __post_init__(self) -> None:
        if self.views < 1:
            raise ValueError(f"views must be >= 1, got {self.views}")


@dataclass
class Ablation:
    settings: AblationSettings
    variants: dict[str, HyperRepConfig]
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # as written, for the tables
    readouts: dict[str, Readout] = field(default_factory=dict)  # variants not named: Readout()

    @staticmethod
    def load(path: str | Path) -> Ablation:
        path = Path(path)
        raw = load_toml(path)
        common = raw.pop("common", {})
        variants = raw.pop("variants", {})
        settings = from_dict(AblationSettings, raw, where=str(path))
        if not variants:
            raise ConfigError(f"{path}: [variants] is empty; name at least one variant (an empty table is the base)")
        base = load_toml((path.parent / settings.base).resolve())
        configs, readouts = {}, {}
        for name, over in variants.items():
            if not isinstance(over, dict):
                raise ConfigError(f"{path}: variants.{name} must be a table of config overrides")
            over = dict(over)
            readouts[name] = from_dict(Readout, over.pop("readout", {}), where=f"{path}: variants.{name}.readout")
            merged = _merge(_merge(base, common), over)
            configs[name] = HyperRepConfig.from_dict(merged, where=f"{path}: variants.{name}")
        return Ablation(settings, configs, dict(variants), readouts)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def validation_halves(rows: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Training and validation rows only, the validation models split by model into a tuning
    half (split "val") and a scoring half (split "test"); the zoo's test models are gone."""
    kept = rows[rows["split"].isin(("train", "val"))].copy()
    val = np.sort(kept.loc[kept["split"] == "val", "model"].unique())
    scoring = set(np.random.default_rng(seed).permutation(val)[: len(val) // 2].tolist())
    kept.loc[kept["model"].isin(scoring), "split"] = "test"
    return kept


def _halves(data, seed: int):
    from hyperrep.downstream.evaluation import DownstreamData

    rows = validation_halves(data.rows, seed)
    keep = rows.index.to_numpy()
    take = lambda a: None if a is None else a[keep]  # noqa: E731
    return DownstreamData(rows.reset_index(drop=True), data.weights[keep], data.layout, take(data.embeddings),
                          list(data.notes), take(data.pooled), dict(data.layouts))


def _score(data, settings: AblationSettings, feature_sets: tuple[str, ...], variant: str) -> pd.DataFrame:
    from hyperrep.downstream import PredictConfig, evaluate
    from hyperrep.downstream.properties import select_properties

    props, _ = select_properties(data.rows)
    wanted = [p for p in props if p.name in settings.properties]
    missing = set(settings.properties) - {p.name for p in wanted}
    if missing:
        raise ConfigError(f"properties {sorted(missing)} are not in this zoo's checkpoints")
    config = PredictConfig(feature_sets=feature_sets, predictors=settings.predictors, seed=settings.seed,
                           threads=settings.threads or None, resamples=settings.resamples)
    ev = evaluate(data, config, properties=wanted)
    res = ev.results.assign(variant=variant)
    return res.reindex(columns=list(COLUMNS))


def run_ablation(ablation: Ablation, zoo: str | Path, out: str | Path,
                 progress: Callable[[str], None] | None = None, train: bool = True,
                 only: tuple[str, ...] = ()) -> pd.DataFrame:
    """Train and score every variant, or the variants named in ``only`` (resuming runs and
    keeping variants already scored in ``OUT/<name>/scores.csv``); write ``OUT/ablation.csv``
    and ``OUT/ablation.md`` with every variant scored so far. ``train=False`` only writes the
    tables. Processes given disjoint ``only`` can share one OUT and run side by side."""
    from hyperrep.downstream import Rows, load_data
    from hyperrep.train import train_hyperrep

    unknown = sorted(set(only) - set(ablation.variants))
    if unknown:
        raise ConfigError(f"unknown variant(s) {unknown}; the ablation has {sorted(ablation.variants)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda line: None)
    chosen = {k: v for k, v in ablation.variants.items() if not only or k in only}
    for name, cfg in chosen.items() if train else ():
        folder = out / _slug(name)
        if (folder / "scores.csv").exists():
            continue
        start = time.perf_counter()
        train_hyperrep(zoo, cfg, folder / "run", progress=progress)
        data, _ = load_data(zoo, folder / "run", Rows(views=ablation.readouts.get(name, Readout()).views))
        with_baselines = not (out / "baselines.csv").exists()
        # a blend reads s(W) · gbt, so every variant scores s(W); it is kept once, as a baseline
        extra = BASELINES if with_baselines else ("s(W)",) if BLEND in ablation.settings.predictors else ()
        table = _score(_halves(data, ablation.settings.seed), ablation.settings,
                       ablation.settings.features + extra, name)
        base = table["feature_set"].isin(BASELINES)
        if with_baselines:
            table[base].assign(variant="weights only").to_csv(out / "baselines.csv", index=False)
        table[~base].to_csv(folder / "scores.csv", index=False)
        say(f"[ablate] {name}: trained and scored in {time.perf_counter() - start:.0f} s")
    return write_tables(ablation, out)


def write_tables(ablation: Ablation, out: Path) -> pd.DataFrame:
    """``OUT/ablation.csv`` and ``OUT/ablation.md`` from the variants scored so far."""
    read = lambda path: pd.read_csv(path, keep_default_na=False, na_values=[""])  # noqa: E731
    tables, runs = [], {}
    for name in ablation.variants:
        folder = out / _slug(name)
        if not (folder / "scores.csv").exists():
            continue
        history = pd.read_csv(folder / "run" / "history.csv")
        runs[name] = {"epochs": len(history), "train_s": float(history["seconds"].sum()),
                      "val_r2": float(history["val_r2"].iloc[-1])}
        tables.append(read(folder / "scores.csv"))
    if not tables:
        raise ConfigError(f"{out}: no variant has been scored yet")
    allrows = pd.concat([*tables, read(out / "baselines.csv")], ignore_index=True)
    allrows.to_csv(out / "ablation.csv", index=False)
    n_score = int(allrows["n_test_models"].max()) if allrows["n_test_models"].notna().any() else None
    (out / "ablation.md").write_text(ablation_markdown(allrows, runs, ablation, n_score))
    return allrows


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


def _cell(row: pd.Series | None, metric: str = "r2") -> str:
    if row is None or not np.isfinite(row[metric]):
        return "n/a"
    return f"{row[metric]:.3f} [{row[f'{metric}_lo']:.2f}, {row[f'{metric}_hi']:.2f}]"


def ablation_markdown(rows: pd.DataFrame, runs: dict[str, dict], ablation: Ablation, n_score: int | None) -> str:
    s = ablation.settings
    props = [p for p in s.properties if p in set(rows["property"])]
    scored = f"{n_score} scoring validation models" if n_score else "the scoring half of the validation models"
    lines = ["# Hyper-representation ablation (validation models only)", "",
             f"R² on {scored} (95% bootstrap intervals over models, {s.resamples} resamples); every readout fitted "
             "on the training models' checkpoints and tuned on the other half of the validation models. "
             "Test models are never used. For each variant and property: its readout of the embedding alone "
             "(emb, pool(emb)) and its readout of the embedding beside s(W) with the highest R² on the tuning "
             "half (the scoring half only scores them).", "",
             "| variant | changes | epochs | train s | readouts s | val recon. R² | "
             + " | ".join(f"{p} R²: embedding | {p} R²: with s(W)" for p in props) + " |",
             "|---|---|---|---|---|---|" + "---|---|" * len(props)]
    emb = rows[rows["variant"] != "weights only"]
    for name in (n for n in ablation.variants if n in runs):
        mine = emb[emb["variant"] == name]
        cells = []
        for p in props:
            for alone in (True, False):
                cand = mine[(mine["property"] == p)
                            & (mine["feature_set"].str.contains(r"s\(W\)", regex=True) != alone)]
                best = best_by_validation(cand)  # the tuning half's score; None in tables from before it was kept
                cells.append("n/a" if best is None else f"{_cell(best)} ({best['feature_set']}·{best['predictor']})")
        r = runs.get(name, {})
        lines.append(f"| {name} | {_describe(ablation.overrides.get(name, {}))} | {r.get('epochs', '')} | "
                     f"{r.get('train_s', float('nan')):.0f} | {mine['seconds'].sum():.0f} | "
                     f"{r.get('val_r2', float('nan')):.3f} | "
                     + " | ".join(cells) + " |")
    lines += ["", "Weight baselines on the same models:", "",
              "| readout | " + " | ".join(f"{p} R²" for p in props) + " |", "|---|" + "---|" * len(props)]
    base = rows[rows["variant"] == "weights only"]
    for (fs, pr), group in base.groupby(["feature_set", "predictor"], sort=False):
        if group["r2"].isna().all():
            continue
        cells = [_cell(g.iloc[0]) if len(g := group[group["property"] == p]) else "n/a" for p in props]
        lines.append(f"| {fs}·{pr} | " + " | ".join(cells) + " |")
    lines += ["", "Every readout of every variant (R²):", "",
              "| variant | readout | " + " | ".join(props) + " |", "|---|---|" + "---|" * len(props)]
    for (v, fs, pr), group in emb.groupby(["variant", "feature_set", "predictor"], sort=False):
        if group["r2"].isna().all():  # e.g. gbt on a set wider than max_gbt_features
            continue
        cells = [_cell(g.iloc[0]) if len(g := group[group["property"] == p]) else "n/a" for p in props]
        lines.append(f"| {v} | {fs}·{pr} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _describe(over: dict[str, Any], prefix: str = "") -> str:
    parts = []
    for key, value in over.items():
        if isinstance(value, dict):
            parts.append(_describe(value, f"{prefix}{key}."))
        else:
            parts.append(f"{prefix}{key} = {value}")
    return ", ".join(p for p in parts if p) or ("(base)" if not prefix else "")
