"""A split by model given by file, as benchmarks publish one for a public zoo.

The file is JSON, one object with exactly the keys ``train``, ``val`` and ``test``, each a
list of model ids::

    {"train": [0, 1, 2, "/workdir/cifar10/run_0042"], "val": [5], "test": ["m00007"]}

An id is either the model's row in the zoo (an integer, ``Zoo.table``'s index) or a name:
the source name an importer stored (the ``source_name`` column: the Small CNN Zoo's
``modeldir``, a Model Zoos trial folder's name) or the zoo's own model name (``name``,
``m00007``). Every id must be a model of the zoo, and no model may be listed twice (in
one split or in two). Models of the zoo the file does not list are left out by whoever
applies the split (:func:`hyperrep.downstream.load_data` drops them with a note).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from eo_tasks import ConfigError

SPLIT_KEYS = ("train", "val", "test")
FORMAT = ('a JSON object {"train": [...], "val": [...], "test": [...]} of model ids, each the zoo\'s row '
          "index (an integer) or the model's name (source_name as imported, or the zoo's name column)")


def _names(table: pd.DataFrame) -> dict[str, int]:
    """name -> model row, over ``source_name`` and ``name``; a name two models answer to is
    left out (it would be ambiguous) and reported where a file uses it."""
    out: dict[str, int] = {}
    clash: set[str] = set()
    for col in ("source_name", "name"):
        if col not in table:
            continue
        for model, value in zip(table.index.tolist(), table[col].tolist()):
            if not isinstance(value, str) or not value:
                continue
            if value in out and out[value] != int(model):
                clash.add(value)
            out[value] = int(model)
    for value in clash:
        out[value] = -1
    return out


def read_split_file(path: str | Path, table: pd.DataFrame) -> dict[str, np.ndarray]:
    """``{split: sorted model rows}`` of the split file ``path`` for the zoo whose model table
    is ``table`` (``Zoo.table``). ConfigError, naming the file and what was expected, for a
    file that is not such an object, an id that is no model of the zoo, or a model listed twice."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: split file not found; expected {FORMAT}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not JSON ({err}); expected {FORMAT}") from None
    if not isinstance(data, dict) or set(data) != set(SPLIT_KEYS):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ConfigError(f"{path}: got {keys}; expected {FORMAT}")
    names = _names(table)
    rows = set(int(m) for m in table.index.tolist())
    where: dict[int, tuple[str, object]] = {}
    out: dict[str, np.ndarray] = {}
    for split in SPLIT_KEYS:
        ids = data[split]
        if not isinstance(ids, list):
            raise ConfigError(f"{path}: {split!r} is {type(ids).__name__}; expected a list of model ids")
        models = []
        for given in ids:
            if isinstance(given, bool) or not isinstance(given, (int, str)):
                raise ConfigError(f"{path}: {split!r} holds {given!r}; expected a model's row index (an integer) "
                                  "or its name (a string)")
            model = int(given) if isinstance(given, int) else names.get(given)
            if model == -1:
                raise ConfigError(f"{path}: {split!r}: the name {given!r} belongs to two models of the zoo; "
                                  "give the row index instead")
            if model is None or model not in rows:
                raise ConfigError(f"{path}: {split!r}: model {given!r} is not in the zoo ({len(rows)} models: rows "
                                  f"0..{len(rows) - 1}, or a name of its source_name / name columns)")
            if model in where:
                first_split, first_id = where[model]
                raise ConfigError(f"{path}: model {model} is listed in {first_split!r} (as {first_id!r}) and again in "
                                  f"{split!r} (as {given!r}); expected each model in at most one split")
            where[model] = (split, given)
            models.append(model)
        out[split] = np.asarray(sorted(models), dtype=np.int64)
    return out
