"""The ``hyperzoo`` console command: one argparse tree, one subcommand group per package.

Each package registers its subcommands with ``add_parser(subparsers)``; handlers import
heavy modules (torch, ray) only when they run, so ``hyperzoo --help`` stays fast.

Exit status (:mod:`eo_tasks.command`): 0 done; 2 with one line on stderr for what the
user has to fix (a bad option or config: ``ConfigError``; a bad dataset: ``DataError``;
an invalid zoo file: ``zoo.ZooFormatError``; a path that is missing, already there or
not writable, or a full disk); 1 with the traceback for anything else, which is a bug, and
1 with one line for a zoo file that another ``zoo generate`` is writing; 130 when
interrupted. No other status.

One vocabulary (:mod:`eo_tasks.options`): ``--zoo`` names a zoo file and ``--data-root`` a
dataset folder on every command; ``--quiet``, ``--overwrite`` and ``--seed`` mean the same
wherever they appear. Old spellings (``--root``, the positional zoo of ``zoo info`` /
``zoo snapshot``, the positional folder of ``data info``) still work for one release, each
with one deprecation line on stderr.
"""

from __future__ import annotations

import argparse
import sys

from hyperzoo import __version__


def build_parser() -> argparse.ArgumentParser:
    from eo_tasks import add_parser as add_eo_tasks
    from hyperrep import add_parser as add_hyperrep
    from hyperrep.downstream import add_parser as add_predict
    from hyperrep.sampling import add_parser as add_sample
    from hyperrep.sparsify import add_parser as add_sparsify
    from hyperzoo.demo_cli import add_parser as add_demo
    from zoo import add_parser as add_zoo

    parser = argparse.ArgumentParser(
        prog="hyperzoo",
        description="Model zoos of EO CNNs, hyper-representations of their weights, and what they predict.",
        epilog="exit status: 0 done; 2 a bad option, config, dataset, zoo file or path (one line on stderr); "
        "1 an internal error (with its traceback) or a zoo file busy with another `zoo generate` (one line); "
        "130 interrupted. Every command names a zoo file --zoo and a dataset folder --data-root; --quiet, "
        "--overwrite and --seed mean the same wherever they appear.",
    )
    parser.add_argument("--version", action="version", version=f"hyperzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_parser in (add_eo_tasks, add_zoo, add_hyperrep, add_predict, add_sample, add_sparsify, add_demo):
        add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from eo_tasks import run_command
    from zoo import ZooFormatError

    parser = build_parser()
    args = parser.parse_args(argv)
    # what this call was (also when the demo calls main in-process): reports quote it
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return run_command(lambda: args.func(args), f"hyperzoo {args.command}", (ZooFormatError,))


if __name__ == "__main__":
    sys.exit(main())
