"""The sampling report: zero-shot accuracy, fine-tuning curves and the memorisation check.

Folder layout::

    summary.md            tables and the memorisation verdict
    zero_shot.csv         per model: source, model, val_acc, test_acc, test_loss
    zero_shot_hist.png    histogram of zero-shot test accuracy per source (sampled, anchors,
                          anchors passed through the autoencoder, random inits)
    finetune.csv          per model and epoch: source, model, epoch, train/val/test accuracy
    finetune.png          mean ± std test accuracy per source over fine-tuning epochs
    finetune_paired.csv   per epoch: sampled minus its own anchor (the anchor it was drawn
                          around, fine-tuned alike), mean over pairs and a 95% interval over anchors
    finetune_paired.png   that difference per epoch with its interval
    memorisation.csv      per generated model: nearest training model (aligned/plain weight
                          distance, embedding distance) and prediction agreement with it
    memorisation.md       the per-source means and the verdict
    diversity.csv         per source: mean pairwise permutation-aligned weight distance (anchors:
                          one checkpoint per anchor model)
    novelty.png           zero-shot test accuracy against novelty (aligned distance to the nearest
                          training model) for sampled, anchor+noise and anchor-average models
    command.txt           the command (or call) that made the report

The Markdown is written by :mod:`hyperrep.sampling.summary`.

A zoo without task data (an imported public zoo: ``result.measured`` False) gets the
weight-space parts only: diversity and the memorisation distances (no agreement, no
copy-like baselines, which are matched to an accuracy). Zero-shot accuracy and fine-tuning
are not measured, their files are not written, and summary.md says so first.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eo_tasks import ConfigError
from hyperrep.sampling.baselines import average_baseline, noise_baseline
from hyperrep.sampling.diversity import diversity_line, diversity_ratio, diversity_table
from hyperrep.sampling.evaluate import Evaluator, random_init_weights
from hyperrep.sampling.finetune import PAIRED_COLUMNS, curve_summary, finetune_curves, paired_gain
from hyperrep.sampling.memorisation import (Reference, memorisation_rows, novelty_line, novelty_verdict, summarise,
                                             zoo_spacing)
from hyperrep.sampling.novelty import training_reference
from hyperrep.sampling.plots import band_plot, novelty_plot, paired_plot, zero_shot_histogram
from hyperrep.sampling.sample import SampleResult, anchor_ids, run_arch
from hyperrep.sampling.summary import headline, memorisation_md, summary_md


@dataclass(frozen=True)
class ReportConfig:
    finetune_epochs: int = 3
    finetune_models: int = 5  # per source (sampled, anchors, random init); 0: no fine-tuning
    n_random: int = 0  # random-init models for the zero-shot table; 0: as many as kept samples
    candidates: int = 16  # memorisation: aligned against this many nearest (plain / embedding)
    baselines: bool = True  # anchor+noise and anchor-average at matched accuracy
    diversity_models: int = 16  # diversity: pairwise alignments among at most this many per source
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.finetune_epochs, self.finetune_models, self.n_random) < 0 or self.candidates < 1 \
                or self.diversity_models < 2:
            raise ConfigError("finetune_epochs, finetune_models and n_random must be >= 0, candidates >= 1, "
                              "diversity_models >= 2")


@dataclass
class SamplingReport:
    out: Path
    zero_shot: pd.DataFrame
    finetune: pd.DataFrame
    memorisation: pd.DataFrame
    memorisation_summary: pd.DataFrame
    verdict: list[str]
    diversity: pd.DataFrame | None = None
    glance: list[str] | None = None  # summary.md's first lines: diversity % of the anchors', novelty verdict
    paired: pd.DataFrame | None = None  # fine-tuning: sampled minus own anchor per epoch (finetune_paired.csv)


def _zero_shot(result: SampleResult, evaluator: Evaluator, cfg: ReportConfig) -> tuple[pd.DataFrame, np.ndarray]:
    k = len(result.names)
    n_random = cfg.n_random or k
    random_w = random_init_weights(result.spec, n_random, seed=10_000 + cfg.seed)
    parts = []

    def add(source: str, names: list[str], weights: np.ndarray | None, scores: pd.DataFrame | None = None) -> None:
        s = scores if scores is not None else pd.DataFrame(evaluator.score(weights, ("val", "test")))
        parts.append(pd.DataFrame({"source": source, "model": names, "val_acc": s["val_acc"].to_numpy(),
                                   "test_acc": s["test_acc"].to_numpy(),
                                   "test_loss": s["test_loss"].to_numpy() if "test_loss" in s else np.nan}))

    add("sampled", result.names, None, result.scores)
    if result.config.select:
        d = result.drawn
        add("sampled (all draws)", [f"draw{i}" for i in d["draw"]], None, d.assign(test_loss=np.nan))
    add("anchor", result.anchors["name"].tolist(), result.anchor_weights)
    # decode(embed(anchor)): how much of an anchor survives the autoencoder bounds what sampling can reach
    recon = np.asarray(result.rep.decode(result.anchor_embeddings, arch=run_arch(result.rep, result.context)),
                       dtype=np.float32)
    add("anchor reconstructed", [f"{n}:recon" for n in result.anchors["name"]], recon)
    add("random init", [f"init{i}" for i in range(n_random)], random_w)
    return pd.concat(parts, ignore_index=True), random_w


def _reference(result: SampleResult) -> Reference:
    if result.novelty is not None:  # measured when sampling applied a novelty floor
        return result.novelty.reference
    return training_reference(result.rep, result.context)


def _memorisation(result: SampleResult, evaluator: Evaluator | None, cfg: ReportConfig) -> pd.DataFrame:
    ref = _reference(result)
    layout = result.context.layout
    predict = None if evaluator is None else (lambda w: evaluator.predictions(w, "test"))
    parts = [memorisation_rows(result.names, "sampled", result.weights, result.embeddings,
                               result.scores["test_acc"], ref, layout, predict, cfg.candidates)]
    if cfg.baselines and evaluator is not None:
        target = float(np.nanmean(result.scores["val_acc"]))
        val_acc = lambda W: np.array([evaluator.metrics(w, ("val",))["val_acc"] for w in W])  # noqa: E731
        ids = result.anchors["name"].tolist()
        n = len(result.names)
        for base in (
            noise_baseline(result.anchor_weights, ids, layout, n, target, val_acc, seed=cfg.seed + 1),
            average_baseline(result.anchor_weights, ids, layout, n, target, val_acc, seed=cfg.seed + 2),
        ):
            knob = "sigma" if base.name == "anchor+noise" else "t"
            source = f"{base.name} ({knob}={base.knob:.3g})"
            test = [evaluator.metrics(w, ("test",))["test_acc"] for w in base.weights]
            names = [f"{base.name}:{s}" for s in base.sources]
            emb = np.asarray(result.rep.embed(base.weights, arch=run_arch(result.rep, result.context),
                                              spec=result.spec))
            parts.append(memorisation_rows(names, source, base.weights, emb,
                                           test, ref, layout, predict, cfg.candidates))
    return pd.concat(parts, ignore_index=True)


def sampling_report(result: SampleResult, out: str | Path, config: ReportConfig | None = None,
                    command: str | None = None) -> SamplingReport:
    """Evaluate ``result`` against anchors, random inits and copy-like baselines; write the folder."""
    cfg = config or ReportConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = result.context
    diversity = _diversity(result, cfg)
    diversity.to_csv(out / "diversity.csv", index=False)
    if not result.measured:
        return _weight_space_report(result, out, cfg, diversity, command)
    evaluator = Evaluator(result.spec, ctx.data)

    zero_shot, random_w = _zero_shot(result, evaluator, cfg)
    zero_shot.to_csv(out / "zero_shot.csv", index=False)
    zero_shot_histogram(zero_shot[zero_shot["source"] != "sampled (all draws)"], out / "zero_shot_hist.png")

    m = cfg.finetune_models
    first = result.distinct_anchors[:m]  # distinct anchor models, not several checkpoints of one
    starts = {
        "sampled": (result.names[:m], result.weights[:m]),
        "anchor": (result.anchors["name"].to_numpy()[first].tolist(), result.anchor_weights[first]),
        "random init": ([f"init{i}" for i in range(len(random_w))][:m], random_w[:m]),
    }
    finetune = finetune_curves(starts, result.spec, ctx.data, ctx.recipe, cfg.finetune_epochs) if m else \
        pd.DataFrame(columns=["source", "model", "epoch", "train_acc", "val_acc", "test_acc", "test_loss"])
    pairs = _pairs(result, m)
    paired = pd.DataFrame(columns=list(PAIRED_COLUMNS))
    if len(pairs):
        finetune = pd.concat([finetune, _own_anchor_curves(result, pairs, finetune, first, cfg)], ignore_index=True)
        paired = paired_gain(finetune, pairs, seed=cfg.seed)
    finetune.to_csv(out / "finetune.csv", index=False)
    paired.to_csv(out / "finetune_paired.csv", index=False)
    if len(paired):
        paired_plot(paired, out / "finetune_paired.png")
    ft_summary = curve_summary(finetune) if len(finetune) else pd.DataFrame()
    if len(ft_summary):
        band_plot(ft_summary, "epoch", out / "finetune.png", "fine-tuning epoch", "test accuracy",
                  f"fine-tuned with the zoo's recipe ({ctx.recipe.optimizer}, lr {ctx.recipe.lr:g})")

    mem = _memorisation(result, evaluator, cfg)
    mem.to_csv(out / "memorisation.csv", index=False)
    mem_summary = summarise(mem)
    verdict = novelty_verdict(mem_summary)
    novelty_plot(mem, out / "novelty.png")
    glance = [diversity_line(diversity_ratio(diversity)), novelty_line(mem_summary)]
    lead = _headline(result, zero_shot, mem_summary, cfg, out)
    mem_md = memorisation_md(mem_summary, verdict, cfg)
    (out / "memorisation.md").write_text(mem_md)
    (out / "summary.md").write_text(summary_md(result, zero_shot, ft_summary, mem_md, cfg, diversity, glance,
                                                paired, lead))
    (out / "command.txt").write_text((command or " ".join(sys.argv)) + "\n")
    return SamplingReport(out, zero_shot, finetune, mem, mem_summary, verdict, diversity, glance, paired)


def _headline(result: SampleResult, zero_shot: pd.DataFrame | None, mem_summary: pd.DataFrame, cfg: ReportConfig,
              out: Path) -> str:
    """summary.md's first sentence (novelty before accuracy), its figures in headline.csv."""
    spacing = (result.novelty.spacing if result.novelty is not None else
               zoo_spacing(_reference(result), result.context.layout, candidates=cfg.candidates, seed=cfg.seed))
    ctx = result.context
    final = ctx.metrics[(ctx.metrics["epoch"] == ctx.epochs.max()) & ctx.metrics["model"].isin(ctx.splits["train"])]
    lead, figures = headline(zero_shot, mem_summary, spacing, final["test_acc"].to_numpy(dtype=float))
    c = result.config
    pd.DataFrame([{"method": c.method, "residual": c.residual, **figures}]).to_csv(out / "headline.csv", index=False)
    return lead


