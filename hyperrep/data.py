"""The weights a hyper-representation trains on, held in memory.

A :class:`WeightSet` is one architecture's flat weight vectors ``[N, P]`` with, per row,
the model id, the checkpoint epoch and the split of its model (train/val/test by model,
so no model's checkpoints leak across splits). :func:`from_zoo` fills one from a zoo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eo_tasks.config import ConfigError
from eo_tasks.data.splits import SPLITS
from eo_tasks.models.layout import Layout
from eo_tasks.models.spec import ModelSpec
from hyperrep.config import DataSection

if TYPE_CHECKING:
    import torch


@dataclass
class WeightSet:
    layout: Layout
    weights: np.ndarray  # [N, P] float32
    model: np.ndarray  # [N] model ids
    epoch: np.ndarray  # [N] int
    split: np.ndarray  # [N] "train" | "val" | "test"
    # Specs that run the models in eval mode (for the behavioural loss), and per row the
    # index of its model's spec; empty when unknown. Same-layout models can still differ,
    # e.g. in activation.
    specs: tuple[ModelSpec, ...] = ()
    spec_id: np.ndarray | None = None  # [N] int
    source: str = ""  # where the weights came from (a zoo path)

    def __post_init__(self) -> None:
        n = len(self.weights)
        if self.weights.ndim != 2 or self.weights.shape[1] != self.layout.num_params:
            raise ValueError(f"weights must be [N, {self.layout.num_params}], got {self.weights.shape}")
        if self.spec_id is None:
            self.spec_id = np.zeros(n, dtype=np.int64) if len(self.specs) == 1 else np.full(n, -1, np.int64)
        for name in ("model", "epoch", "split", "spec_id"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n} weight rows")
        bad = sorted(set(np.asarray(self.split).tolist()) - set(SPLITS))
        if bad:
            raise ValueError(f"unknown split names {bad}; expected {list(SPLITS)}")
        if n and (self.spec_id.min() < -1 or self.spec_id.max() >= len(self.specs)):
            raise ValueError(f"spec_id must index the {len(self.specs)} specs")

    def __len__(self) -> int:
        return len(self.weights)

    @property
    def spec(self) -> ModelSpec | None:
        """The spec of every model when they share one, else None."""
        return self.specs[0] if len(self.specs) == 1 else None

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)

    def subset(self, rows: np.ndarray) -> WeightSet:
        return WeightSet(self.layout, self.weights[rows], self.model[rows], self.epoch[rows],
                         self.split[rows], self.specs, self.spec_id[rows], self.source)


def from_zoo(path: str | Path, cfg: DataSection, splits: Sequence[str] = SPLITS) -> WeightSet:
    """The checkpoints of a zoo selected by ``cfg``, split by model (``zoo.Zoo.select``)."""
    from zoo import MultipleArchitecturesError, Zoo

    path = Path(path)
    with Zoo.open(path) as zoo:
        try:
            chosen = zoo.select(status=cfg.status, arch=None if cfg.arch < 0 else cfg.arch,
                                epochs=list(cfg.epochs) if cfg.epochs else None, max_abs=cfg.max_abs,
                                seed=cfg.split_seed)
        except MultipleArchitecturesError as err:  # name the config key that picks one
            raise MultipleArchitecturesError(f"{err} (hyperrep config: set [data] arch = <index>)") from err
        rows = chosen.checkpoints
        rows = rows[rows["epoch"] >= cfg.min_epoch]
        split = rows["split"].to_numpy()
        # split-major order, each split in (model, checkpoint) order
        rows = rows.iloc[np.concatenate([np.flatnonzero(split == s) for s in splits])] if len(splits) else rows[:0]
        if rows.empty:
            raise ConfigError(f"{path}: no checkpoints match the data selection {cfg}")
        models = rows["model"].to_numpy(dtype=np.int64)
        epochs = rows["epoch"].to_numpy(dtype=np.int64)
        weights = zoo.weights_many(models, epochs)
        spec_of = {m: zoo.spec(m).for_eval() for m in sorted(set(models.tolist()))}
    specs = tuple(sorted(set(spec_of.values()), key=lambda s: s.to_json()))
    spec_id = np.array([specs.index(spec_of[m]) for m in models.tolist()], dtype=np.int64)
    return WeightSet(chosen.layout, weights, models, epochs, rows["split"].to_numpy(dtype=object), specs, spec_id,
                     str(path))


def task_inputs(zoo_path: str | Path, n: int, seed: int, root: str | Path | None = None) -> dict[str, torch.Tensor]:
    """``n`` seeded training-split inputs (normalised, as the zoo's models saw them) of the
    task a zoo was trained on, rebuilt from the population config stored in the zoo.

    ``root`` overrides the data folder the zoo names (e.g. a zoo made on another machine).
    """
    from zoo import Zoo

    with Zoo.open(zoo_path) as zoo:
        data = zoo.task_data(root=root or None)
    return dict(data.splits["train"].sample(n, seed).inputs)
