"""Training hyperparameters, as written in a TOML ``[train]`` table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from eo_tasks.config import ConfigError

OPTIMIZERS = ("adam", "sgd", "adamw", "rmsprop")  # rmsprop: the public zoos' (zoo.importers) have it


@dataclass(frozen=True)
class TrainConfig:
    optimizer: Literal["adam", "sgd", "adamw", "rmsprop"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.9  # sgd and rmsprop
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 10
    seed: int = 0
    threads: int = 0  # torch intra-op threads for this process; 0 leaves torch's default
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", or "auto"
    amp: bool = False  # bf16 autocast on CUDA; ignored on CPU
    # Train metrics are evaluated on at most this many (fixed, seeded) training samples; 0 = all.
    train_eval_size: int = 0
    eval_batch_size: int = 1024

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.lr <= 0 or self.batch_size < 1 or self.epochs < 0 or self.weight_decay < 0:
            raise ConfigError("lr and batch_size must be positive, epochs and weight_decay non-negative")
