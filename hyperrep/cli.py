"""``hyperzoo hyperrep train``, ``embed``, ``probes`` and ``ablate``."""

from __future__ import annotations

import argparse
import sys

from eo_tasks import (
    ConfigError, add_data_root_option, add_deprecated_option, add_output_options, add_overwrite_option,
    add_quiet_option, add_seed_option, add_zoo_option, refuse_existing,
)
from eo_tasks.data import SPLITS

RUN_FILES = ("checkpoint.pt", "model.pt", "config.toml", "history.csv")  # what marks a run folder
ABLATION_FILES = ("ablation.md", "baselines.csv")  # what marks an ablation folder


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    add_zoo_option(p)
    p.add_argument("--config", required=True, help="hyperrep TOML (see configs/hyperrep/)")
    p.add_argument("--out", required=True,
                   help="run folder; a checkpoint there of the same config is resumed (--overwrite: start afresh)")
    p.add_argument("--device", default=None, help="override [train].device (auto, cpu, cuda, cuda:1)")
    p.add_argument("--probes", default=None,
                   help="probe inputs saved by `hyperzoo hyperrep probes` (overrides [loss] probe_file): "
                        "the behavioural loss on a machine without the zoo's data")
    add_quiet_option(p)
    add_overwrite_option(p)
    p.add_argument("--workers", type=int, default=1,
                   help="data-parallel workers on Ray Train (default 1: one process, no Ray)")
    p.add_argument("--address", default=None,
                   help="Ray cluster address for --workers > 1 (default: a local runtime on loopback)")


def run_train(args: argparse.Namespace) -> int:
    import dataclasses

    from eo_tasks import check_device

    check_device(args.device)
    if args.workers < 1:
        raise ConfigError(f"--workers: expected an integer >= 1, got {args.workers}")
    if args.address is not None and args.workers == 1:
        raise ConfigError("--address: only used with --workers > 1 (one worker trains in this process)")

    from hyperrep.config import HyperRepConfig
    from hyperrep.data import from_zoo
    from hyperrep.train import train_hyperrep

    cfg = HyperRepConfig.load(args.config)
    start_afresh(args.out, args.overwrite, RUN_FILES)
    if args.device:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device=args.device))
    if args.probes:
        cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, probe_file=args.probes))
    data = from_zoo(args.zoo, cfg.data)
    progress = None if args.quiet else _progress
    if progress:
        counts = {s: int((data.split == s).sum()) for s in SPLITS}
        params = ", ".join(f"{ws.layout.num_params}" for ws in getattr(data, "sets", (data,)))
        progress(f"[hyperrep] {args.zoo}: {len(data)} checkpoints {counts}, {params} parameters")
    if args.workers > 1:
        from hyperrep.distributed import train_distributed

        outcome = train_distributed(data, cfg, args.out, args.workers, address=args.address)
    else:
        outcome = train_hyperrep(data, cfg, args.out, progress=progress)
    last = outcome.history[-1] if outcome.history else {}
    r2 = last.get("val_r2", float("nan"))
    dims = ", ".join(str(e) for e in outcome.rep.embedding_dims.values())
    print(f"{outcome.run_dir}: {len(outcome.history)} epochs, embedding dim {dims}, "
          f"val R^2 {r2:.4f}")
    return 0


def start_afresh(out: str, overwrite: bool, markers: tuple[str, ...]) -> None:
    """A resumable output folder (a run, an ablation): without --overwrite it is resumed; with it,
    a folder holding one of ``markers`` is deleted first, so the command starts afresh."""
    import shutil
    from pathlib import Path

    folder = Path(out)
    if overwrite and folder.is_dir() and any((folder / name).exists() for name in markers):
        shutil.rmtree(folder)


def run_embed(args: argparse.Namespace) -> int:
    from eo_tasks import POSITIVE_INT, check_device, check_options
    from hyperrep.embed import embed_zoo, load_embeddings

    check_options(args, {"batch_size": POSITIVE_INT, "views": POSITIVE_INT})
    check_device(args.device)
    refuse_existing(args.out, args.overwrite)
    out = embed_zoo(args.run, args.zoo, args.out, batch_size=args.batch_size, device=args.device,
                    progress=None if args.quiet else _progress, views=args.views, seed=args.seed)
    df = load_embeddings(out)
    print(f"{out}: {len(df)} checkpoints of {df['model'].nunique()} models, "
          f"{df.shape[1] - 3 - int('arch' in df)} dimensions")
    return 0


