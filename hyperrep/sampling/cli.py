"""``hyperzoo sample`` (``hyperzoo sparsify``: :mod:`hyperrep.sparsify.cli`, which shares the
sampler options added here). Method, bandwidth and residual names come from the sampler
registry (:mod:`hyperrep.sampling.samplers`): a sampler registered there is a ``--method``."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path

from eo_tasks import (
    FINETUNE_EPOCHS, NON_NEGATIVE_INT, POSITIVE_INT, SEED, ConfigError, Interval, add_data_root_option,
    add_output_options, add_seed_option, add_zoo_option, check_options, option_error, refuse_existing,
)

from hyperrep.sampling import samplers

# the command-line flag of each SamplerConfig option a sampler may read
OPTION_FLAGS = {"bandwidth": "--bandwidth", "neighbour_scale": "--scale", "pca_components": "--pca-components",
                "pca_residual": "--pca-residual"}
THREADS_HELP = ("torch threads (default 0: torch's default, every core); 1 where another job shares the "
                "cores")
ARCH_HELP = ("the architecture to work on, where the zoo or the run has several: its index (the zoo's 'arch' "
             "column) or its fusion mode (single, early, early_blowup, late, late_shared); anchors and samples "
             "are models of that architecture")


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _no_log(line: str) -> None:
    pass


def _command(args: argparse.Namespace) -> str:
    return "hyperzoo " + shlex.join(getattr(args, "argv", sys.argv[1:]))


def _bandwidth(text: str) -> str | float:
    try:
        value = float(text)
    except ValueError:
        if text not in samplers.BANDWIDTHS:
            raise option_error("--bandwidth", f"one of {', '.join(samplers.BANDWIDTHS)} or a positive number",
                               text) from None
        return text
    if not (math.isfinite(value) and value > 0):
        raise option_error("--bandwidth", f"one of {', '.join(samplers.BANDWIDTHS)} or a positive number", text)
    return value


def sampler_config(args: argparse.Namespace) -> samplers.SamplerConfig:
    """The sampler options of ``args`` (added by :func:`add_sampler_options`)."""
    return samplers.SamplerConfig(bandwidth=_bandwidth(args.bandwidth), neighbour_scale=args.scale,
                                  pca_components=args.pca_components, pca_residual=args.pca_residual)


def sample_config(args: argparse.Namespace) -> object:
    """The :class:`~hyperrep.sampling.sample.SampleConfig` of ``args`` (``sample`` and ``sparsify``)."""
    from hyperrep.sampling.sample import SampleConfig

    return SampleConfig(method=args.method, n=args.n, anchors=args.anchors, select=args.select, seed=args.seed,
                        late=args.late, anchor_checkpoints=getattr(args, "anchor_checkpoints", 1),
                        sampler=sampler_config(args), residual=args.residual, min_novelty=args.min_novelty)


def method_help() -> str:
    """``--method``'s help: every registered sampler's line, with the options it reads."""
    lines = []
    for s in samplers.SAMPLER_REGISTRY.values():
        flags = ", ".join(OPTION_FLAGS[o] for o in s.options)
        lines.append(f"{s.name}: {s.help}" + (f" ({flags})" if flags else ""))
    return "; ".join(lines) + f" (docs/sampling.md; default: {samplers.DEFAULT_METHOD})"


def add_sampler_options(p: argparse.ArgumentParser) -> None:
    """--method and the options samplers read, --residual: the same for every command that samples."""
    p.add_argument("--method", default=samplers.DEFAULT_METHOD, choices=samplers.sampler_names(), help=method_help())
    p.add_argument("--bandwidth", default="silverman",
                   help=f"joint KDE bandwidth: {', '.join(samplers.BANDWIDTHS)} or a positive number")
    p.add_argument("--scale", type=float, default=samplers.DEFAULT_SCALE,
                   help=f"neighbour: the bandwidth in the anchors' per-dimension stds (default {samplers.DEFAULT_SCALE})")
    p.add_argument("--pca-components", type=int, default=0,
                   help="kde-pca: principal components k (default 0: min(anchors - 1, 16))")
    p.add_argument("--pca-residual", default="anchor", choices=samplers.PCA_RESIDUALS,
                   help="kde-pca: keep the drawn anchor's residual outside the k components, or drop it "
                        "(default anchor)")
    p.add_argument("--residual", default="none", choices=samplers.RESIDUALS,
                   help="what a draw adds to its decoded weights: none, or the decoding error of the anchor it was "
                        "drawn around (anchor - decode(embed(anchor))), so that the draw is the anchor moved by what "
                        "the decoder changes between the two embeddings; anchor needs one of "
                        f"{', '.join(samplers.residual_methods())} (default none)")


def add_draw_options(p: argparse.ArgumentParser) -> None:
    """What to draw and around which anchors, and where: the same for ``sample`` and ``sparsify``."""
    p.add_argument("--n", type=int, default=10, help="embeddings to draw (per sampled source; default 10)")
    p.add_argument("--anchors", type=float, default=0.3,
                   help="top-Q training models by validation accuracy (training accuracy where the zoo records no "
                        "validation accuracy): a count, or a fraction below 1, i.e. every training model at or "
                        "above that validation-accuracy quantile (default 0.3)")
    p.add_argument("--select", type=int, default=0,
                   help="keep the best K draws by validation accuracy (0: all; a zoo without task data, e.g. an "
                        "imported public zoo, keeps the first K)")
    p.add_argument("--late", type=float, default=0.25,
                   help="anchors' checkpoints come from the last fraction of epochs (default 0.25)")
    p.add_argument("--min-novelty", type=float, default=samplers.MIN_NOVELTY,
                   help="with --select: keep draws at least this fraction of the zoo's own model-to-model distance "
                        "(aligned, median over training models) from every training model before any nearer draw, "
                        f"whatever their accuracy; the report says how many kept draws meet it (default {samplers.MIN_NOVELTY}; "
                        "0: rank by validation accuracy alone)")
    add_seed_option(p)
    p.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    add_data_root_option(p)
    p.add_argument("--arch", default=None, help=ARCH_HELP)


def _check_sampling(args: argparse.Namespace) -> None:
    """The options ``sample`` and ``sparsify`` share."""
    check_options(args, {"n": POSITIVE_INT, "select": NON_NEGATIVE_INT, "seed": SEED, "min_novelty": Interval(0, None),
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


def run_sample(args: argparse.Namespace) -> int:
    check_sample_options(args)
    from eo_tasks.train import torch_threads

    with torch_threads(args.threads):
        return _sample(args)


def _sample(args: argparse.Namespace) -> int:
    from hyperrep.sampling.report import ReportConfig, sampling_report
    from hyperrep.sampling.sample import sample_models
    from hyperrep.sampling.write import write_sampled_zoo

    out = Path(args.out)
    report_dir = Path(args.report) if args.report else out.with_name(out.stem + "-report")
    refuse_existing(out, args.overwrite)
    if not args.no_report:
        refuse_existing(report_dir, args.overwrite, "--report")
    log = _no_log if args.quiet else _log
    log(f"[sample] drawing {args.n} models ({args.method}) from {args.run}")
    result = sample_models(args.zoo, args.run, sample_config(args), data_root=args.data_root, arch=args.arch)
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
        cfg = ReportConfig(finetune_epochs=args.finetune_epochs, finetune_models=args.finetune_models,
                           candidates=args.candidates, seed=args.seed)
        log(f"[sample] report: zero-shot and fine-tuned accuracy, memorisation -> {report_dir}")
        report = sampling_report(result, report_dir, cfg, command=_command(args))
        print(f"report: {report.out / 'summary.md'}")
        for line in report.verdict:
            print(f"  {line}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("sample", help="sample unseen models from a hyper-representation into a zoo file, with a report")
    add_zoo_option(s)
    s.add_argument("--run", required=True, help="hyperrep run folder (trained on --zoo)")
    s.add_argument("--out", required=True, help="sampled zoo HDF5 file to write")
    add_sampler_options(s)
    add_draw_options(s)
    s.add_argument("--anchor-checkpoints", type=int, default=1,
                   help="each anchor model's last K kept checkpoints within the --late window are anchors "
                        "(default 1: its best late checkpoint by validation accuracy)")
    s.add_argument("--report", default=None, help="report folder (default: OUT's name + '-report')")
    s.add_argument("--no-report", action="store_true", help="only write the sampled zoo")
    s.add_argument("--finetune-epochs", type=int, default=FINETUNE_EPOCHS,
                   help=f"report: fine-tuning epochs (default {FINETUNE_EPOCHS})")
    s.add_argument("--finetune-models", type=int, default=5,
                   help="report: models fine-tuned per source (default 5); each fine-tuned sample is also "
                        "compared with the anchor it was drawn around, fine-tuned alike")
    s.add_argument("--candidates", type=int, default=16,
                   help="report: training models aligned per generated model (nearest by plain/embedding distance)")
    add_output_options(s)
    s.set_defaults(func=run_sample)
