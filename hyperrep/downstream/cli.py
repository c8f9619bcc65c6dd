"""``hyperzoo predict``: how well a zoo's properties can be read from its weights."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from eo_tasks import (
    NON_NEGATIVE_INT, POSITIVE_INT, SEED, ConfigError, add_data_root_option, add_output_options, add_zoo_option,
    check_options,
)


def command_line(args: argparse.Namespace) -> str:
    """The ``hyperzoo predict`` command that reproduces ``args``, every option spelled out
    (so a later change of a default does not change what the report's command means),
    and the working directory its relative paths are relative to."""
    argv = ["hyperzoo", "predict", "--zoo", str(args.zoo)]
    argv += ["--run", str(args.run)] if args.run is not None else ["--no-run"]
    if args.protocol:
        argv += ["--protocol", args.protocol]  # what it set is spelled out below
    argv += ["--out", str(args.out), "--features", *args.features, "--predictors", *args.predictors]
    if args.properties:
        argv += ["--properties", *args.properties]
    if args.probes:
        argv += ["--probes", str(args.probes), "--probe-source", args.probe_source, "--probe-seed",
                 str(args.probe_seed)]
    if args.data_root:
        argv += ["--data-root", str(args.data_root)]
    if args.epochs is not None:
        argv += ["--epochs", *map(str, args.epochs)]
    if args.final_only:
        argv.append("--final-only")
    argv += ["--min-epoch", str(args.min_epoch)]
    if args.split_seed is not None:
        argv += ["--split-seed", str(args.split_seed)]
    if args.split_file:
        argv += ["--split-file", str(args.split_file)]
    argv += ["--views", str(args.views)]
    argv += ["--max-gbt-features", str(args.max_gbt_features), "--gbt-components", str(args.gbt_components),
             "--resamples", str(args.resamples), "--seed", str(args.seed),
             "--threads", str(args.threads), "--jobs", str(args.jobs)]
    if args.supervised:
        argv.append("--supervised")
    argv += ["--supervised-epochs", str(args.supervised_epochs)]
    if args.supervised_augment:
        argv.append("--supervised-augment")
    if args.supervised_properties:
        argv += ["--supervised-properties", *args.supervised_properties]
    if args.overwrite:
        argv.append("--overwrite")
    return f"{shlex.join(argv)}\n# working directory: {Path.cwd()}"


def check_predict_options(args: argparse.Namespace) -> None:
    """The options of ``hyperzoo predict`` that argparse cannot check, before any file is read."""
    check_options(args, {"epochs": NON_NEGATIVE_INT, "min_epoch": NON_NEGATIVE_INT, "split_seed": SEED,
                         "views": POSITIVE_INT, "max_gbt_features": POSITIVE_INT, "gbt_components": NON_NEGATIVE_INT,
                         "resamples": NON_NEGATIVE_INT, "seed": SEED, "threads": NON_NEGATIVE_INT,
                         "jobs": NON_NEGATIVE_INT, "supervised_epochs": POSITIVE_INT, "probes": NON_NEGATIVE_INT,
                         "probe_seed": SEED})
    if args.run is None and not args.no_run:
        raise ConfigError("--run RUN/ is required (or pass --no-run for the weight baselines only)")
    if args.run is not None and args.no_run:
        raise ConfigError(f"--no-run: cannot be combined with --run {args.run}")
    if args.split_file and args.split_seed is not None:
        raise ConfigError(f"--split-file {args.split_file}: cannot be combined with --split-seed (the file gives "
                          "the split)")
    if args.final_only and args.epochs is not None:
        raise ConfigError("--final-only: cannot be combined with --epochs (each model's last checkpoint is kept)")


def apply_protocol(args: argparse.Namespace) -> None:
    """Fill in what ``--protocol`` sets where the command line left it out (``--features``,
    ``--properties``, ``--final-only``); without a protocol, every feature set of the default."""
    from hyperrep.downstream.names import FEATURE_SETS
    from hyperrep.downstream.protocols import PROTOCOLS

    if not args.protocol:
        args.features = args.features or list(FEATURE_SETS)
        return
    protocol = PROTOCOLS[args.protocol]
    if args.epochs is not None:
        raise ConfigError(f"--protocol {args.protocol}: keeps each model's final checkpoint; drop --epochs")
    args.final_only = args.final_only or protocol.final_only
    args.properties = args.properties or list(protocol.properties)
    args.features = args.features or protocol.features(run=args.run is not None, probes=bool(args.probes))


def predict_config(args: argparse.Namespace):
    """The :class:`~hyperrep.downstream.config.PredictConfig` of ``hyperzoo predict``'s flags."""
    from hyperrep.downstream.config import FineTune, PredictConfig, Rows

    rows = Rows(epochs=None if args.epochs is None else tuple(args.epochs), min_epoch=args.min_epoch,
                final_only=args.final_only, split_file=str(args.split_file or ""),
                split_seed=args.split_seed, views=args.views, probes=args.probes, probe_source=args.probe_source,
                probe_seed=args.probe_seed, data_root=args.data_root or "")
    fine_tune = FineTune(epochs=args.supervised_epochs, augment=args.supervised_augment,
                         properties=tuple(args.supervised_properties or ()))
    return PredictConfig(feature_sets=tuple(args.features), predictors=tuple(args.predictors), rows=rows,
                         properties=tuple(args.properties or ()),
                         max_gbt_features=args.max_gbt_features, gbt_components=args.gbt_components or None,
                         seed=args.seed, resamples=args.resamples, threads=args.threads or None,
                         jobs=args.jobs or None, supervised=args.supervised, fine_tune=fine_tune)


def _predict(args: argparse.Namespace) -> int:
    from hyperrep.downstream.report import property_report

    apply_protocol(args)
    check_predict_options(args)
    results = property_report(args.zoo, args.run, args.out, predict_config(args), overwrite=args.overwrite,
                              command=command_line(args),
                              log=None if args.quiet else lambda line: print(line, file=sys.stderr, flush=True))
    ran = results.dropna(subset=["r2", "balanced_accuracy"], how="all")
    print(f"wrote {args.out}: {len(ran)} of {len(results)} feature set x predictor x property cells; "
          f"see {Path(args.out) / 'results.md'} and summary.md")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    from hyperrep.downstream.feature_sets import FEATURE_SET_REGISTRY
    from hyperrep.downstream.names import FEATURE_SETS, SUPERVISED, SUPERVISED_SET
    from hyperrep.downstream.protocols import PROTOCOLS
    from hyperrep.downstream.registry import PREDICTOR_REGISTRY, default_predictors, own_feature_sets, predictor_names

    p = sub.add_parser(
        "predict",
        help="predict model properties from weights, embeddings and weight statistics; write a report",
        description="Fit ridge/logistic regression and gradient-boosted trees on each feature set "
        f"({', '.join(FEATURE_SETS)}) to predict accuracy, epoch, gap and varying hyperparameters "
        "of the zoo's checkpoints; split by model. Writes results.csv/.md, summary.md, plots and command.txt.",
    )
    add_zoo_option(p)
    p.add_argument("--run", default=None, help="hyper-representation run folder (RUN/)")
    p.add_argument("--no-run", action="store_true", help="no run: only the W and s(W) baselines")
    p.add_argument("--out", required=True, help="report folder to write")
    more = "; ".join(f"{f.name}: {f.help}" for f in FEATURE_SET_REGISTRY.values())
    p.add_argument("--features", nargs="+", default=None,
                   choices=(*FEATURE_SETS, *FEATURE_SET_REGISTRY, *own_feature_sets()),
                   metavar="SET", help=f"feature sets (default: all of {' '.join(FEATURE_SETS)}; "
                   f"{SUPERVISED_SET}: the supervised row, see --supervised; not by default: {more})")
    p.add_argument("--probes", type=int, default=0,
                   help="probe inputs each checkpoint answers, for the feature sets probe and probe+s(W) (0: none)")
    p.add_argument("--probe-source", choices=("data", "random"), default="data",
                   help="probe inputs: training-split images of the zoo's task, no labels (data), or noise (random)")
    p.add_argument("--probe-seed", type=int, default=0, help="seed of the probe inputs' draw")
    add_data_root_option(p)  # the probes' task data, where the folder the zoo records is not on this machine
    listed = "; ".join(f"{q.name}: {q.help}" + ("" if q.default else " (not by default)")
                       for q in PREDICTOR_REGISTRY.values())
    p.add_argument("--predictors", nargs="+", default=list(default_predictors()), choices=predictor_names(),
                   metavar="PREDICTOR", help=f"predictors (default: {' '.join(default_predictors())}; "
                   f"{SUPERVISED}: the supervised row). {listed}")
    p.add_argument("--supervised", action="store_true",
                   help=f"add the supervised row '{SUPERVISED_SET} · {SUPERVISED}': the run's encoder fine-tuned with "
                   "a property head on the training models, per property (not a self-supervised embedding; "
                   "off by default: it trains a network per property)")
    p.add_argument("--supervised-epochs", type=int, default=20,
                   help="most epochs of fine-tuning per property (the best on the validation models is kept)")
    p.add_argument("--supervised-augment", action="store_true",
                   help="fine-tune on batches through the run's weight-space augmentations")
    p.add_argument("--supervised-properties", nargs="+", default=None, metavar="PROPERTY",
                   help="fit the supervised row for these properties only (default: every property)")
    p.add_argument("--epochs", nargs="+", type=int, default=None, help="only these checkpoint epochs")
    p.add_argument("--final-only", action="store_true",
                   help="each model's last stored checkpoint only (its own: a run that stopped early counts "
                   "with its last checkpoint)")
    p.add_argument("--properties", nargs="+", default=None, metavar="PROPERTY",
                   help="predict only these properties (default: every property that varies in the zoo)")
    p.add_argument("--split-file", default=None, metavar="FILE",
                   help='the split by model from a JSON file {"train": [...], "val": [...], "test": [...]} of model '
                   "ids (the zoo's row index, or the name an importer stored as source_name, or the zoo's name), "
                   "instead of the seeded split; models it does not list are dropped (docs/public-zoos.md)")
    p.add_argument("--protocol", default=None, choices=sorted(PROTOCOLS),
                   help="a published protocol's settings where the options leave them out: "
                   + "; ".join(f"{q.name}: {q.help}" for q in PROTOCOLS.values()))
    p.add_argument("--min-epoch", type=int, default=0, help="drop checkpoints before this epoch (1: no inits)")
    p.add_argument("--split-seed", type=int, default=None,
                   help="seed of the split by model (default: the run's data.split_seed)")
    p.add_argument("--views", type=int, default=1,
                   help="embed each checkpoint as its mean over itself and VIEWS - 1 random neuron "
                   "permutations of it (default 1: as given)")
    p.add_argument("--max-gbt-features", type=int, default=4096,
                   help="skip (n/a) gradient boosting on feature sets wider than this")
    p.add_argument("--gbt-components", type=int, default=256,
                   help="boost wider feature sets on this many features, screened on the training models (0: all)")
    p.add_argument("--resamples", type=int, default=1000,
                   help="bootstrap resamples of the test models behind each 95%% interval (0: no intervals)")
    p.add_argument("--threads", type=int, default=0,
                   help="cores to use in all (0: every core; 1 on a busy machine)")
    p.add_argument("--jobs", type=int, default=0,
                   help="cells fitted side by side, sharing --threads (0: one per core)")
    add_output_options(p, seed=True)  # --seed: the predictors' and the resamples'
    p.set_defaults(func=_predict)