def run_probes(args: argparse.Namespace) -> int:
    from eo_tasks import POSITIVE_INT, check_options
    from hyperrep.config import HyperRepConfig
    from hyperrep.probes import save_probe_inputs

    check_options(args, {"n": POSITIVE_INT})
    n, seed = args.n, args.seed
    if args.config:
        cfg = HyperRepConfig.load(args.config)
        n, seed = cfg.loss.probe_pool, cfg.train.seed
    refuse_existing(args.out, args.overwrite)
    out = save_probe_inputs(args.zoo, args.out, n, seed, args.data_root)
    print(f"{out}: {n} probe inputs (seed {seed}) of {args.zoo}'s task, {out.stat().st_size / 2**20:.1f} MiB")
    return 0


def run_ablate(args: argparse.Namespace) -> int:
    from hyperrep.ablation import Ablation, run_ablation

    ablation = Ablation.load(args.config)
    start_afresh(args.out, args.overwrite, ABLATION_FILES)
    rows = run_ablation(ablation, args.zoo, args.out, progress=None if args.quiet else _progress,
                        train=not args.report_only,
                        only=tuple(v for v in args.variants.split(",") if v) if args.variants else ())
    done = rows.loc[rows["variant"] != "weights only", "variant"].nunique()
    print(f"{args.out}/ablation.md: {done} of {len(ablation.variants)} variants scored")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser("hyperrep", help="train hyper-representations of a zoo and embed its models")
    rsub = rep.add_subparsers(dest="hyperrep_command", metavar="ACTION", required=True)
    train = rsub.add_parser("train", help="train (or resume) a hyper-representation on a zoo")
    add_train_arguments(train)
    train.set_defaults(func=run_train)
    embed = rsub.add_parser("embed", help="embed every (model, checkpoint) of a zoo into an HDF5 file")
    embed.add_argument("--run", required=True, help="trained run folder")
    add_zoo_option(embed)
    embed.add_argument("--out", required=True, help="embeddings HDF5 file to write")
    embed.add_argument("--device", default="cpu", help="cpu, cuda, or auto")
    embed.add_argument("--batch-size", type=int, default=256, help="checkpoints embedded at once (default 256)")
    embed.add_argument("--views", type=int, default=1,
                       help="embed each checkpoint as its mean over itself and VIEWS - 1 random neuron "
                            "permutations of it, drawn from --seed (as `hyperzoo predict --views`; default 1: as given)")
    add_output_options(embed, seed=True)
    embed.set_defaults(func=run_embed)
    probes = rsub.add_parser("probes", help="save the behavioural loss's probe inputs of a zoo's task to a file, "
                                            "for training on a machine without the dataset (train --probes)")
    add_zoo_option(probes)
    probes.add_argument("--out", required=True, help=".npz file to write")
    probes.add_argument("--config", default=None,
                        help="hyperrep TOML whose loss.probe_pool and train.seed to use (instead of --n/--seed)")
    probes.add_argument("--n", type=int, default=512, help="pool size, = loss.probe_pool (default 512)")
    add_seed_option(probes)  # the run's train.seed draws the same pool
    add_data_root_option(probes)
    add_deprecated_option(probes, "--root", "--data-root", "data_root", metavar="DIR")
    add_overwrite_option(probes)
    probes.set_defaults(func=run_probes)
    abl = rsub.add_parser("ablate", help="train variants of a run config and compare their embeddings' readouts "
                                         "on validation models only (see configs/ablation/)")
    abl.add_argument("--config", required=True, help="ablation TOML: base config, [common], [variants.<name>]")
    add_zoo_option(abl)  # a fixed one: see `hyperzoo zoo snapshot`
    abl.add_argument("--out", required=True, help="folder for the variants' runs and the tables (resumable)")
    abl.add_argument("--report-only", action="store_true",
                     help="train nothing: write the tables of the variants scored so far")
    abl.add_argument("--variants", default="",
                     help="comma-separated variants to train (default: all); two processes with disjoint "
                          "lists can share --out, the tables then hold every variant scored so far")
    add_output_options(abl)
    abl.set_defaults(func=run_ablate)


def main(argv: list[str] | None = None) -> int:
    """``python scripts/train_hyperrep.py``: the same as ``hyperzoo hyperrep train``, with the
    same exit statuses (:mod:`eo_tasks.command`)."""
    from eo_tasks import run_command
    from zoo import ZooFormatError

    parser = argparse.ArgumentParser(prog="train_hyperrep",
                                     description="Train a hyper-representation on a zoo (Ray job entry point).")
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    return run_command(lambda: run_train(args), "train_hyperrep", (ZooFormatError,))
