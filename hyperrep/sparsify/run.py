"""``hyperzoo sparsify``: accuracy-vs-sparsity curves for trained, sampled and robust-sampled models.

Sources of models:

- ``trained``: the anchors, i.e. the top-Q training-split zoo models by validation accuracy;
- ``sampled``: the models of a sampled zoo (``--sampled``), or, with a run and no sampled
  zoo, models sampled here around the same anchors;
- ``robust-sampled`` (needs a run): sampled around *robust anchors*, the training-split
  models whose sparsified twins keep the highest accuracy at the largest twin ratio, and
  optionally moved by ``robust_shift`` (in units of the anchors' spread) along the
  direction in which a ridge regression on embeddings predicts twin accuracy to grow.

With a run, the twins' accuracy is also predicted from the dense models' embeddings
(R^2 on held-out models; ``twin_prediction.csv``). Twins are the zoo's stored ones when
it has them, else they are made here (each model's own recipe, ``eo_tasks.train.prune``).

Outputs in ``out``: ``curves.csv``, ``curves.png``, ``twin_prediction.csv``,
``anchors.csv``, ``summary.md`` (incl. the sparsity at which each source's mean accuracy
has dropped by ``drop``), ``command.txt``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from eo_tasks import ConfigError, from_dict
from eo_tasks.data import TaskData
from eo_tasks.train import PruneConfig, TrainConfig
from hyperrep.sampling.archs import arch_modes, resolve_arch
from hyperrep.sampling.context import ZooContext, open_context, select_anchors
from hyperrep.sampling.evaluate import Evaluator
from hyperrep.sampling.plots import band_plot, markdown_table
from hyperrep.sampling.sample import SampleConfig, draw_models, load_run_and_context, run_arch
from hyperrep.sparsify.curves import drop_table, format_drop, mean_curves, parse_ratios, prune_curves
from hyperrep.sparsify.twins import robust_direction, twin_prediction, twin_verdict


@dataclass(frozen=True)
class CurveConfig:
    """How twins are pruned (``prune``) and how the sampled sources are drawn (``sample``:
    its ``anchors`` and ``late`` also pick the trained anchors, its ``seed`` the fine-tune subset)."""

    prune: PruneConfig = field(default_factory=PruneConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    ratios: tuple[float, ...] = (0.5, 0.7, 0.9)  # 0 (dense reference) is always added
    finetune_subset: int = 0  # fine-tune on a seeded subset of this many training images; 0: all
    robust_shift: float = 0.0  # move robust draws this many anchor-spreads along the ridge direction
    max_models: int = 0  # per source, 0: all
    drop: float = 0.02

    def __post_init__(self) -> None:
        if self.max_models < 0 or self.finetune_subset < 0 or not 0 < self.drop < 1:
            raise ConfigError("finetune_subset and max_models must be >= 0, drop in (0, 1)")
        if self.sample.anchor_checkpoints != 1:
            raise ConfigError("sparsify prunes one checkpoint per anchor model: sample.anchor_checkpoints must be 1")


@dataclass
class SparsifyResult:
    out: Path
    curves: pd.DataFrame
    drops: pd.DataFrame
    twin_prediction: pd.DataFrame | None
    anchors: pd.DataFrame


def _sampled_zoo(path: Path, ctx: ZooContext) -> tuple[list[str], np.ndarray, object]:
    from zoo import UnknownLayoutError, Zoo

    with Zoo.open(path) as zoo:
        try:
            arch = zoo.arch_of(ctx.layout)
        except UnknownLayoutError as err:
            raise ConfigError(f"{path}: its models have another layout than {ctx.path}'s architecture {ctx.arch} "
                              f"({ctx.mode}); with a zoo of several architectures, --arch picks the one the "
                              "sampled zoo was decoded to") from err
        done = zoo.table.index[(zoo.table["status"] == "done") & (zoo.table["arch"] == arch)]
        if len(done) == 0:
            raise ConfigError(f"{path}: no finished (done) models")
        specs = {zoo.spec(int(m)).for_eval() for m in done}
        if len(specs) != 1:
            raise ConfigError(f"{path}: the sampled models use {len(specs)} different specs; expected one")
        names = [str(zoo.table.loc[m, "name"]) for m in done]
        weights = zoo.weights_many(done)
        return names, weights, zoo.spec(int(done[0]))


def finetune_data(data: TaskData, cfg: CurveConfig) -> TaskData:
    """The task data the twins are fine-tuned on: the train split, or with ``finetune_subset``
    one seeded subset of it (the same images for every model, so that sources compare)."""
    if not cfg.finetune_subset or cfg.finetune_subset >= len(data.splits["train"]):
        return data
    train = data.splits["train"].sample(cfg.finetune_subset, cfg.sample.seed)
    return TaskData(data.info, {**data.splits, "train": train})


def _twin_accuracy(ctx: ZooContext, models: np.ndarray, cfg: CurveConfig) -> tuple[np.ndarray, np.ndarray, str]:
    """[N, R] twin test accuracy of ``models``, the ratios, and where they came from: the
    zoo's stored twins when it has them, else made here at ``cfg``'s ratios and scope."""
    tm = ctx.twin_metrics
    if len(tm):
        from zoo import Zoo

        with Zoo.open(ctx.path) as zoo:
            twins = zoo.twin_config
        table = tm.pivot_table(index="model", columns="ratio", values="test_acc")
        ratios = np.asarray(table.columns, dtype=float)
        origin = f"stored in the zoo ({twins.scope}, {twins.finetune_epochs} fine-tune epochs)"
        return table.reindex(models).to_numpy(dtype=float), ratios, origin
    from eo_tasks.train import sparsify_model

    ratios = np.array([r for r in parse_ratios(cfg.ratios) if r > 0])
    out = np.full((len(models), len(ratios)), np.nan)
    data = finetune_data(ctx.data, cfg)
    for i, m in enumerate(models):
        recipe = from_dict(TrainConfig, json.loads(ctx.table.loc[int(m), "train_config"]))
        flat = ctx.weights(int(m))
        for r, ratio in enumerate(ratios):
            _, metrics = sparsify_model(ctx.specs[int(m)], data, recipe, flat, float(ratio), cfg.prune)
            out[i, r] = metrics["test_acc"]
    return out, ratios, f"made here ({cfg.prune.describe()})"


def _zoo_arch(zoo_path: str | Path, arch: int | str | None) -> int | None:
    """The architecture ``arch`` names among the zoo's with finished models (no run)."""
    from zoo import Zoo

    with Zoo.open(zoo_path) as zoo:
        t = zoo.table
        done = sorted({int(a) for a in t.loc[t["status"] == "done", "arch"]})
    return resolve_arch(arch, arch_modes(zoo_path), done, what=f"the zoo {zoo_path}")


