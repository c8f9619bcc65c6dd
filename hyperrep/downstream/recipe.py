"""The ``recipe`` reference feature set: how a checkpoint was made, not what its weights are.

Numbers (learning rate and weight decay on a log scale, dropout, momentum, batch size,
the architecture's parameter count and depth, the epoch) as they are; categories
(optimizer, activation, init, fusion mode) one-hot. Columns a zoo does not vary are
dropped, so two zoos' recipes differ only where their populations do.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

NUMBERS = ("lr", "weight_decay", "dropout", "momentum", "batch_size", "num_params", "epoch")
LOG = ("lr", "weight_decay")
CATEGORIES = ("optimizer", "activation", "init", "fusion_mode", "arch")


def recipe_matrix(rows: pd.DataFrame) -> np.ndarray | str:
    cols = []
    for name in NUMBERS:
        if name in rows:
            x = pd.to_numeric(rows[name], errors="coerce").to_numpy(float)
            cols.append(np.log10(np.maximum(x, 1e-12)) if name in LOG else x)
    if "spec" in rows:  # the depth of each model's backbone, where the rows carry its spec
        cols.append(np.array([len(json.loads(s)["arch"].get("channels", ())) if isinstance(s, str) else np.nan
                              for s in rows["spec"]], float))
    for name in CATEGORIES:
        if name in rows:
            values = rows[name].astype(str).to_numpy()
            cols += [(values == v).astype(float) for v in sorted(set(values))]
    if not cols:
        return "n/a: the rows carry no hyperparameters"
    x = np.column_stack(cols)
    keep = np.nanstd(x, axis=0) > 0
    return np.nan_to_num(x[:, keep]).astype(np.float32) if keep.any() else "n/a: the zoo varies no hyperparameter"
