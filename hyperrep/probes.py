"""Probe inputs of the behavioural loss saved to one file, for a machine without the zoo's data.

``loss.probe = "data"`` draws its probe pool from the task a zoo was trained on, which needs
the dataset's folder (:func:`hyperrep.data.task_inputs`). A GPU machine that is sent the zoo
file alone has no such folder; :func:`save_probe_inputs` writes the very pool training would
draw (same count, same seed) to an ``.npz`` beside it, and ``loss.probe_file`` (or
``hyperzoo hyperrep train --probes``) reads it back instead. The file records the zoo's data
config, the count and the seed, and is refused for another zoo, count or seed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eo_tasks import to_dict
from eo_tasks.data import DataError

if TYPE_CHECKING:
    import torch

PROBE_FORMAT = "hyperzoo-probes-v1"
_META = "__meta__"  # the npz key of the JSON header; modality names never start with "__"


def _task_identity(zoo_path: str | Path) -> dict:
    """The zoo's [data] config without its folder: what makes two machines' pools equal."""
    from zoo import Zoo

    with Zoo.open(zoo_path) as zoo:
        data = to_dict(zoo.config.data)
    data.pop("root", None)
    data.pop("cache_dir", None)
    return data


def save_probe_inputs(zoo_path: str | Path, out: str | Path, n: int, seed: int,
                      root: str | Path | None = None) -> Path:
    """Write the ``n`` probe inputs that ``loss.probe_pool = n`` with ``train.seed = seed``
    draws from the zoo's task (``root``: the dataset's folder, if not where the zoo says)."""
    from hyperrep.data import task_inputs

    out = Path(out)
    inputs = task_inputs(zoo_path, n, seed, root)
    meta = {"format": PROBE_FORMAT, "n": n, "seed": seed, "task": _task_identity(zoo_path),
            "zoo": Path(zoo_path).name}
    arrays = {k: v.numpy() for k, v in inputs.items()}
    arrays[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a bare name
        np.savez(f, **arrays)
    os.replace(tmp, out)
    return out


def load_probe_inputs(path: str | Path, zoo_path: str | Path, n: int, seed: int) -> dict[str, torch.Tensor]:
    """The pool :func:`save_probe_inputs` wrote, checked against the zoo, count and seed."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such probe file (write one with `hyperzoo hyperrep probes`)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        meta = json.loads(arrays.pop(_META).tobytes().decode())
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{path}: not a probe file written by `hyperzoo hyperrep probes` ({err})") from err
    if meta.get("format") != PROBE_FORMAT:
        raise DataError(f"{path}: probe file format {meta.get('format')!r}, expected {PROBE_FORMAT!r}")
    if (meta["n"], meta["seed"]) != (n, seed):
        raise DataError(f"{path}: holds {meta['n']} probe inputs drawn with seed {meta['seed']}; this run needs "
                        f"loss.probe_pool = {n} with train.seed = {seed} (`hyperzoo hyperrep probes --n {n} "
                        f"--seed {seed}`)")
    if meta["task"] != _task_identity(zoo_path):
        raise DataError(f"{path}: drawn from another task than {zoo_path}'s [data] config "
                        f"(the file was written for {meta.get('zoo')!r})")
    return {k: torch.from_numpy(v) for k, v in arrays.items()}
