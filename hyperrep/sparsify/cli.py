"""``hyperzoo sparsify``: accuracy-vs-sparsity curves (:mod:`hyperrep.sparsify.run`). Its
sampling options are ``hyperzoo sample``'s (:func:`hyperrep.sampling.cli.add_sampler_options`)."""

from __future__ import annotations

import argparse
import sys

from eo_tasks import (
    FINETUNE_EPOCHS, NON_NEGATIVE_INT, POSITIVE_INT, ConfigError, Interval, add_output_options, add_zoo_option,
    check_options, option_error, refuse_existing,
)
from eo_tasks.train import KEEPS, SCHEDULES, SCOPES

from hyperrep.sampling.cli import (
    _bandwidth, _check_sampling, _command, add_draw_options, add_sampler_options, sample_config,
)


def check_sparsify_options(args: argparse.Namespace) -> None:
    """Every option of ``hyperzoo sparsify`` that argparse cannot check, before any file is read."""
    from hyperrep.sparsify.curves import parse_ratios

    _check_sampling(args)
    check_options(args, {"robust_shift": Interval(), "max_models": NON_NEGATIVE_INT, "scale": Interval(0, None),
                         "drop": Interval(0, 1, closed="neither"), "steps": POSITIVE_INT,
                         "step_epochs": NON_NEGATIVE_INT, "protect": Interval(0, 1),
                         "finetune_subset": NON_NEGATIVE_INT, "lr_scale": Interval(0, None, closed="neither"),
                         "distill": Interval(0, 1), "pca_components": NON_NEGATIVE_INT})
    _bandwidth(args.bandwidth)
    try:
        parse_ratios(args.ratios)
    except ConfigError:
        raise option_error("--ratios", "comma-separated pruning ratios in [0, 1)", args.ratios) from None
    if args.robust_shift and args.run is None:
        raise ConfigError("--robust-shift: moves robust-sampled models, which need --run")
    refuse_existing(args.out, args.overwrite)


def run_sparsify(args: argparse.Namespace) -> int:
    check_sparsify_options(args)
    from eo_tasks.train import torch_threads

    with torch_threads(args.threads):
        return _sparsify(args)


def curve_config(args: argparse.Namespace):
    """The :class:`~hyperrep.sparsify.run.CurveConfig` of ``args``."""
    from eo_tasks.train import PruneConfig
    from hyperrep.sparsify.curves import parse_ratios
    from hyperrep.sparsify.run import CurveConfig

    prune = PruneConfig(scope=args.scope, schedule=args.schedule, steps=args.steps, step_epochs=args.step_epochs,
                        finetune_epochs=args.finetune_epochs, protect=args.protect, keep=args.keep,
                        lr_scale=args.lr_scale, distill=args.distill)
    return CurveConfig(prune=prune, sample=sample_config(args), ratios=parse_ratios(args.ratios),
                       finetune_subset=args.finetune_subset, robust_shift=args.robust_shift,
                       max_models=args.max_models, drop=args.drop)


def _sparsify(args: argparse.Namespace) -> int:
    from hyperrep.sparsify.curves import format_drop
    from hyperrep.sparsify.run import sparsity_curves

    result = sparsity_curves(args.zoo, args.out, run_dir=args.run, sampled_path=args.sampled,
                             config=curve_config(args), data_root=args.data_root, command=_command(args),
                             arch=args.arch,
                             log=None if args.quiet else lambda line: print(line, file=sys.stderr, flush=True))
    for row in result.drops.itertuples():
        print(f"  {row.source:<15} dense {row.dense_acc:.4f}  at {row.max_ratio:g}: {row.acc_at_max_ratio:.4f}  "
              f"drops by {args.drop:g} at sparsity {format_drop(row.drop_sparsity, row.drop_lo, row.drop_hi)} "
              f"({row.models} models; 95% interval over them)")
    print(f"curves: {result.out / 'curves.csv'}, plot: {result.out / 'curves.png'}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sparsify", help="accuracy-vs-sparsity curves of trained, sampled and robust-sampled models")
    add_zoo_option(p)
    p.add_argument("--run", default=None, help="hyperrep run: twin prediction, sampled and robust-sampled models")
    p.add_argument("--sampled", default=None, help="a sampled zoo (hyperzoo sample) to prune as 'sampled'")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--ratios", default="0.5,0.7,0.9", help="pruning ratios, comma-separated (0 is always added)")
    p.add_argument("--scope", default="global", choices=SCOPES,
                   help="global: smallest magnitudes over all layers; layer: the same fraction per layer; lamp: "
                        "smallest LAMP scores (Lee et al. 2021), magnitude relative to the layer (default global)")
    p.add_argument("--finetune-epochs", type=int, default=FINETUNE_EPOCHS,
                   help=f"masked fine-tune epochs at the final ratio (default {FINETUNE_EPOCHS})")
    p.add_argument("--schedule", default="oneshot", choices=SCHEDULES,
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
    p.add_argument("--keep", default="last", choices=KEEPS,
                   help="the twin: the final fine-tune's last epoch, or its epoch with the best validation accuracy "
                        "(default last)")
    p.add_argument("--lr-scale", type=float, default=1.0,
                   help="fine-tune at this multiple of the zoo recipe's learning rate (default 1)")
    p.add_argument("--distill", type=float, default=0.0,
                   help="weight in [0, 1] of a distillation loss (temperature 2) in every pruned twin's fine-tune, "
                        "the teacher being its model's dense reference: the same fine-tune without pruning "
                        "(default 0: labels only)")
    add_sampler_options(p)
    add_draw_options(p)
    p.add_argument("--robust-shift", type=float, default=0.0,
                   help="move robust draws this many anchor spreads along the predicted-robustness direction")
    p.add_argument("--max-models", type=int, default=0, help="models pruned per source (0: all)")
    p.add_argument("--drop", type=float, default=0.02, help="accuracy drop that defines the breaking sparsity")
    add_output_options(p)
    p.set_defaults(func=run_sparsify)
