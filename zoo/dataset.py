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

from eo_tasks import ConfigError
from eo_tasks.data import DEFAULT_FRACTIONS, SPLITS
from zoo.hdf5 import open_for_reading
from zoo.reader import Zoo

DEFAULT_PROPERTIES = ("test_acc", "val_acc", "train_acc", "test_loss", "gap", "epoch")


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
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
        seed: int = 0,
        status: Sequence[str] = ("done",),
        epochs: Sequence[int] | None = None,
        max_abs: float | None = 1e3,
        properties: Sequence[str] = DEFAULT_PROPERTIES,
        arch: int | None = None,
    ) -> None:
        if split not in SPLITS + ("all",):
            raise ConfigError(f"split must be one of {SPLITS + ('all',)}, got {split!r}")
        self.path = Path(path)
        with Zoo.open(self.path) as zoo:
            chosen = zoo.select(status=status, arch=arch, epochs=epochs, max_abs=max_abs, fractions=fractions,
                                seed=seed)
            table = zoo.table
            self.layouts = zoo.layouts
        self.arch = chosen.arch
        self.layout = chosen.layout
        self.splits = chosen.splits
        self.models = chosen.models if split == "all" else self.splits[split]
        rows = chosen.checkpoints
        rows = rows[rows["model"].isin(self.models)]
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
                raise ConfigError(f"unknown property {name!r}; metrics: {sorted(rows.columns)}, model columns: {numeric}")
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
