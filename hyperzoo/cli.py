"""The ``hyperzoo`` console command: one argparse tree, one subcommand group per package.

Each package registers its subcommands with ``add_parser(subparsers)``; handlers import
heavy modules (torch, ray) only when they run, so ``hyperzoo --help`` stays fast.
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
    from eo_tasks.config import ConfigError
    from eo_tasks.data.errors import DataError

    parser = build_parser()
    args = parser.parse_args(argv)
    # what this call was (also when the demo calls main in-process): reports quote it
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, DataError, OSError, ValueError) as err:
        # one line naming the file or key; OSError covers missing, unwritable and full outputs
        print(f"hyperzoo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
