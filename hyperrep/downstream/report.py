"""A property report folder: the table, the plots, a summary and the command that made it.

Layout of ``out_dir``::

    results.csv            one row per feature set x predictor x property (and per property of
                           the supervised row "encoder · supervised", when asked): every metric
                           with its 95% interval over test models (<metric>_lo, <metric>_hi), seconds
    results.md             one Markdown table per metric, best per property in bold, each
                           value with its interval; the seconds of each cell and their sum
    summary.md             where the embedding wins, ties or loses against weight baselines
                           (paired bootstrap of the difference over the same test models); the
                           supervised row in its own section
    predictions.csv        test-model predictions behind the plots and the verdicts
    pred_vs_true_<p>.png   one figure per property
    embedding_pca.png      PCA of the embeddings coloured by test accuracy and epoch (several
                           architectures: of the pooled embeddings)
    command.txt            the command line (or Python call) that made the report
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from eo_tasks.data import SPLITS
from hyperrep.downstream.config import FineTune, PredictConfig
from hyperrep.downstream.evaluation import DownstreamData, Evaluation, asked, evaluate
from hyperrep.downstream.names import SUPERVISED, SUPERVISED_SET
from hyperrep.downstream.plots import plot_embedding_pca, plot_pred_vs_true
from hyperrep.downstream.registry import PREDICTOR_REGISTRY
from hyperrep.downstream.tables import results_markdown, summary_markdown

REPORT_FILES = ("results.csv", "results.md", "summary.md", "predictions.csv", "command.txt")


def check_out_dir(out_dir: str | Path, overwrite: bool) -> Path:
    """Refuse a report folder that is a file, or that holds a report unless ``overwrite``."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"report folder {out_dir} is a file")
    existing = [name for name in REPORT_FILES if (out_dir / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{out_dir} already holds a report ({existing[0]}); pass overwrite=True / --overwrite")
    return out_dir


def _prepare(out_dir: Path, overwrite: bool) -> Path:
    out_dir = check_out_dir(out_dir, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


FEW_TEST_MODELS = 10


def split_header(data: DownstreamData, evaluation: Evaluation, sources: dict[str, str] | None = None) -> str:
    lines = [f"- {k}: `{v}`" for k, v in (sources or {}).items()]
    counts = {s: len(data.models(s)) for s in SPLITS}
    lines.append(
        f"- split by model (id `{evaluation.split_id}`, shared by every feature set): "
        f"{counts['train']} train / {counts['val']} val / {counts['test']} test models, "
        f"{len(data.rows)} checkpoints"
    )
    test = data.models("test")
    if "name" in data.rows:
        names = data.rows.drop_duplicates("model").set_index("model")["name"]
        test = [f"{m} ({names[m]})" for m in test]
    lines.append(f"- test models: {', '.join(map(str, test))}")
    if counts["test"] < FEW_TEST_MODELS:
        # R^2 over a handful of models mostly measures how alike those models happen to be
        lines.append(f"- **only {counts['test']} test models: these figures are a smoke test, not an estimate**; "
                     f"a zoo of ~{10 * FEW_TEST_MODELS} models gives stable ones")
    ran = set(evaluation.results["predictor"])
    lines += [f"- {p.name}: {p.help}" for p in PREDICTOR_REGISTRY.values() if p.name in ran and not p.supervised]
    if evaluation.supervised is not None:
        lines.append(supervised_line(evaluation.supervised))
    lines.append(f"- intervals: 95% percentile bootstrap over the test models ({evaluation.resamples} resamples, "
                 f"seed {evaluation.seed}; a drawn model brings all its checkpoints)")
    fitted = evaluation.results["seconds"].dropna()
    lines.append(f"- cost: {len(fitted)} cells fitted in {evaluation.seconds:.1f} s wall-clock, {evaluation.jobs} "
                 f"at a time on {evaluation.threads} cores; the cells' own seconds add up to {fitted.sum():.1f} s "
                 "(see the table of seconds below)")
    return "\n".join(lines)


def supervised_line(ft: FineTune) -> str:
    return (f"- {SUPERVISED_SET} · {SUPERVISED}: **supervised, not a self-supervised embedding**: per property, a copy "
            "of the run's encoder with an MLP head on its pooled latents, trained together on the training models "
            f"(AdamW, head lr {ft.lr:g}, encoder lr {ft.lr * ft.encoder_lr_factor:g}, batches of {ft.batch_size}"
            f"{', augmented as the run trained' if ft.augment else ' without augmentation'}; at most {ft.epochs} epochs, the epoch that "
            f"scores best on the validation models kept, stopping after {ft.patience} without a better one); "
            "compared with the weight baselines apart in summary.md")


def write_report(
    data: DownstreamData,
    evaluation: Evaluation,
    out_dir: str | Path,
    command: str,
    sources: dict[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    out = _prepare(Path(out_dir), overwrite)
    evaluation.results.to_csv(out / "results.csv", index=False)
    evaluation.predictions.to_csv(out / "predictions.csv", index=False)
    header = split_header(data, evaluation, sources)
    (out / "results.md").write_text(results_markdown(evaluation.results, header, evaluation.notes))
    (out / "summary.md").write_text(summary_markdown(evaluation.results, evaluation.predictions,
                                                      resamples=evaluation.resamples, seed=evaluation.seed))
    for prop in evaluation.properties:
        plot_pred_vs_true(evaluation.predictions, evaluation.results, prop, out / f"pred_vs_true_{prop.name}.png")
    if data.embeddings is not None or data.pooled is not None:  # several architectures: the pooled ones
        plot_embedding_pca(data.embeddings if data.embeddings is not None else data.pooled, data.rows,
                           out / "embedding_pca.png")
    (out / "command.txt").write_text(command.rstrip("\n") + "\n")
    return out


def property_report(zoo_path: str | Path, run_dir: str | Path | None, out_dir: str | Path,
                    config: PredictConfig = PredictConfig(), *, overwrite: bool = False, command: str | None = None,
                    log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Predict every property of the zoo's checkpoints from every feature set with every
    predictor ``config`` asks for (by default the registry's default set); write the report
    folder (see the module docstring) and return the results table.

    ``run_dir`` is a trained hyper-representation run (None: weight baselines only); by
    default its own ``data.split_seed`` splits the models (``config.rows``), so the
    embedding's test models are models the hyper-representation never trained on.
    ``log``: see :func:`~hyperrep.downstream.evaluation.evaluate`.
    """
    from hyperrep.downstream.data import load_data

    check_out_dir(out_dir, overwrite)  # before minutes of fitting, not after
    feature_sets, predictors = asked(config)  # unknown names fail here, before the data is read
    data, sources = load_data(zoo_path, run_dir, config.rows)
    run = None
    if run_dir is not None and any(p.supervised for p in predictors):
        from hyperrep.run import HyperRep

        run = HyperRep.load(run_dir)  # on the CPU; fine-tuning moves its copy to the configured device
    evaluation = evaluate(data, config, run=run, log=log)
    if command is None:
        command = (f"# Python: hyperrep.downstream.property_report({str(zoo_path)!r}, "
                   f"{None if run_dir is None else str(run_dir)!r}, {str(out_dir)!r}, {config!r})\n"
                   f"# interpreter: {shlex.quote(sys.executable)}")
    write_report(data, evaluation, out_dir, command, sources, overwrite)
    return evaluation.results
