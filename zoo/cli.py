"""``hyperzoo zoo generate``, ``info``, ``import`` and ``snapshot``."""

from __future__ import annotations

import argparse

from eo_tasks import add_deprecated_positional, add_output_options, add_zoo_option, refuse_existing, required_option


def add_generate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="population TOML (see configs/zoos/)")
    p.add_argument("--out", required=True, help="zoo HDF5 file to create or continue")
    p.add_argument("--address", default=None,
                   help="Ray cluster address (default: RAY_ADDRESS, else a local runtime on loopback)")
    p.add_argument("--max-workers", type=int, default=None, help="models trained at once (default: all that fit)")
    p.add_argument("--replace-changed", action="store_true",
                   help="replace an existing OUT only when it was made from another config (resume it otherwise); "
                        "what --overwrite meant here before")
    p.add_argument("--dashboard", action="store_true", help="start the Ray dashboard (local runtime only)")
    add_output_options(p)


def run_generate(args: argparse.Namespace) -> int:
    import sys

    from zoo.runner import generate, print_progress
    from zoo.format import ZooBusyError

    try:
        report = generate(args.config, args.out, address=args.address, max_workers=args.max_workers,
                          overwrite=args.overwrite, replace_changed=args.replace_changed, dashboard=args.dashboard,
                          progress=None if args.quiet else print_progress)
    except ZooBusyError as err:  # another driver holds OUT: not the user's mistake, exit 1 with its message
        print(f"{getattr(args, 'prog', 'hyperzoo zoo generate')}: error: {err}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{k} {v}" for k, v in report.status.items())
    print(f"{report.path}: {report.num_models} models; this run trained {report.trained} ({counts or 'nothing'}), "
          f"{report.already} were already finished; {report.wall_time:.1f}s")
    return 0  # failed or diverged models are recorded in the zoo; the run itself succeeded


def _info(args: argparse.Namespace) -> int:
    from zoo.info import plot_curves, summary
    from zoo.reader import Zoo

    with Zoo.open(required_option(args, "zoo")) as zoo:
        print(summary(zoo))
        if args.plot:
            print(f"plot: {plot_curves(zoo, args.plot, args.metric)}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from zoo.importers import import_zoo
    from zoo.reader import Zoo

    if args.limit is not None and args.limit < 1:
        from eo_tasks import ConfigError

        raise ConfigError(f"--limit must be >= 1, got {args.limit}")
    refuse_existing(args.out, args.overwrite)
    out = import_zoo(args.format, args.src, args.out, overwrite=args.overwrite, limit=args.limit,
                     dataset=args.dataset)
    with Zoo.open(out) as zoo:
        counts = zoo.table["status"].value_counts().to_dict()
        print(f"{out}: {zoo.num_models} models imported from {args.format} ({counts}), "
              f"{len(zoo.epochs)} checkpoints each, {zoo.layout.num_params} parameters")
    return 0


def _snapshot(args: argparse.Namespace) -> int:
    from zoo.reader import Zoo
    from zoo.recovery import snapshot

    source = required_option(args, "zoo")
    refuse_existing(args.out, args.overwrite)
    out = snapshot(source, args.out, overwrite=args.overwrite, first=args.first)
    with Zoo.open(out) as zoo:
        done = int((zoo.table["status"] == "done").sum())
        print(f"{out}: snapshot of {args.zoo}: {done} of {zoo.num_models} models finished")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    zoo = sub.add_parser("zoo", help="generate and inspect model zoos")
    zsub = zoo.add_subparsers(dest="zoo_command", metavar="ACTION", required=True)
    gen = zsub.add_parser("generate", help="train a population of models with Ray into one HDF5 zoo (resumable)")
    add_generate_arguments(gen)
    gen.set_defaults(func=run_generate)
    info = zsub.add_parser("info", help="summarise a zoo file")
    add_zoo_option(info, required=False)
    add_deprecated_positional(info, "zoo", "--zoo", "ZOO")
    info.add_argument("--plot", default=None, help="also write the population's accuracy curves to this image")
    info.add_argument("--metric", default="test_acc", help="metric to plot (default test_acc)")
    info.set_defaults(func=_info)
    imp = zsub.add_parser("import", help="convert a public model zoo (Unterthiner et al. 2020, Schürholt et al. 2022) "
                                         "into one zoo file")
    imp.add_argument("src", help="unterthiner: one dataset's folder (weights.npy, metrics.csv.gz, layout.csv); "
                                 "modelzoos: a zoo folder of NN_tune_trainable_* trial folders")
    imp.add_argument("--format", required=True, choices=("unterthiner", "modelzoos"), help="the source's format")
    imp.add_argument("--out", required=True, help="zoo HDF5 file to write (written whole or not at all)")
    imp.add_argument("--limit", type=int, default=None, help="import only the first N models")
    imp.add_argument("--dataset", default=None, help="modelzoos: the task's name (default: the zoo folder's name)")
    add_output_options(imp)
    imp.set_defaults(func=_import)
    snap = zsub.add_parser("snapshot", help="copy what a zoo being generated has finished so far into a new file "
                                            "(fixes its models, and so its split, for analysis)")
    add_zoo_option(snap, required=False)  # it may be open by a running `zoo generate`
    add_deprecated_positional(snap, "zoo", "--zoo", "ZOO")
    snap.add_argument("--out", required=True, help="snapshot file to write (written whole or not at all)")
    add_output_options(snap)
    snap.add_argument("--first", type=int, default=None, metavar="N",
                      help="keep models 0..N-1 only (all must have finished): the same N gives the same snapshot, "
                           "and split, whenever it is taken")
    snap.set_defaults(func=_snapshot)


def main(argv: list[str] | None = None) -> int:
    """``python scripts/generate_zoo.py``: the same as ``hyperzoo zoo generate``."""
    from eo_tasks import run_command
    from zoo.format import ZooFormatError

    parser = argparse.ArgumentParser(prog="generate_zoo", description="Generate a model zoo (Ray job entry point).")
    add_generate_arguments(parser)
    args = parser.parse_args(argv)
    # the hyperzoo command's error policy: typed errors are one line (exit 2), bugs a traceback
    return run_command(lambda: run_generate(args), "generate_zoo", (ZooFormatError,))
