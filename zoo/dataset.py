"""A torch Dataset over a zoo's (model, checkpoint) pairs, split by model.

Filtering and splitting use only the small per-model and per-checkpoint tables; an item
reads one checkpoint's weights (one HDF5 chunk). The file is opened lazily in each
process, so the dataset works with DataLoader worker processes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from pandas.api.types import is_numeric_dtype
from torch.utils.data import Dataset

from zoo.reader import Zoo
from zoo.store import open_for_reading

SPLITS = ("train", "val", "test")
DEFAULT_PROPERTIES = ("test_acc", "val_acc", "train_acc", "test_loss", "gap", "epoch")


def split_models(models: np.ndarray, fractions: Sequence[float], seed: int) -> dict[str, np.ndarray]:
    """Seeded split of model ids with the dataset splits' sizing (largest remainder, and at
    least one model in every split with a positive fraction, so a 4-model zoo splits 2/1/1)."""
    from eo_tasks.data.splits import split_sizes

    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {tuple(fractions)}")
    order = np.random.default_rng(seed).permutation(np.asarray(models, dtype=np.int64))
    n_train, n_val, _ = split_sizes(len(order), fractions)
    return {
        "train": np.sort(order[:n_train]),
        "val": np.sort(order[n_train : n_train + n_val]),
        "test": np.sort(order[n_train + n_val :]),
    }


class ZooDataset(Dataset):
    """Items are ``{"weights": [P] float32, "properties": [K] float32, "model", "epoch"}``.

    - ``split``: "train" | "val" | "test" | "all"; models (never single checkpoints) are
      split with ``fractions`` and ``seed``, so a model's checkpoints stay together.
    - ``status``: models kept (default only finished ones).
    - ``epochs``: kept epochs to include (None: every stored checkpoint).
    - ``max_abs``: drop checkpoints with a non-finite weight or one with ``|w| > max_abs``
      (None: only the finiteness check), decided from the stored ``weight_max_abs``.
    - ``properties``: per-checkpoint metric names or numeric per-model table columns.
    - ``arch``: which architecture (needed when the zoo has several).
    """

    def __init__(
        self,
        path: str | Path,
        split: str = "train",
        *,
        fractions: Sequence[float] = (0.7, 0.15, 0.15),
        seed: int = 0,
        status: Sequence[str] = ("done",),
        epochs: Sequence[int] | None = None,
        max_abs: float | None = 1e3,
        properties: Sequence[str] = DEFAULT_PROPERTIES,
        arch: int | None = None,
    ) -> None:
        if split not in SPLITS + ("all",):
            raise ValueError(f"split must be one of {SPLITS + ('all',)}, got {split!r}")
        self.path = Path(path)
        with Zoo.open(self.path) as zoo:
            table, metrics = zoo.table, zoo.metrics
            self.layouts = zoo.layouts
            kept_epochs = zoo.epochs
        eligible = table.index[table["status"].isin(list(status))].to_numpy()
        archs = table["arch"].to_numpy()
        if arch is None:
            used = sorted(set(archs[eligible].tolist()))
            if len(used) > 1:
                raise ValueError(f"{path}: the selected models use architectures {used}; pass arch=")
            arch = used[0] if used else 0
        eligible = eligible[archs[eligible] == arch]
        self.arch = int(arch)
        self.layout = self.layouts[self.arch]
        self.splits = split_models(eligible, fractions, seed)
        self.models = np.sort(eligible) if split == "all" else self.splits[split]
        rows = metrics[metrics["model"].isin(self.models)]
        if epochs is not None:
            unknown = sorted(set(epochs) - set(kept_epochs.tolist()))
            if unknown:
                raise ValueError(f"epochs {unknown} are not kept in {path}; kept: {kept_epochs.tolist()}")
            rows = rows[rows["epoch"].isin(list(epochs))]
        bound = np.inf if max_abs is None else max_abs
        rows = rows[np.isfinite(rows["weight_max_abs"]) & (rows["weight_max_abs"] <= bound)]
        self.index = rows[["model", "checkpoint"]].to_numpy(dtype=np.int64)
        self.properties = tuple(properties)
        self.property_values = self._properties(rows, table)
        self.epochs = rows["epoch"].to_numpy(dtype=np.int64)
        self._file: h5py.File | None = None
        self._pid = -1

    def _properties(self, rows: Any, table: Any) -> np.ndarray:
        cols = []
        for name in self.properties:
            if name in rows.columns:
                cols.append(rows[name].to_numpy(dtype=np.float64))
            elif name in table.columns and is_numeric_dtype(table[name]):
                cols.append(table[name].to_numpy(dtype=np.float64)[rows["model"].to_numpy()])
            else:
                numeric = [c for c in table.columns if is_numeric_dtype(table[c])]
                raise ValueError(f"unknown property {name!r}; metrics: {sorted(rows.columns)}, model columns: {numeric}")
        return np.stack(cols, axis=1).astype(np.float32) if cols else np.zeros((len(rows), 0), np.float32)

    def __len__(self) -> int:
        return len(self.index)

    def _h5(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():  # a forked worker opens its own handle
            self._file = open_for_reading(self.path)
            self._pid = os.getpid()
        return self._file

    def __getitem__(self, i: int) -> dict[str, Any]:
        model, ckpt = self.index[i]
        flat = self._h5()["weights"][model, ckpt, : self.layout.num_params]
        return {
            "weights": torch.from_numpy(flat),
            "properties": torch.from_numpy(self.property_values[i]),
            "model": int(model),
            "epoch": int(self.epochs[i]),
        }

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_file"], state["_pid"] = None, -1
        return state

    def close(self) -> None:
        if self._file is not None and self._file.id.valid:
            self._file.close()
        self._file = None
