"""``hyperzoo demo``: the whole pipeline on the embedded synthetic data (or real data)."""

from __future__ import annotations

import argparse

from eo_tasks import add_data_root_option, add_overwrite_option

DATA_KINDS = ("eurosat-rgb", "eurosat-ms", "benge")


def data_argument(args: argparse.Namespace) -> str | None:
    """--data KIND:PATH, or --data-kind KIND with --data-root PATH, as the one KIND:PATH (None:
    the synthetic data)."""
    from eo_tasks import ConfigError

    if args.data_root is None and args.data_kind is None:
        return args.data
    if args.data is not None:
        raise ConfigError("--data: give either --data KIND:PATH or --data-kind KIND with --data-root PATH")
    if args.data_root is None or args.data_kind is None:
        raise ConfigError("--data-kind and --data-root go together: --data-kind KIND --data-root PATH")
    return f"{args.data_kind}:{args.data_root}"


def _demo(args: argparse.Namespace) -> int:
    from hyperzoo.demo import run_demo

    run_demo(args.out, quick=args.quick, data=data_argument(args), jobs=args.jobs, overwrite=args.overwrite)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="zoo -> hyper-representation -> property report -> sampling -> sparsity, with one summary",
        description="Generate a zoo with a local Ray runtime, train a hyper-representation, write the property "
        "report, sample and sparsify, and write DIR/summary.md with every figure and the command behind it.",
    )
    p.add_argument("--out", default="demo-out", help="output folder (default: demo-out)")
    p.add_argument("--quick", action="store_true", help="a smaller population and shorter training (~2 min)")
    p.add_argument("--data", default=None, metavar="KIND:PATH",
                   help="real data instead of the synthetic default: eurosat-rgb:PATH, eurosat-ms:PATH or benge:PATH "
                        "(the same as --data-kind KIND --data-root PATH)")
    p.add_argument("--data-kind", default=None, choices=DATA_KINDS,
                   help="the kind of the dataset in --data-root (the two replace --data KIND:PATH)")
    add_data_root_option(p)
    add_overwrite_option(p)
    p.add_argument("--jobs", type=int, default=1,
                   help="steps run at once where they do not depend on each other, each in its own process with "
                   "its log in DIR/logs (default 1: one after another, in this process); each process pays a few "
                   "seconds of imports, so it pays off for steps of minutes (the full demo, real data), not --quick")
    p.set_defaults(func=_demo)
