"""``hyperzoo sample`` and ``hyperzoo sparsify``."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path

from eo_tasks.config import ConfigError
from eo_tasks.options import NON_NEGATIVE_INT, POSITIVE_INT, SEED, Interval, check_options, option_error

BANDWIDTHS = ("scott", "silverman", "cv")  # kde.BANDWIDTHS, without importing numpy here
RESIDUALS = ("none", "anchor")  # sample.RESIDUALS, without importing numpy here
RESIDUAL_HELP = ("what a draw adds to its decoded weights: none, or the decoding error of the anchor it was drawn "
                 "around (anchor - decode(embed(anchor))), so that the draw is the anchor moved by what the decoder "
                 "changes between the two embeddings; anchor needs kde, neighbour or kde-pca (default none)")
THREADS_HELP = ("torch threads (default 0: torch's default, every core); 1 where another job shares the "
                "cores")
ARCH_HELP = ("the architecture to work on, where the zoo or the run has several: its index (the zoo's 'arch' "
             "column) or its fusion mode (single, early, early_blowup, late, late_shared); anchors and samples "
             "are models of that architecture")


def _command(args: argparse.Namespace) -> str:
    return "hyperzoo " + shlex.join(getattr(args, "argv", sys.argv[1:]))


def _bandwidth(text: str) -> str | float:
    try:
        value = float(text)
    except ValueError:
        if text not in BANDWIDTHS:
            raise option_error("--bandwidth", f"one of {', '.join(BANDWIDTHS)} or a positive number", text) from None
        return text
    if not (math.isfinite(value) and value > 0):
        raise option_error("--bandwidth", f"one of {', '.join(BANDWIDTHS)} or a positive number", text)
    return value


def _check_sampling(args: argparse.Namespace) -> None:
    """The options ``sample`` and ``sparsify`` share."""
    check_options(args, {"n": POSITIVE_INT, "select": NON_NEGATIVE_INT, "seed": SEED,
                         "finetune_epochs": NON_NEGATIVE_INT, "threads": NON_NEGATIVE_INT})
    q = args.anchors
    if not (0 < q < 1 or (q >= 2 and float(q).is_integer())):
        raise option_error("--anchors", "a fraction in (0, 1) or a whole count >= 2 of training models", q)
    if args.select > args.n:
        raise ConfigError(f"--select: expected at most --n ({args.n}) draws to keep, got {args.select}")


def check_sample_options(args: argparse.Namespace) -> None:
    """Every option of ``hyperzoo sample`` that argparse cannot check, before any file is read."""
    _check_sampling(args)
    check_options(args, {"late": Interval(0, 1, closed="right"), "scale": Interval(0, None),
                         "finetune_models": NON_NEGATIVE_INT, "candidates": POSITIVE_INT,
                         "anchor_checkpoints": POSITIVE_INT, "pca_components": NON_NEGATIVE_INT})
    _bandwidth(args.bandwidth)


def check_sparsify_options(args: argparse.Namespace) -> None:
    """Every option of ``hyperzoo sparsify`` that argparse cannot check, before any file is read."""
    from hyperrep.sparsify.curves import parse_ratios

    _check_sampling(args)
    check_options(args, {"robust_shift": Interval(), "max_models": NON_NEGATIVE_INT, "scale": Interval(0, None),
                         "drop": Interval(0, 1, closed="neither"), "steps": POSITIVE_INT,
                         "step_epochs": NON_NEGATIVE_INT, "protect": Interval(0, 1),
                         "finetune_subset": NON_NEGATIVE_INT, "lr_scale": Interval(0, None, closed="neither"),
                         "distill": Interval(0, 1)})
    try:
        parse_ratios(args.ratios)
    except ConfigError:
        raise option_error("--ratios", "comma-separated pruning ratios in [0, 1)", args.ratios) from None
    if args.robust_shift and args.run is None:
        raise ConfigError("--robust-shift: moves robust-sampled models, which need --run")


def run_sample(args: argparse.Namespace) -> int:
    check_sample_options(args)
    from eo_tasks.train.loop import torch_threads

    with torch_threads(args.threads):
        return _sample(args)


def _sample(args: argparse.Namespace) -> int:
    from hyperrep.sampling.kde import SamplerConfig
    from hyperrep.sampling.report import ReportConfig, sampling_report
    from hyperrep.sampling.sample import sample_models
    from hyperrep.sampling.write import write_sampled_zoo

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    sampler = SamplerConfig(bandwidth=_bandwidth(args.bandwidth), neighbour_scale=args.scale,
                            pca_components=args.pca_components, pca_residual=args.pca_residual)
    result = sample_models(args.zoo, args.run, args.method, args.n, args.anchors, args.select, args.seed,
                           sampler=sampler, late=args.late, data_root=args.data_root, arch=args.arch,
                           anchor_checkpoints=args.anchor_checkpoints, residual=args.residual)
    write_sampled_zoo(result, out, overwrite=args.overwrite)
    s = result.scores
    if result.measured:
        print(f"{out}: {len(result.names)} sampled models ({args.method}, drew {result.n_drawn}); zero-shot "
              f"test_acc mean {s['test_acc'].mean():.4f} (anchors {result.anchors['test_acc'].mean():.4f})")
    else:
        kept = f", the first {args.select} kept (draws cannot be ranked without task data)" if args.select else ""
        print(f"{out}: {len(result.names)} sampled models ({args.method}, drew {result.n_drawn}{kept}); "
              f"accuracies not measured: {result.context.no_data}")
    if not args.no_report:
        report_dir = Path(args.report) if args.report else out.with_name(out.stem + "-report")
        cfg = ReportConfig(finetune_epochs=args.finetune_epochs, finetune_models=args.finetune_models,
                           candidates=args.candidates, seed=args.seed)
        report = sampling_report(result, report_dir, cfg, command=_command(args))
        print(f"report: {report.out / 'summary.md'}")
        for line in report.verdict:
            print(f"  {line}")
    return 0


def run_sparsify(args: argparse.Namespace) -> int:
    check_sparsify_options(args)
    from eo_tasks.train.loop import torch_threads

    with torch_threads(args.threads):
        return _sparsify(args)


def _sparsify(args: argparse.Namespace) -> int:
    from hyperrep.sparsify.curves import format_drop, parse_ratios
    from hyperrep.sparsify.run import CurveConfig, sparsity_curves

    cfg = CurveConfig(
        ratios=parse_ratios(args.ratios), scope=args.scope, finetune_epochs=args.finetune_epochs,
        schedule=args.schedule, steps=args.steps, step_epochs=args.step_epochs, protect=args.protect,
        finetune_subset=args.finetune_subset, keep=args.keep, lr_scale=args.lr_scale, distill=args.distill,
        anchors=args.anchors, method=args.method, n=args.n, select=args.select, seed=args.seed,
        robust_shift=args.robust_shift, max_models=args.max_models, drop=args.drop,
        pca_components=args.pca_components, residual=args.residual, scale=args.scale,
    )
    result = sparsity_curves(args.zoo, args.out, run_dir=args.run, sampled_path=args.sampled, config=cfg,
                             data_root=args.data_root, command=_command(args), arch=args.arch,
                             log=lambda line: print(line, file=sys.stderr, flush=True))
    for row in result.drops.itertuples():
        print(f"  {row.source:<15} dense {row.dense_acc:.4f}  at {row.max_ratio:g}: {row.acc_at_max_ratio:.4f}  "
              f"drops by {args.drop:g} at sparsity {format_drop(row.drop_sparsity, row.drop_lo, row.drop_hi)} "
              f"({row.models} models; 95% interval over them)")
    print(f"curves: {result.out / 'curves.csv'}, plot: {result.out / 'curves.png'}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    from_methods = ("kde", "kde-dim", "neighbour", "uniform")  # kde.METHODS, without importing numpy here

    s = sub.add_parser("sample", help="sample unseen models from a hyper-representation into a zoo file, with a report")
    s.add_argument("--zoo", required=True, help="the zoo the hyperrep run was trained on")
    s.add_argument("--run", required=True, help="hyperrep run folder")
    s.add_argument("--out", required=True, help="sampled zoo HDF5 file to write")
    s.add_argument("--method", default="kde", choices=from_methods + ("kde-layer", "kde-pca"),
                   help="kde: joint KDE; kde-dim: per-dimension KDE; neighbour: Gaussian around an anchor; "
                        "uniform: the anchors' bounding box; kde-layer: a joint KDE per layer's block of token "
                        "latents, layers independently; kde-pca: a joint KDE in the anchors' top principal "
                        "components (docs/sampling.md; default: kde)")
    s.add_argument("--n", type=int, default=10, help="embeddings to draw (default 10)")
    s.add_argument("--anchors", type=float, default=0.3,
                   help="top-Q training models by validation accuracy (training accuracy where the zoo records no "
                        "validation accuracy): a count, or a fraction below 1, i.e. every training model at or "
                        "above that validation-accuracy quantile (default 0.3)")
    s.add_argument("--anchor-checkpoints", type=int, default=1,
                   help="each anchor model's last K kept checkpoints within the --late window are anchors "
                        "(default 1: its best late checkpoint by validation accuracy)")
    s.add_argument("--select", type=int, default=0,
                   help="keep the best K draws by validation accuracy (0: all; a zoo without task data, e.g. an "
                        "imported public zoo, keeps the first K)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    s.add_argument("--late", type=float, default=0.25,
                   help="anchors' checkpoints come from the last fraction of epochs (default 0.25)")
    s.add_argument("--bandwidth", default="silverman",
                   help="joint KDE bandwidth: scott, silverman, cv or a positive number")
    s.add_argument("--scale", type=float, default=0.2, help="neighbour: noise as a fraction of the anchors' std")
    s.add_argument("--pca-components", type=int, default=0,
                   help="kde-pca: principal components k (default 0: min(anchors - 1, 16))")
    s.add_argument("--pca-residual", default="anchor", choices=("anchor", "drop"),
                   help="kde-pca: keep the drawn anchor's residual outside the k components, or drop it "
                        "(default anchor)")
    s.add_argument("--residual", default="none", choices=RESIDUALS, help=RESIDUAL_HELP)
    s.add_argument("--data-root", default=None, help="dataset folder, if not where the zoo was made")
    s.add_argument("--arch", default=None, help=ARCH_HELP)
    s.add_argument("--report", default=None, help="report folder (default: OUT's name + '-report')")
    s.add_argument("--no-report", action="store_true", help="only write the sampled zoo")
    s.add_argument("--finetune-epochs", type=int, default=3, help="report: fine-tuning epochs (default 3)")
    s.add_argument("--finetune-models", type=int, default=5,
                   help="report: models fine-tuned per source (default 5); each fine-tuned sample is also "
                        "compared with the anchor it was drawn around, fine-tuned alike")
    s.add_argument("--candidates", type=int, default=16,
                   help="report: training models aligned per generated model (nearest by plain/embedding distance)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    s.set_defaults(func=run_sample)

    p = sub.add_parser("sparsify", help="accuracy-vs-sparsity curves of trained, sampled and robust-sampled models")
    p.add_argument("--zoo", required=True, help="zoo HDF5 file")
    p.add_argument("--run", default=None, help="hyperrep run: twin prediction, sampled and robust-sampled models")
    p.add_argument("--sampled", default=None, help="a sampled zoo (hyperzoo sample) to prune as 'sampled'")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--ratios", default="0.5,0.7,0.9", help="pruning ratios, comma-separated (0 is always added)")
    p.add_argument("--scope", default="global", choices=("global", "layer", "lamp"),
                   help="global: smallest magnitudes over all layers; layer: the same fraction per layer; lamp: "
                        "smallest LAMP scores (Lee et al. 2021), magnitude relative to the layer (default global)")
    p.add_argument("--finetune-epochs", type=int, default=1,
                   help="masked fine-tune epochs at the final ratio (default 1)")
    p.add_argument("--schedule", default="oneshot", choices=("oneshot", "gradual"),
                   help="oneshot: prune to the ratio at once; gradual: in --steps cubic steps (Zhu & Gupta) with "
                        "--step-epochs masked epochs after each but the last (default oneshot)")
    p.add_argument("--steps", type=int, default=3, help="gradual: pruning steps (default 3)")
    p.add_argument("--step-epochs", type=int, default=1,
                   help="gradual: masked fine-tune epochs after each step but the last (default 1)")
    p.add_argument("--protect", type=float, default=1.0,
                   help="most fraction of weights the input convs and the output layer may lose; what they keep "
                        "goes from the other layers (default 1: no cap)")
    p.add_argument("--finetune-subset", type=int, default=0,
                   help="fine-tune on a seeded subset of this many training images, the same for every model "
                        "(default 0: the whole train split)")
    p.add_argument("--keep", default="last", choices=("last", "best-val"),
                   help="the twin: the final fine-tune's last epoch, or its epoch with the best validation accuracy "
                        "(default last)")
    p.add_argument("--lr-scale", type=float, default=1.0,
                   help="fine-tune at this multiple of the zoo recipe's learning rate (default 1)")
    p.add_argument("--distill", type=float, default=0.0,
                   help="weight in [0, 1] of a distillation loss (temperature 2) in every pruned twin's fine-tune, "
                        "the teacher being its model's dense reference: the same fine-tune without pruning "
                        "(default 0: labels only)")
    p.add_argument("--anchors", type=float, default=0.3, help="top-Q training models (count, or fraction below 1)")
    p.add_argument("--method", default="kde", choices=from_methods + ("kde-layer", "kde-pca"),
                   help="sampling method (with --run)")
    p.add_argument("--pca-components", type=int, default=0,
                   help="kde-pca: principal components of the anchors (0: min(anchors - 1, 16))")
    p.add_argument("--residual", default="none", choices=RESIDUALS, help=RESIDUAL_HELP)
    p.add_argument("--scale", type=float, default=0.2, help="neighbour: noise as a fraction of the anchors' std")
    p.add_argument("--n", type=int, default=10, help="embeddings drawn per sampled source (with --run)")
    p.add_argument("--select", type=int, default=0, help="keep the best K draws by validation accuracy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    p.add_argument("--robust-shift", type=float, default=0.0,
                   help="move robust draws this many anchor spreads along the predicted-robustness direction")
    p.add_argument("--max-models", type=int, default=0, help="models pruned per source (0: all)")
    p.add_argument("--drop", type=float, default=0.02, help="accuracy drop that defines the breaking sparsity")
    p.add_argument("--data-root", default=None, help="dataset folder, if not where the zoo was made")
    p.add_argument("--arch", default=None, help=ARCH_HELP)
    p.set_defaults(func=run_sparsify)