def _final_metric(ctx: ZooContext, models: np.ndarray, key: str) -> np.ndarray:
    m = ctx.metrics[ctx.metrics["model"].isin(models)].sort_values(["model", "epoch"]).groupby("model").tail(1)
    return m.set_index("model")[key].reindex(models).to_numpy(dtype=float)


def sparsity_curves(
    zoo_path: str | Path,
    out: str | Path,
    run_dir: str | Path | None = None,
    sampled_path: str | Path | None = None,
    config: CurveConfig | None = None,
    data_root: str | Path | None = None,
    command: str | None = None,
    log: Callable[[str], None] | None = None,
    arch: int | str | None = None,
) -> SparsifyResult:
    """``log`` receives a progress line per pruned model. ``arch`` (a zoo architecture id or a
    fusion mode name, :func:`hyperrep.sampling.archs.resolve_arch`) picks the architecture
    whose models are pruned and sampled, needed when the zoo (or the run) has several."""
    cfg = config or CurveConfig()
    ratios = parse_ratios(cfg.ratios)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rep = None
    if run_dir is not None:
        rep, ctx = load_run_and_context(zoo_path, run_dir, data_root, arch=arch)
    else:
        ctx = open_context(zoo_path, data_root=data_root, arch=_zoo_arch(zoo_path, arch))
    cap = (lambda x: x[: cfg.max_models]) if cfg.max_models else (lambda x: x)

    anchors = select_anchors(ctx, cfg.sample.anchors, cfg.sample.late)
    spec = ctx.specs[int(anchors["model"].iloc[0])]
    anchor_w = ctx.weights_many(anchors["model"].to_numpy(), anchors["epoch"].to_numpy())
    models: list[tuple[str, str, np.ndarray]] = [
        (n, "trained", w) for n, w in cap(list(zip(anchors["name"], anchor_w)))
    ]
    anchor_table = anchors.assign(role="trained")

    evaluator = Evaluator(spec, ctx.data)
    sampled_spec = spec
    novelty = None  # the novelty floor's reference, measured by the first draw and reused by the robust one
    if sampled_path is not None:
        names, weights, sampled_spec = _sampled_zoo(Path(sampled_path), ctx)
        if sampled_spec.for_eval() != spec.for_eval():
            raise ConfigError(f"{sampled_path}: its models' spec differs from the anchors' in {zoo_path}")
        models += [(n, "sampled", w) for n, w in cap(list(zip(names, weights)))]
    elif rep is not None:
        d = draw_models(rep, ctx, anchors, cfg.sample, evaluator)
        novelty = d.novelty
        models += [(n, "sampled", w) for n, w in cap(list(zip(d.kept["name"], d.weights)))]

    twin_table = None
    if rep is not None:
        pool = np.sort(np.concatenate(list(ctx.splits.values())))
        pool = np.array([m for m in pool if ctx.specs[int(m)].for_eval() == spec.for_eval()])
        twin_acc, twin_ratios, origin = _twin_accuracy(ctx, pool, cfg)
        emb = np.asarray(rep.embed(ctx.weights_many(pool), arch=run_arch(rep, ctx), spec=spec), dtype=float)
        dense = _final_metric(ctx, pool, "test_acc")
        is_train = np.isin(pool, ctx.splits["train"])
        fit = twin_prediction(emb, dense, twin_acc, twin_ratios, is_train)
        twin_table = fit.table.assign(twins=origin)
        twin_table.to_csv(out / "twin_prediction.csv", index=False)

        hardest = float(twin_ratios.max())
        robust_score = pd.Series(twin_acc[:, int(np.argmax(twin_ratios))], index=pool)
        robust = select_anchors(ctx, cfg.sample.anchors, late=1e-9, spec=spec, score=robust_score)
        shift = None
        if cfg.robust_shift and hardest in fit.models:
            direction = robust_direction(fit.models[hardest])
            robust_w = ctx.weights_many(robust["model"].to_numpy(), robust["epoch"].to_numpy())
            robust_e = np.asarray(rep.embed(robust_w, arch=run_arch(rep, ctx), spec=spec))
            spread = float(np.std(robust_e @ direction)) or 1.0
            shift = (cfg.robust_shift * spread * direction).astype(np.float32)
        d = draw_models(rep, ctx, robust, cfg.sample, evaluator, shift=shift, prefix="r", novelty=novelty)
        models += [(n, "robust-sampled", w) for n, w in cap(list(zip(d.kept["name"], d.weights)))]
        anchor_table = pd.concat([anchor_table, robust.assign(role=f"robust (twin test_acc at ratio {hardest:g})")])
    anchor_table.to_csv(out / "anchors.csv", index=False)

    curves = prune_curves(models, spec, finetune_data(ctx.data, cfg), ctx.recipe, ratios, log=log, prune=cfg.prune)
    curves.to_csv(out / "curves.csv", index=False)
    title = f"{cfg.prune.schedule} magnitude pruning ({cfg.prune.scope}) + {cfg.prune.total_epochs} masked epoch(s)"
    band_plot(mean_curves(curves), "ratio", out / "curves.png", "sparsity (fraction of weights pruned)",
              "test accuracy", title)
    drops = drop_table(curves, cfg.drop)
    (out / "summary.md").write_text(_summary(ctx, cfg, drops, twin_table, run_dir, sampled_path))
    (out / "command.txt").write_text((command or " ".join(sys.argv)) + "\n")
    return SparsifyResult(out, curves, drops, twin_table, anchor_table)


