"""The ``hyperzoo`` console command: one argparse tree, one subcommand group per package.

Each package registers its subcommands with ``add_parser(subparsers)``; handlers import
heavy modules (torch, ray) only when they run, so ``hyperzoo --help`` stays fast.

Exit status (:mod:`eo_tasks.command`): 0 done; 2 with one line on stderr for what the
user has to fix (a bad option or config: ``ConfigError``; a bad dataset: ``DataError``;
an invalid zoo file: ``zoo.ZooFormatError``; a path that is missing, already there or
not writable, or a full disk); 1 with the traceback for anything else, which is a bug;
130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys

from hyperzoo import __version__


def build_parser() -> argparse.ArgumentParser:
    from eo_tasks import cli as eo_cli

    parser = argparse.ArgumentParser(
        prog="hyperzoo",
        description="Model zoos of EO CNNs, hyper-representations of their weights, and what they predict.",
        epilog="exit status: 0 done; 2 a bad option, config, dataset, zoo file or path (one line on stderr); "
        "1 an internal error (with its traceback); 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"hyperzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    eo_cli.add_parser(sub)
    for module in ("zoo.cli", "hyperrep.cli", "hyperrep.downstream.cli", "hyperrep.sampling.cli", "hyperzoo.demo_cli"):
        try:
            mod = __import__(module, fromlist=["add_parser"])
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
            continue
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from eo_tasks.command import run_command
    from zoo import ZooFormatError

    parser = build_parser()
    args = parser.parse_args(argv)
    # what this call was (also when the demo calls main in-process): reports quote it
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return run_command(lambda: args.func(args), f"hyperzoo {args.command}", (ZooFormatError,))


if __name__ == "__main__":
    sys.exit(main())