def _pairs(result: SampleResult, m: int) -> pd.DataFrame:
    """The fine-tuned samples (the first ``m``) and the anchor each was drawn around; samples
    with no single anchor (kde-dim, kde-layer and uniform draws) have none and are left out."""
    pairs = pd.DataFrame({"sampled": result.names[:m], "anchor": result.scores["anchor"].to_numpy()[:m]})
    return pairs[pairs["anchor"].astype(str) != ""].reset_index(drop=True)


def _own_anchor_curves(result: SampleResult, pairs: pd.DataFrame, curves: pd.DataFrame, first: np.ndarray,
                       cfg: ReportConfig) -> pd.DataFrame:
    """Curves of the anchors in ``pairs`` (source "own anchor", model: the anchor's id). An
    anchor already fine-tuned as one of the "anchor" source has its curve copied: the same
    start and the same seeded recipe would give the same curve again."""
    ctx = result.context
    ids = anchor_ids(result.anchors)
    row_of = {a: i for i, a in enumerate(ids)}
    names = result.anchors["name"].to_numpy()
    copied, todo = [], []
    for a in dict.fromkeys(pairs["anchor"]):
        row = row_of[a]
        done = curves[(curves["source"] == "anchor") & (curves["model"] == names[row])] if row in first else ()
        if len(done):
            copied.append(done.assign(source="own anchor", model=a))
        else:
            todo.append(row)
    if todo:
        copied.append(finetune_curves({"own anchor": (ids[todo].tolist(), result.anchor_weights[todo])},
                                      result.spec, ctx.data, ctx.recipe, cfg.finetune_epochs))
    return pd.concat(copied, ignore_index=True) if copied else curves.iloc[:0]


