"""``hyperzoo hyperrep train``, ``embed``, ``probes`` and ``ablate``."""

from __future__ import annotations

import argparse
import sys

from eo_tasks.config import ConfigError
from eo_tasks.data.splits import SPLITS


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--zoo", required=True, help="zoo HDF5 file")
    p.add_argument("--config", required=True, help="hyperrep TOML (see configs/hyperrep/)")
    p.add_argument("--out", required=True, help="run folder; an existing checkpoint there is resumed")
    p.add_argument("--device", default=None, help="override [train].device (auto, cpu, cuda, cuda:1)")
    p.add_argument("--probes", default=None,
                   help="probe inputs saved by `hyperzoo hyperrep probes` (overrides [loss] probe_file): "
                        "the behavioural loss on a machine without the zoo's data")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress lines")
    p.add_argument("--workers", type=int, default=1,
                   help="data-parallel workers on Ray Train (default 1: one process, no Ray)")
    p.add_argument("--address", default=None,
                   help="Ray cluster address for --workers > 1 (default: a local runtime on loopback)")


def run_train(args: argparse.Namespace) -> int:
    import dataclasses

    from eo_tasks.options import check_device

    check_device(args.device)
    if args.workers < 1:
        raise ConfigError(f"--workers: expected an integer >= 1, got {args.workers}")
    if args.address is not None and args.workers == 1:
        raise ConfigError("--address: only used with --workers > 1 (one worker trains in this process)")

    from hyperrep.config import HyperRepConfig
    from hyperrep.data import from_zoo
    from hyperrep.train import train_hyperrep

    cfg = HyperRepConfig.load(args.config)
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


def run_embed(args: argparse.Namespace) -> int:
    from eo_tasks.options import POSITIVE_INT, check_device, check_options
    from hyperrep.embed import embed_zoo, load_embeddings

    check_options(args, {"batch_size": POSITIVE_INT, "views": POSITIVE_INT})
    check_device(args.device)

    out = embed_zoo(args.run, args.zoo, args.out, batch_size=args.batch_size, device=args.device,
                    progress=None if args.quiet else _progress, views=args.views, seed=args.seed)
    df = load_embeddings(out)
    print(f"{out}: {len(df)} checkpoints of {df['model'].nunique()} models, "
          f"{df.shape[1] - 3 - int('arch' in df)} dimensions")
    return 0


def run_probes(args: argparse.Namespace) -> int:
    from eo_tasks.options import POSITIVE_INT, check_options
    from hyperrep.config import HyperRepConfig
    from hyperrep.probes import save_probe_inputs

    check_options(args, {"n": POSITIVE_INT})
    n, seed = args.n, args.seed
    if args.config:
        cfg = HyperRepConfig.load(args.config)
        n, seed = cfg.loss.probe_pool, cfg.train.seed
    out = save_probe_inputs(args.zoo, args.out, n, seed, args.root)
    print(f"{out}: {n} probe inputs (seed {seed}) of {args.zoo}'s task, {out.stat().st_size / 2**20:.1f} MiB")
    return 0


def run_ablate(args: argparse.Namespace) -> int:
    from hyperrep.ablation import Ablation, run_ablation

    ablation = Ablation.load(args.config)
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
    embed.add_argument("--zoo", required=True, help="zoo HDF5 file")
    embed.add_argument("--out", required=True, help="embeddings HDF5 file to write")
    embed.add_argument("--device", default="cpu", help="cpu, cuda, or auto")
    embed.add_argument("--batch-size", type=int, default=256)
    embed.add_argument("--views", type=int, default=1,
                       help="embed each checkpoint as its mean over itself and VIEWS - 1 random neuron "
                            "permutations of it (as `hyperzoo predict --views`; default 1: as given)")
    embed.add_argument("--seed", type=int, default=0, help="seed of those permutations")
    embed.add_argument("--quiet", action="store_true")
    embed.set_defaults(func=run_embed)
    probes = rsub.add_parser("probes", help="save the behavioural loss's probe inputs of a zoo's task to a file, "
                                            "for training on a machine without the dataset (train --probes)")
    probes.add_argument("--zoo", required=True, help="zoo HDF5 file")
    probes.add_argument("--out", required=True, help=".npz file to write")
    probes.add_argument("--config", default=None,
                        help="hyperrep TOML whose loss.probe_pool and train.seed to use (instead of --n/--seed)")
    probes.add_argument("--n", type=int, default=512, help="pool size, = loss.probe_pool (default 512)")
    probes.add_argument("--seed", type=int, default=0, help="= train.seed of the run (default 0)")
    probes.add_argument("--root", default=None, help="the dataset's folder, if not where the zoo says")
    probes.set_defaults(func=run_probes)
    abl = rsub.add_parser("ablate", help="train variants of a run config and compare their embeddings' readouts "
                                         "on validation models only (see configs/ablation/)")
    abl.add_argument("--config", required=True, help="ablation TOML: base config, [common], [variants.<name>]")
    abl.add_argument("--zoo", required=True, help="zoo HDF5 file (a fixed one: see `hyperzoo zoo snapshot`)")
    abl.add_argument("--out", required=True, help="folder for the variants' runs and the tables (resumable)")
    abl.add_argument("--report-only", action="store_true",
                     help="train nothing: write the tables of the variants scored so far")
    abl.add_argument("--variants", default="",
                     help="comma-separated variants to train (default: all); two processes with disjoint "
                          "lists can share --out, the tables then hold every variant scored so far")
    abl.add_argument("--quiet", action="store_true")
    abl.set_defaults(func=run_ablate)


def main(argv: list[str] | None = None) -> int:
    """``python scripts/train_hyperrep.py``: the same as ``hyperzoo hyperrep train``, with the
    same exit statuses (:mod:`eo_tasks.command`)."""
    from eo_tasks.command import run_command
    from zoo import ZooFormatError

    parser = argparse.ArgumentParser(prog="train_hyperrep",
                                     description="Train a hyper-representation on a zoo (Ray job entry point).")
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    return run_command(lambda: run_train(args), "train_hyperrep", (ZooFormatError,))
