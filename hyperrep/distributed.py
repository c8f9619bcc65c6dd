"""Data-parallel hyper-representation training on Ray Train (``--workers N``).

The driver reads the zoo's weights once and hands them to every worker through Ray's object
store; each worker runs the same :class:`~hyperrep.train.Trainer` as the single-process path
with its :class:`~hyperrep.world.World`, so the run folder, resume and seeds are the same.
Only the chief (rank 0) writes the run folder: on a multi-node cluster ``run_dir`` must be
on storage every node sees (the same holds for the zoo file when the behavioural loss reads
probe images from it).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch

from eo_tasks import ConfigError
from hyperrep.config import HyperRepConfig
from hyperrep.data import WeightSet, ZooWeights


def _worker_loop(config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch

    from hyperrep.train import Trainer
    from hyperrep.world import World

    ctx = ray.train.get_context()
    world = World(rank=ctx.get_world_rank(), size=ctx.get_world_size())
    cfg: HyperRepConfig = config["cfg"]
    if config["use_gpu"]:
        device = ray.train.torch.get_device()
        cfg = cfg.with_device(str(device))
    torch.set_num_threads(max(1, cfg.train.threads))
    progress = print if world.chief else None
    Trainer(config["data"], cfg, Path(config["run_dir"]), progress, world=world).fit()


def _read_history(run_dir: Path) -> list[dict[str, float]]:
    path = run_dir / "history.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def train_distributed(data: WeightSet | ZooWeights, cfg: HyperRepConfig, run_dir: str | Path, workers: int,
                      address: str | None = None, progress=None):
    """Train (or resume) ``cfg`` on ``data`` (one architecture's weights or several's) with
    ``workers`` Ray Train workers; returns the
    same :class:`~hyperrep.train.TrainOutcome` as :func:`hyperrep.train.train_hyperrep`."""
    from hyperrep.run import HyperRep
    from hyperrep.train import CHECKPOINT, TrainOutcome

    if workers < 1:
        raise ConfigError(f"--workers: expected a positive number of workers, got {workers}")
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / CHECKPOINT
    resumed_from = int(torch.load(ckpt, map_location="cpu", weights_only=True)["epoch"]) if ckpt.is_file() else 0
    from zoo import connect_ray

    session = connect_ray(address)  # before anything imports Ray: a local runtime stays on loopback
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    try:
        use_gpu = cfg.train.device.startswith("cuda") or (
            cfg.train.device == "auto" and ray.cluster_resources().get("GPU", 0) >= workers)
        trainer = TorchTrainer(
            _worker_loop,
            train_loop_config={"data": data, "cfg": cfg, "run_dir": str(run_dir), "use_gpu": use_gpu},
            scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu,
                                         resources_per_worker={"CPU": max(1, cfg.train.threads)}),
            run_config=RunConfig(name="hyperrep", storage_path=str(run_dir / "ray")),
        )
        trainer.fit()
    finally:
        if session is not None:
            session.shutdown()
    rep = HyperRep.load(run_dir)
    return TrainOutcome(rep, _read_history(run_dir), run_dir, resumed_from)