def _diversity(result: SampleResult, cfg: ReportConfig) -> pd.DataFrame:
    # one checkpoint per anchor model: a model's own late checkpoints are close to each other and
    # would make the anchors look less diverse than the models they are
    anchors = result.anchor_weights[result.distinct_anchors]
    return diversity_table({"sampled": result.weights, "anchor": anchors}, result.context.layout,
                           cfg.diversity_models, cfg.seed)


def _weight_space_report(result: SampleResult, out: Path, cfg: ReportConfig, diversity: pd.DataFrame,
                         command: str | None) -> SamplingReport:
    """The report of a zoo without task data: diversity and memorisation distances only."""
    mem = _memorisation(result, None, cfg)
    mem.to_csv(out / "memorisation.csv", index=False)
    mem_summary = summarise(mem)
    s = mem_summary.set_index("source").loc["sampled"]
    verdict = [
        f"Accuracies not measured: {result.context.no_data}.",
        f"Sampled models lie at a mean permutation-aligned distance of {s['dist_weight_aligned']:.3f} "
        f"({s['rel_dist_weight_aligned']:.1%} of that model's norm) from their nearest training model.",
    ]
    mem_md = memorisation_md(mem_summary, verdict[1:], cfg, measured=False)
    (out / "memorisation.md").write_text(mem_md)
    glance = [diversity_line(diversity_ratio(diversity)),
              "Novelty against the copy-like baselines and the accuracy-novelty plot: not measured (no task data)."]
    lead = _headline(result, None, mem_summary, cfg, out)
    (out / "summary.md").write_text(summary_md(result, None, pd.DataFrame(), mem_md, cfg, diversity, glance,
                                                lead=lead))
    (out / "command.txt").write_text((command or " ".join(sys.argv)) + "\n")
    empty = pd.DataFrame(columns=["source", "model", "val_acc", "test_acc", "test_loss"])
    return SamplingReport(out, empty, empty.iloc[:0], mem, mem_summary, verdict, diversity, glance)
