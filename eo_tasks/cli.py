"""``hyperzoo data ...`` and ``hyperzoo train`` subcommands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _synth(args: argparse.Namespace) -> int:
    from eo_tasks.data.synth import MIN_N, synthesize
    from eo_tasks.options import SEED, Interval, check_options

    check_options(args, {"n": Interval(MIN_N, None, integer=True), "seed": SEED})

    out = synthesize(args.kind, Path(args.out), n=args.n, seed=args.seed)
    print(f"wrote synthetic {args.kind} ({args.n} samples, seed {args.seed}) to {out}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from eo_tasks.data.synth import describe

    print(describe(Path(args.root)))
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
    synth.add_argument("--kind", required=True, choices=["benge", "eurosat-ms", "eurosat-rgb"])
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument("--n", type=int, default=600, help="number of samples")
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(func=_synth)
    info = dsub.add_parser("info", help="describe a dataset folder")
    info.add_argument("root")
    info.set_defaults(func=_info)

    train = sub.add_parser("train", help="train one model from a TOML config; prints final metrics as JSON")
    train.add_argument("--config", required=True, help="TOML with [data], [model], [train] tables")
    train.add_argument("--data-root", default=None, help="dataset folder (overrides [data].root)")
    train.add_argument("--quiet", action="store_true", help="no per-epoch progress on stderr")
    train.set_defaults(func=_train)
