"""The properties of a checkpoint that we try to read from its weights.

Performance properties come from the zoo's per-epoch metrics (test and validation
accuracy, generalisation gap; where the task flags cloudy patches, test accuracy on
cloudy and on clear patches and ``cloudy_drop`` = clear minus cloudy accuracy, the
accuracy a model loses under cloud) and from the checkpoint itself (epoch);
hyperparameters come from the zoo's model table, and ``fusion_mode`` (the fusion mode,
``late_shared`` for late fusion with a shared backbone) from each model's spec. A
hyperparameter is a property only where it varies across the zoo's models; numbers
spanning orders of magnitude are predicted on a log scale (and scored there: an MAE of
0.3 on ``lr`` means a factor of 10**0.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from hyperrep.downstream.predictors import Kind

Scale = Literal["linear", "log10", "log2"]


@dataclass(frozen=True)
class Property:
    name: str  # column in the rows table
    kind: Kind
    scale: Scale = "linear"

    @property
    def label(self) -> str:
        return self.name if self.scale == "linear" else f"{self.name} ({self.scale})"

    def encode(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Raw column values -> the targets a predictor fits (log scale, or class labels as str)."""
        if self.kind == "class":
            return np.asarray(values).astype(str)
        x = np.asarray(values, dtype=float)
        if self.scale == "log10":
            return np.log10(x)
        if self.scale == "log2":
            return np.log2(x)
        return x


# Properties every checkpoint has, from the zoo's metrics table (epoch is the checkpoint's).
PERFORMANCE = (
    Property("test_acc", "number"),
    Property("val_acc", "number"),
    Property("epoch", "number"),
    Property("gap", "number"),
)
# Properties of zoos whose task flags cloudy test patches (absent elsewhere, without a note).
SKY = (
    Property("test_acc_cloudy", "number"),
    Property("test_acc_clear", "number"),
    Property("cloudy_drop", "number"),  # test_acc_clear - test_acc_cloudy
)

# Hyperparameters that are properties where they vary. The seed is left out on purpose:
# it varies in every zoo but carries no meaning a predictor could learn.
HYPERPARAMETERS = (
    Property("lr", "number", "log10"),
    Property("weight_decay", "number", "log10"),
    Property("momentum", "number"),
    Property("dropout", "number"),
    Property("batch_size", "number", "log2"),
    Property("activation", "class"),
    Property("init", "class"),
    Property("optimizer", "class"),
    Property("fusion", "class"),
    Property("fusion_mode", "class"),  # fusion, with late + shared backbone as its own class
)


def select_properties(rows: pd.DataFrame) -> tuple[list[Property], list[str]]:
    """The properties worth predicting for ``rows`` (one row per checkpoint), and notes on
    the ones left out or changed (e.g. a weight decay of 0 forces a linear scale)."""
    chosen: list[Property] = []
    notes: list[str] = []
    for prop in PERFORMANCE + SKY:
        if prop in SKY and prop.name not in rows:
            continue
        if prop.name not in rows:
            notes.append(f"{prop.name}: not in the zoo's metrics; skipped")
        elif rows[prop.name].nunique(dropna=True) < 2:
            notes.append(f"{prop.name}: a single value in the zoo; skipped")
        else:
            chosen.append(prop)
    for prop in HYPERPARAMETERS:
        if prop.name not in rows:
            continue
        if rows[prop.name].nunique(dropna=True) < 2:
            continue  # constant in this zoo: not a property of it
        if prop.name == "fusion_mode" and "fusion" in rows and rows["fusion_mode"].equals(rows["fusion"]):
            continue  # no shared backbones that differ: the same classes as fusion
        if prop.kind == "number":
            values = pd.to_numeric(rows[prop.name], errors="coerce")
            if values.isna().any():
                notes.append(f"{prop.name}: non-numeric or missing values; skipped")
                continue
            if prop.scale != "linear" and (values <= 0).any():
                notes.append(f"{prop.name}: has values <= 0, so predicted on a linear scale")
                prop = Property(prop.name, prop.kind, "linear")
        chosen.append(prop)
    return chosen, notes
