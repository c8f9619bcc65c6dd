"""The weights a hyper-representation trains on, held in memory.

A :class:`WeightSet` is one architecture's flat weight vectors ``[N, P]`` with, per row,
the model id, the checkpoint epoch and the split of its model (train/val/test by model,
so no model's checkpoints leak across splits). A :class:`ZooWeights` is one WeightSet per
architecture. :func:`from_zoo` reads a zoo's selection: a WeightSet when it holds one
architecture (as it always did), a ZooWeights for several; :func:`zoo_weights` always
gives a ZooWeights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eo_tasks import ConfigError
from eo_tasks.data import SPLITS
from eo_tasks.models import Layout, ModelSpec
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
    arch: int = 0  # the architecture's index in the zoo (its ``arch`` column)

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
                         self.split[rows], self.specs, self.spec_id[rows], self.source, self.arch)


@dataclass
class ZooWeights:
    """One :class:`WeightSet` per architecture, in increasing arch order."""

    sets: tuple[WeightSet, ...]

    def __post_init__(self) -> None:
        self.sets = tuple(sorted(self.sets, key=lambda ws: ws.arch))
        archs = [ws.arch for ws in self.sets]
        if not archs or len(set(archs)) != len(archs):
            raise ValueError(f"need one weight set per architecture, got architectures {archs}")

    @classmethod
    def of(cls, data: WeightSet | ZooWeights) -> ZooWeights:
        return data if isinstance(data, ZooWeights) else cls((data,))

    @property
    def archs(self) -> tuple[int, ...]:
        return tuple(ws.arch for ws in self.sets)

    @property
    def layouts(self) -> dict[int, Layout]:
        return {ws.arch: ws.layout for ws in self.sets}

    def __getitem__(self, arch: int) -> WeightSet:
        for ws in self.sets:
            if ws.arch == arch:
                return ws
        raise KeyError(f"no weights of architecture {arch}; these have {list(self.archs)}")

    def __len__(self) -> int:
        return sum(len(ws) for ws in self.sets)

    @property
    def layout(self) -> Layout:
        """The layout of weights of one architecture (ValueError for several)."""
        if len(self.sets) != 1:
            raise ValueError(f"these weights span architectures {list(self.archs)}; use layouts[arch]")
        return self.sets[0].layout

    @property
    def source(self) -> str:
        return self.sets[0].source

    def _cat(self, name: str) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(ws, name)) for ws in self.sets])

    @property
    def model(self) -> np.ndarray:
        return self._cat("model")

    @property
    def epoch(self) -> np.ndarray:
        return self._cat("epoch")

    @property
    def split(self) -> np.ndarray:
        return self._cat("split")

    @property
    def arch(self) -> np.ndarray:
        """Per row (in the order of ``model``/``epoch``/``split``): its architecture."""
        return np.concatenate([np.full(len(ws), ws.arch, np.int64) for ws in self.sets])

    @property
    def specs(self) -> tuple[ModelSpec, ...]:
        return tuple(s for ws in self.sets for s in ws.specs)


def _arch_choice(arch: int | tuple[int, ...]) -> int | tuple[int, ...] | str:
    if isinstance(arch, int):
        return "all" if arch < 0 else arch
    return tuple(arch)


def _epochs_choice(epochs: tuple[int, ...] | str) -> list[int] | str | None:
    """``[data] epochs`` as ``zoo.Zoo.select`` takes it: a selection ("all", "last:K", "every:K")
    as written, a list as a list, () as None (every kept checkpoint)."""
    if isinstance(epochs, str):
        return epochs
    return list(epochs) or None


def zoo_weights(path: str | Path, cfg: DataSection, splits: Sequence[str] = SPLITS) -> ZooWeights:
    """The checkpoints of a zoo selected by ``cfg``, split by model (``zoo.Zoo.select``,
    stratified per architecture), one WeightSet per selected architecture."""
    from zoo import Zoo

    path = Path(path)
    sets = []
    with Zoo.open(path) as zoo:
        chosen = zoo.select(status=cfg.status, arch=_arch_choice(cfg.arch),
                            epochs=_epochs_choice(cfg.epochs), max_abs=cfg.max_abs,
                            seed=cfg.split_seed)
        every = chosen.checkpoints
        every = every[every["epoch"] >= cfg.min_epoch]
        for a in chosen.archs:
            rows = every[every["arch"] == a]
            split = rows["split"].to_numpy()
            # split-major order, each split in (model, checkpoint) order
            rows = rows.iloc[np.concatenate([np.flatnonzero(split == s) for s in splits])] if len(splits) \
                else rows[:0]
            if rows.empty:
                continue
            models = rows["model"].to_numpy(dtype=np.int64)
            epochs = rows["epoch"].to_numpy(dtype=np.int64)
            weights = zoo.weights_many(models, epochs)
            spec_of = {m: zoo.spec(m).for_eval() for m in sorted(set(models.tolist()))}
            specs = tuple(sorted(set(spec_of.values()), key=lambda s: s.to_json()))
            spec_id = np.array([specs.index(spec_of[m]) for m in models.tolist()], dtype=np.int64)
            sets.append(WeightSet(chosen.layouts[a], weights, models, epochs, rows["split"].to_numpy(dtype=object),
                                  specs, spec_id, str(path), int(a)))
    if not sets:
        raise ConfigError(f"{path}: no checkpoints match the data selection {cfg}")
    return ZooWeights(tuple(sets))


def from_zoo(path: str | Path, cfg: DataSection, splits: Sequence[str] = SPLITS) -> WeightSet | ZooWeights:
    """:func:`zoo_weights`, as a plain WeightSet when the selection holds one architecture."""
    data = zoo_weights(path, cfg, splits)
    return data.sets[0] if len(data.sets) == 1 else data


def task_inputs(zoo_path: str | Path, n: int, seed: int, root: str | Path | None = None) -> dict[str, torch.Tensor]:
    """``n`` seeded training-split inputs (normalised, as the zoo's models saw them) of the
    task a zoo was trained on, rebuilt from the population config stored in the zoo.

    ``root`` overrides the data folder the zoo names (e.g. a zoo made on another machine).
    """
    from zoo import Zoo

    with Zoo.open(zoo_path) as zoo:
        data = zoo.task_data(root=root or None)
    return dict(data.splits["train"].sample(n, seed).inputs)