def _summary(ctx: ZooContext, cfg: CurveConfig, drops: pd.DataFrame, twins: pd.DataFrame | None,
             run_dir: object, sampled: object) -> str:
    shown = drops.copy()
    shown["drop_sparsity"] = [format_drop(r.drop_sparsity, r.drop_lo, r.drop_hi) for r in drops.itertuples()]
    shown = shown.drop(columns=["drop_lo", "drop_hi"])
    for col in ("val_drop_sparsity", "drop_vs_original"):
        if col in shown:
            shown[col] = [format_drop(v) for v in shown[col]]
    lines = [
        "# Sparsification report",
        "",
        f"- zoo: `{ctx.path}`" + (f", hyperrep run: `{run_dir}`" if run_dir else "")
        + (f", sampled zoo: `{sampled}`" if sampled else "")
        + (f"; architecture {ctx.arch} (fusion mode `{ctx.mode}`): every model pruned here is one of it"
           if ctx.table["arch"].nunique() > 1 else ""),
        f"- {cfg.prune.describe()}; ratios {list(parse_ratios(cfg.ratios))} (0 = dense reference); "
        f"{cfg.prune.total_epochs} masked epoch(s) in all per twin, on the zoo's train split"
        + (f" (a seeded subset of {cfg.finetune_subset} images)" if cfg.finetune_subset else "")
        + " with the zoo's recipe "
        f"({ctx.recipe.optimizer}, lr {ctx.recipe.lr:g}); every ratio, 0 included, gets the same schedule",
        f"- sampling: `{cfg.sample.method}`, n {cfg.sample.n}, select {cfg.sample.select}, seed {cfg.sample.seed}, "
        f"anchors {cfg.sample.anchors:g}, "
        f"robust shift {cfg.robust_shift:g}",
        "",
        f"## Sparsity at which mean test accuracy drops by {cfg.drop:g}",
        "",
        "Linearly interpolated between the two ratios around the crossing; `never` = the mean curve stays "
        "within the margin up to the largest ratio. `drop_sparsity` reads the mean test curve, with a 95% "
        "bootstrap interval over the source's models in brackets (models resampled with all their ratios; "
        "`never` as a bound: that share of resamples never drops), "
        "`val_drop_sparsity` the mean validation curve (the one to choose pruning options on); "
        "`original_acc` is the models' test accuracy as given (no fine-tune) and `drop_vs_original` where the "
        "mean test curve falls the margin below it; `twin_wall_s`: seconds per twin.",
        "",
        markdown_table(shown),
        "",
        "![accuracy vs sparsity](curves.png)",
        "",
    ]
    if twins is not None:
        lines += [
            "## Predicting twin accuracy from the dense embedding",
            "",
            "Ridge regression (standardised features, penalty by internal CV) fitted on the training-split "
            "models, R^2 and MAE on the held-out (val + test split) models. `dense_acc` uses only the dense "
            "model's own test accuracy: the reference the embedding has to beat; `embedding+dense_acc` fits the "
            "dense-accuracy line first and the embedding's ridge on what it leaves. Twins: "
            f"{twins['twins'].iloc[0] if len(twins) else 'n/a'}.",
            "",
            markdown_table(twins.drop(columns=["twins"])),
            "",
            *[f"- {line}" for line in twin_verdict(twins)],
            "",
        ]
    return "\n".join(lines)
