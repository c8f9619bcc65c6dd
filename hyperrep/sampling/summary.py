"""The sampling report's Markdown: summary.md (the at-a-glance lines, the tables, the
memorisation verdict) and memorisation.md, from what :mod:`hyperrep.sampling.report`
measured. Nothing is computed here but text."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hyperrep.sampling.finetune import MIN_ANCHORS
from hyperrep.sampling.plots import markdown_table
from hyperrep.sampling.sample import SampleResult, run_arch

if TYPE_CHECKING:
    from hyperrep.sampling.report import ReportConfig


def headline(zero_shot: pd.DataFrame | None, mem_summary: pd.DataFrame, spacing: float,
             zoo_acc: np.ndarray | None = None) -> tuple[str, dict]:
    """The report's first sentence and its figures (``headline.csv``): novelty first, then
    accuracy. Samples that are not more novel than both copy-like baselines are called
    near-copies of the anchors before any accuracy figure is given. ``zoo_acc``: the final test
    accuracies of the zoo's training models of this architecture, which the best and median
    sample are set against (the zoo's best and its 75th percentile)."""
    from hyperrep.sampling.memorisation import novel_against_baselines

    by = mem_summary.set_index("source")
    s = by.loc["sampled"] if "sampled" in by.index else pd.Series(dtype=float)
    dist, agree = float(s.get("dist_weight_aligned", np.nan)), float(s.get("agreement", np.nan))
    rel = dist / spacing if spacing and np.isfinite(spacing) else float("nan")
    answer = novel_against_baselines(mem_summary)
    acc = None if zero_shot is None else zero_shot.loc[zero_shot["source"] == "sampled", "test_acc"]
    figures = {"novel_against_baselines": answer or "not measured", "nearest_distance": dist,
               "zoo_spacing": spacing, "relative_to_zoo": rel, "agreement": agree,
               "best": float(acc.max()) if acc is not None and len(acc) else float("nan"),
               "median": float(acc.median()) if acc is not None and len(acc) else float("nan")}
    where = (f"their nearest training model is {rel:.0%} of the zoo's own model-to-model distance away "
             f"(aligned {dist:.3g} against {spacing:.3g})")
    if np.isfinite(agree):
        where += f", sharing {agree:.0%} of its test predictions"
    if answer is None:
        lead = f"**Novelty against the copy-like baselines not measured.** The kept samples: {where}."
    elif answer != "yes":
        lead = (f"**Near-copies of the anchors.** The kept samples are not more novel than both copy-like "
                f"baselines ({answer}): {where}.")
    else:
        lead = f"**Samples more novel than both copy-like baselines.** The kept samples: {where}."
    zoo_acc = np.asarray([] if zoo_acc is None else zoo_acc, dtype=float)
    zoo_acc = zoo_acc[np.isfinite(zoo_acc)]
    figures["zoo_best"] = float(zoo_acc.max()) if len(zoo_acc) else float("nan")
    figures["zoo_q75"] = float(np.quantile(zoo_acc, 0.75)) if len(zoo_acc) else float("nan")
    if acc is not None and len(acc):
        lead += f" Zero-shot test accuracy: best {figures['best']:.3f}, median {figures['median']:.3f}"
        if len(zoo_acc):
            lead += (f" (the zoo's training models: best {figures['zoo_best']:.3f}, 75th percentile "
                     f"{figures['zoo_q75']:.3f}; best sample {figures['best'] / figures['zoo_best']:.0%} of the zoo's best)")
        lead += "."
    return lead, figures


def memorisation_md(summary: pd.DataFrame, verdict: list[str], cfg: ReportConfig, measured: bool = True) -> str:
    what = (
        "Per generated model: the nearest training-split zoo model (final checkpoint) in weight space after "
        "permutation alignment (weight matching over the layout's symmetry groups; the plain distance to that "
        "model is given for reference), the nearest one in embedding space"
    )
    if measured:
        what += (
            ", and the fraction of test predictions it shares with its weight-space nearest model. Baselines are "
            "made to match the sampled models' mean validation accuracy: `anchor+noise` (per-tensor Gaussian "
            "noise of sigma times the tensor's std) and `anchor-average` ((1-t)·a + t·b for two anchors, b "
            "aligned to a; t = 0.5 is their average, the largest t allowed)."
        )
    else:
        what += (
            ". Without task data there are no test predictions to compare (`agreement` and `test_acc` are "
            "empty) and no copy-like baselines (they are matched to the sampled models' validation accuracy)."
        )
    return "\n".join([
        "## Memorisation check",
        "",
        what + f" Alignment candidates per model: {cfg.candidates} nearest by plain and by embedding distance.",
        "",
        markdown_table(summary),
        "",
        *[f"- {line}" for line in verdict],
        "",
    ])


def diversity_md(diversity: pd.DataFrame, cfg: ReportConfig) -> list[str]:
    return [
        "## Diversity",
        "",
        "Mean pairwise weight distance after permutation alignment among the kept samples and among the "
        f"anchors (at most {cfg.diversity_models} models per source, a seeded subset when more; "
        "`rel_dist_aligned` is relative to the mean model norm). Samples much closer to each other than the "
        "anchors are have collapsed.",
        "",
        markdown_table(diversity),
        "",
    ]


def arch_lines(result: SampleResult) -> list[str]:
    """Which architecture was sampled, where the zoo or the run has several (issue 14)."""
    ctx = result.context
    if run_arch(result.rep, ctx) is None and ctx.table["arch"].nunique() < 2:
        return []
    return [f"- architecture {ctx.arch} of the zoo, fusion mode `{ctx.mode}` "
            f"({ctx.layout.num_params} parameters): anchors, samples, reconstructions, random inits, baselines "
            "and the training models they are compared with are all models of this architecture"]


def floor_lines(result: SampleResult) -> list[str]:
    """The novelty floor's line: how many kept draws meet it (or that there was none)."""
    c = result.config
    if result.novelty is None:
        return ["- no novelty floor (`--min-novelty 0`): draws were ranked by validation accuracy alone"]
    d = result.drawn
    kept = d[d["kept"]]
    meet = int((kept["novelty"] >= c.min_novelty).sum())
    return [f"- novelty floor {c.min_novelty:g} of the zoo's model-to-model distance (aligned {result.novelty.spacing:.3g}): "
            f"{int((d['novelty'] >= c.min_novelty).sum())} of {len(d)} draws at or above it; "
            f"{meet} of {len(kept)} kept draws meet it"
            + ("" if meet == len(kept) else " (the rest are the most accurate of the nearer draws)")]


def summary_md(result: SampleResult, zero_shot: pd.DataFrame | None, ft: pd.DataFrame, mem_md: str,
                cfg: ReportConfig, diversity: pd.DataFrame, glance: list[str],
                paired: pd.DataFrame | None = None, lead: str = "") -> str:
    """``zero_shot`` None: the zoo has no task data, nothing was measured on it."""
    c = result.config
    by = {"val_acc": "validation accuracy", "train_acc": "training accuracy"}.get(result.anchors_by,
                                                                                 result.anchors_by)
    kept = ""
    if c.select:
        kept = (f" (best {c.select} by validation accuracy)" if zero_shot is not None else
                f" (the first {c.select} draws: without task data draws cannot be ranked by validation accuracy)")
    lines = [f"# Sampling report: {c.method}", "", *([lead, ""] if lead else [])]
    if zero_shot is None:
        lines += [
            f"**Accuracies not measured: {result.context.no_data}.** Zero-shot accuracy, fine-tuning, the "
            "selection of draws by validation accuracy, prediction agreement and the accuracy-matched "
            "baselines all need the task's images; only the weight-space parts below (diversity, distances to "
            "the nearest training models) were computed. The sampled zoo's metrics are empty (NaN).",
            "",
        ]
    lines += arch_lines(result) + [
        f"- zoo: `{result.context.path}`, hyperrep run: `{result.run_dir}`",
        f"- method `{c.method}` ({c.sampler}), seed {c.seed}; drew {result.n_drawn}, kept {len(result.names)}"
        + kept,
        *(floor_lines(result) if c.select else []),
        *([f"- residual `anchor`: each draw is decode(z) + (anchor - decode(embed(anchor))) for the anchor it was "
           "drawn around, i.e. that anchor moved by what the decoder changes between the two embeddings"]
          if c.residual == "anchor" else []),
        f"- anchors: {len(result.distinct_anchors)} training-split models, "
        + (f"their last {c.anchor_checkpoints} checkpoints each ({len(result.anchors)} anchors) in the late window "
           f"(last {c.late:.0%} of epochs), ranked" if c.anchor_checkpoints > 1 else
           f"best late checkpoint (last {c.late:.0%} of epochs)")
        + f" by the {by} the zoo records: " + ", ".join(
            f"{n}@{e} ({a:.3f})" for n, e, a in zip(result.anchors["name"], result.anchors["epoch"],
                                                   result.anchors["score"])),
        "- the model family has no batch normalisation: decoded weights are complete models, "
        "no statistics were re-estimated",
        "",
        "## At a glance",
        "",
        *[f"- {line}" for line in glance],
        "",
        *(["![accuracy against novelty](novelty.png)", ""] if zero_shot is not None else []),
    ]
    if zero_shot is not None:
        zs = zero_shot.groupby("source", sort=False)["test_acc"].agg(["count", "mean", "std", "min", "max"])
        lines += [
            "## Zero-shot test accuracy",
            "",
            markdown_table(zs.reset_index()),
            "",
            "`anchor reconstructed` is decode(embed(anchor)): what the autoencoder keeps of an anchor, a rough "
            "ceiling for models sampled around the anchors. `random init` uses the family's own initialisation.",
            "",
            "![zero-shot histogram](zero_shot_hist.png)",
            "",
        ]
    if len(ft):
        wide = ft.pivot(index="epoch", columns="source", values="mean").reset_index()
        lines += [f"## Fine-tuning ({cfg.finetune_epochs} epoch{'s' * (cfg.finetune_epochs != 1)}, up to "
                  f"{cfg.finetune_models} models per source)",
                  "", "Mean test accuracy per epoch (epoch 0: before fine-tuning).", "",
                  markdown_table(wide), "", "![fine-tuning curves](finetune.png)", ""]
        if paired is not None and len(paired):
            show = paired.assign(interval=[f"[{lo:+.3f}, {hi:+.3f}]" if np.isfinite(lo) else "n/a"
                                           for lo, hi in zip(paired["lo"], paired["hi"])],
                                 gain=[f"{g:+.3f}" for g in paired["gain"]])
            lines += ["Each fine-tuned sample against the anchor it was drawn around (`own anchor`), fine-tuned "
                      "with the same recipe and seed: mean test-accuracy difference sampled - own anchor, with a "
                      "95% bootstrap interval that resamples anchors (samples around one anchor are not "
                      f"independent; none with fewer than {MIN_ANCHORS} anchors).", "",
                      markdown_table(show[["epoch", "pairs", "anchors", "gain", "interval"]]
                                     .rename(columns={"gain": "sampled - own anchor"})), "",
                      "![sampled - own anchor](finetune_paired.png)", ""]
    lines += diversity_md(diversity, cfg)
    lines.append(mem_md)
    return "\n".join(lines)
