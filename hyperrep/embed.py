"""Embedding files: one row per (model, checkpoint) of a zoo, aligned with ``Zoo.table``.

``EMB.h5`` holds

- ``embeddings`` ``[N, E]`` float32
- ``model`` ``[N]`` int64 (the zoo's model id, the index of ``Zoo.table``), ``epoch`` ``[N]`` int64
- ``split`` ``[N]`` the model's split under the run's data selection and seed
  ("train"/"val"/"test", or "" for a model the run's selection left out, e.g. failed ones)
- attributes ``zoo`` (path), ``run`` (path), ``embedding_dim``, ``format``

:func:`load_embeddings` reads it into a DataFrame with columns ``model, epoch, split,
e0 .. e{E-1}``, ready to merge with ``Zoo.table`` (on ``model``) or ``Zoo.metrics``
(on ``model`` and ``epoch``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from eo_tasks.config import ConfigError
from hyperrep.run import HyperRep

FORMAT = "hyperzoo.embeddings"


def embed_zoo(run: HyperRep | str | Path, zoo_path: str | Path, out: str | Path, batch_size: int = 256,
              device: str = "cpu", progress: Callable[[str], None] | None = None) -> Path:
    """Embed every stored, finite checkpoint of every model of the run's architecture."""
    from zoo import Zoo

    rep = run if isinstance(run, HyperRep) else HyperRep.load(run, device=device)
    run_path = "" if isinstance(run, HyperRep) else str(Path(run).resolve())
    zoo_path, out = Path(zoo_path), Path(out)
    cfg = rep.config.data
    with Zoo.open(zoo_path) as zoo:
        arch = zoo.arch_of(rep.layout)
        statuses = tuple(sorted(set(zoo.table["status"])))
        every = zoo.select(status=statuses, arch=arch, max_abs=None).checkpoints
        # the run's split of its own selection (its data section's statuses and seed)
        chosen = zoo.select(status=cfg.status, arch=arch, seed=cfg.split_seed)
        split_of = {int(m): s for s, ms in chosen.splits.items() for m in ms}
        models = every["model"].to_numpy(dtype=np.int64)
        epochs = every["epoch"].to_numpy(dtype=np.int64)
        emb = np.zeros((len(models), rep.embedding_dim), np.float32)
        for start in range(0, len(models), batch_size):
            stop = min(start + batch_size, len(models))
            emb[start:stop] = rep.embed(zoo.weights_many(models[start:stop], epochs[start:stop]), batch_size)
            if progress is not None:
                progress(f"embedded {stop}/{len(models)} checkpoints")
    split = np.array([split_of.get(int(m), "") for m in models], dtype=object)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs.update({"format": FORMAT, "zoo": str(zoo_path.resolve()), "run": run_path,
                        "embedding_dim": rep.embedding_dim})
        f.create_dataset("embeddings", data=emb)
        f.create_dataset("model", data=models)
        f.create_dataset("epoch", data=epochs)
        f.create_dataset("split", data=split.astype(str).tolist(), dtype=h5py.string_dtype())
    tmp.replace(out)
    return out


def load_embeddings(path: str | Path) -> pd.DataFrame:
    """``EMB.h5`` -> DataFrame ``model, epoch, split, e0 .. e{E-1}``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such embeddings file")
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ConfigError(f"{path}: not a hyperzoo embeddings file (no format={FORMAT!r} attribute)")
        emb = f["embeddings"][:]
        df = pd.DataFrame({
            "model": f["model"][:],
            "epoch": f["epoch"][:],
            "split": [s.decode() if isinstance(s, bytes) else s for s in f["split"][:]],
        })
    cols = pd.DataFrame(emb, columns=[f"e{i}" for i in range(emb.shape[1])])
    return pd.concat([df, cols], axis=1)
