"""``hyperzoo data ...`` and ``hyperzoo train`` subcommands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from eo_tasks.options import (
    add_data_root_option, add_deprecated_positional, add_overwrite_option, add_quiet_option, add_seed_option,
    replace_output, required_option,
)


def _is_dataset(folder: Path) -> bool:
    from eo_tasks.data.errors import DataError
    from eo_tasks.data.synth import detect

    try:
        return bool(detect(folder))
    except (DataError, OSError):  # no dataset layout there: not ours to delete
        return False


def _synth(args: argparse.Namespace) -> int:
    from eo_tasks.data.synth import MIN_N, synthesize
    from eo_tasks.options import SEED, Interval, check_options

    check_options(args, {"n": Interval(MIN_N, None, integer=True), "seed": SEED})
    replace_output(args.out, args.overwrite, _is_dataset, "a dataset")
    out = synthesize(args.kind, Path(args.out), n=args.n, seed=args.seed)
    print(f"wrote synthetic {args.kind} ({args.n} samples, seed {args.seed}) to {out}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from eo_tasks.data.synth import describe

    print(describe(Path(required_option(args, "data_root"))))
    return 0


def _train(args: argparse.Namespace) -> int:
    from eo_tasks.train.run import load_run_config, run_training

    cfg = load_run_config(args.config, data_root=args.data_root)
    metrics = run_training(cfg, progress=not args.quiet)
    print(json.dumps(metrics))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="synthesise or describe EO datasets")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    synth = dsub.add_parser("synth", help="write a synthetic dataset in a real on-disk layout")
    synth.add_argument("--kind", required=True, choices=["benge", "eurosat-ms", "eurosat-rgb"],
                       help="the dataset whose on-disk layout to write")
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument("--n", type=int, default=600, help="number of samples")
    add_seed_option(synth)
    add_overwrite_option(synth)
    synth.set_defaults(func=_synth)
    info = dsub.add_parser("info", help="describe a dataset folder")
    add_data_root_option(info)
    add_deprecated_positional(info, "data_root", "--data-root", "DIR")
    info.set_defaults(func=_info)

    train = sub.add_parser("train", help="train one model from a TOML config; prints final metrics as JSON")
    train.add_argument("--config", required=True, help="TOML with [data], [model], [train] tables")
    add_data_root_option(train)
    add_quiet_option(train)
    train.set_defaults(func=_train)
