"""How much of a held-out model's function the autoencoder keeps: decode(embed(w)) against w.

Sampling draws embeddings and decodes them, with no residual by default, so what a sample can
do is bounded by what decoding keeps. This measures it on models the run never trained on:
each validation model's final checkpoint is scored on the task's validation images and each
test model's on the test images (a choice between runs reads the validation rows only), as
accuracy of w, accuracy of decode(embed(w)), their ratio (the retention) and the share of
images on which the two predict the same class (agreement). Every architecture of a run
over several is measured with its own models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hyperrep.downstream.bootstrap import percentile_interval

COLUMNS = ("arch", "model", "name", "split", "epoch", "acc", "recon_acc", "retention", "agreement",
           "rel_error")
SUMMARY_COLUMNS = ("split", "models", "retention", "retention_lo", "retention_hi", "share_90", "acc",
                   "recon_acc", "agreement", "rel_error")


def decoder_fidelity(zoo_path: str | Path, run_dir: str | Path, data_root: str | Path | None = None,
                     splits: tuple[str, ...] = ("val", "test"), max_models: int = 0, seed: int = 0,
                     progress=None) -> pd.DataFrame:
    """One row per held-out model (final checkpoint) of ``splits``: ``acc`` of w and
    ``recon_acc`` of decode(embed(w)) on that split's images, ``retention`` (their ratio),
    ``agreement`` (shared predicted labels) and ``rel_error`` (||decode(embed(w)) - w|| / ||w||).
    ``max_models`` > 0: a seeded subset of that many models per split and architecture."""
    from hyperrep.run import HyperRep
    from hyperrep.sampling.context import open_context
    from hyperrep.sampling.evaluate import Evaluator, agreement
    from hyperrep.sampling.sample import run_arch

    rep = HyperRep.load(run_dir, device="cpu")
    data = rep.config.data
    rows = []
    evaluators: dict = {}
    for layout in (rep.layouts[a] for a in rep.archs):
        ctx = open_context(zoo_path, split_seed=data.split_seed, status=tuple(data.status), data_root=data_root,
                           layout=layout)
        a = run_arch(rep, ctx)
        last = int(np.max(ctx.epochs))
        for split in splits:
            models = np.sort(ctx.splits[split])
            if max_models and len(models) > max_models:
                models = np.sort(np.random.default_rng(seed).choice(models, max_models, replace=False))
            if len(models) == 0:
                continue
            specs = [ctx.specs[int(m)] for m in models]
            w = ctx.weights_many(models, np.full(len(models), last))
            recon = rep.reconstruct(w, arch=a, spec=specs)
            for i, m in enumerate(models):
                key = specs[i].for_eval()
                if key not in evaluators:
                    evaluators[key] = Evaluator(specs[i], ctx.data)
                ev = evaluators[key]
                acc = ev.metrics(w[i], (split,))[f"{split}_acc"]
                racc = ev.metrics(recon[i], (split,))[f"{split}_acc"]
                agree = agreement(ev.predictions(w[i], split), ev.predictions(recon[i], split))
                rows.append({"arch": ctx.arch, "model": int(m), "name": ctx.name(m), "split": split,
                             "epoch": last, "acc": acc, "recon_acc": racc,
                             "retention": racc / acc if acc > 0 else float("nan"), "agreement": agree,
                             "rel_error": float(np.linalg.norm(recon[i] - w[i]) / max(np.linalg.norm(w[i]), 1e-12))})
            if progress:
                done = [r for r in rows if r["arch"] == ctx.arch and r["split"] == split]
                progress(f"[fidelity] arch {ctx.arch} {split}: {len(done)} models, mean retention "
                         f"{np.nanmean([r['retention'] for r in done]):.3f}")
    return pd.DataFrame(rows, columns=list(COLUMNS))


def fidelity_summary(rows: pd.DataFrame, resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per split: mean retention with a 95% bootstrap interval over models, the share of
    models keeping at least 90% of their accuracy, and the means of the other columns."""
    out = []
    rng = np.random.default_rng(seed)
    for split, g in rows.groupby("split", sort=False):
        r = g["retention"].to_numpy(dtype=float)
        r = r[np.isfinite(r)]
        boots = [rng.choice(r, len(r)).mean() for _ in range(resamples)] if len(r) else [np.nan]
        lo, hi = percentile_interval(np.asarray(boots))
        out.append({"split": split, "models": len(g), "retention": float(np.mean(r)) if len(r) else np.nan,
                    "retention_lo": lo, "retention_hi": hi, "share_90": float(np.mean(r >= 0.9)) if len(r) else np.nan,
                    "acc": g["acc"].mean(), "recon_acc": g["recon_acc"].mean(),
                    "agreement": g["agreement"].mean(), "rel_error": g["rel_error"].mean()})
    return pd.DataFrame(out, columns=list(SUMMARY_COLUMNS))
