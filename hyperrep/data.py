"""The weights a hyper-representation trains on, held in memory.

A :class:`WeightSet` is one architecture's flat weight vectors ``[N, P]`` with, per row,
the model id, the checkpoint epoch and the split of its model (train/val/test by model,
so no model's checkpoints leak across splits). :func:`from_zoo` fills one from a zoo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eo_tasks.models.layout import Layout
from eo_tasks.models.spec import ModelSpec
from hyperrep.config import DataSection

if TYPE_CHECKING:
    import torch

SPLITS = ("train", "val", "test")


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


def eval_spec(spec: ModelSpec) -> ModelSpec:
    """``spec`` with training-only settings fixed: dropout and init do not change an eval forward."""
    return replace(spec, arch=replace(spec.arch, dropout=0.0, init="kaiming_uniform"))


def from_zoo(path: str | Path, cfg: DataSection, splits: Sequence[str] = SPLITS) -> WeightSet:
    """The checkpoints of a zoo selected by ``cfg``, split by model like ``zoo.ZooDataset``."""
    from zoo import Zoo, ZooDataset

    path = Path(path)
    arch = None if cfg.arch < 0 else cfg.arch
    parts: list[tuple[str, Any]] = []
    for split in splits:
        try:
            ds = ZooDataset(path, split, seed=cfg.split_seed, status=cfg.status,
                            epochs=list(cfg.epochs) if cfg.epochs else None, max_abs=cfg.max_abs,
                            properties=(), arch=arch)
        except ValueError as err:
            if "arch" in str(err):  # several architectures: name the config key that picks one
                raise ValueError(f"{err} (hyperrep config: set [data] arch = <index>)") from err
            raise
        parts.append((split, ds))
    layout = parts[0][1].layout
    rows, models, epochs, names = [], [], [], []
    with Zoo.open(path) as zoo:
        for split, ds in parts:
            keep = ds.epochs >= cfg.min_epoch
            for model, epoch in zip(ds.index[keep, 0], ds.epochs[keep]):
                rows.append(zoo.weights(int(model), int(epoch)))
                models.append(int(model))
                epochs.append(int(epoch))
                names.append(split)
            ds.close()
        if not rows:
            raise ValueError(f"{path}: no checkpoints match the data selection {cfg}")
        spec_of = {m: eval_spec(zoo.spec(m)) for m in sorted(set(models))}
    specs = tuple(sorted(set(spec_of.values()), key=lambda s: s.to_json()))
    spec_id = np.array([specs.index(spec_of[m]) for m in models], dtype=np.int64)
    return WeightSet(layout, np.stack(rows).astype(np.float32), np.asarray(models, dtype=np.int64),
                     np.asarray(epochs, dtype=np.int64), np.asarray(names, dtype=object), specs, spec_id,
                     str(path))


def task_inputs(zoo_path: str | Path, n: int, seed: int, root: str | Path | None = None) -> dict[str, torch.Tensor]:
    """``n`` seeded training-split inputs (normalised, as the zoo's models saw them) of the
    task a zoo was trained on, rebuilt from the population config stored in the zoo.

    ``root`` overrides the data folder the zoo names (e.g. a zoo made on another machine).
    """
    from eo_tasks.data.materialise import load_task_data
    from zoo import Zoo
    from zoo.runner import resolve_data
    from zoo.spec import spec_from_text

    zoo_path = Path(zoo_path)
    with Zoo.open(zoo_path) as zoo:
        spec = spec_from_text(zoo.config_text, where=f"{zoo_path} (stored config)")
    data = load_task_data(resolve_data(spec.data), root=root or None)
    return dict(data.splits["train"].sample(n, seed).inputs)
