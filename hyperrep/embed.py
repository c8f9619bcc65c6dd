"""Embedding files: one row per (model, checkpoint) of a zoo, aligned with ``Zoo.table``.

``EMB.h5`` holds

- ``model`` ``[N]`` int64 (the zoo's model id, the index of ``Zoo.table``), ``epoch`` ``[N]`` int64
- ``split`` ``[N]`` the model's split under the run's data selection and seed
  ("train"/"val"/"test", or "" for a model the run's selection left out, e.g. failed ones)
- ``arch`` ``[N]`` int64: the model's architecture (the zoo's ``arch`` column)
- ``embeddings`` ``[N, E]`` float32 when every row's embedding has one length (always for
  a one-architecture run); otherwise ``arch_embeddings/<arch>`` ``[N_arch, E_arch]``, the
  rows of that architecture in file order
- ``pooled`` ``[N, K]`` float32: ``HyperRep.pool`` of every row, one width for every
  architecture (the embedding compared across architectures)
- attributes ``zoo`` (path), ``run`` (path), ``embedding_dim`` (one length) or
  ``embedding_dims`` (JSON ``{arch: E}``), ``pooled_dim``, ``archs`` (JSON list), ``format``

Rows come architecture by architecture (the run's order), each in (model, checkpoint) order.
:func:`load_embeddings` reads it into a DataFrame with columns ``model, epoch, split,
e0 .. e{E-1}`` (one length, or one architecture's rows with ``arch=``), or ``model,
epoch, split, arch, p0 .. p{K-1}`` (the pooled embedding of a file whose lengths differ),
ready to merge with ``Zoo.table`` (on ``model``) or ``Zoo.metrics`` (on ``model`` and ``epoch``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from eo_tasks import ConfigError
from hyperrep.run import HyperRep

FORMAT = "hyperzoo.embeddings"


def embed_zoo(run: HyperRep | str | Path, zoo_path: str | Path, out: str | Path, batch_size: int = 256,
              device: str = "cpu", progress: Callable[[str], None] | None = None, *,
              views: int = 1, seed: int = 0) -> Path:
    """Embed every stored, finite checkpoint of every model of the run's architectures.

    ``views > 1``: each checkpoint's embedding is its mean over itself and ``views - 1``
    seeded neuron permutations (:meth:`HyperRep.embed`, as ``hyperzoo predict --views``)."""
    from zoo import Zoo

    rep = run if isinstance(run, HyperRep) else HyperRep.load(run, device=device)
    run_path = "" if isinstance(run, HyperRep) else str(Path(run).resolve())
    zoo_path, out = Path(zoo_path), Path(out)
    cfg = rep.config.data
    parts = []  # (zoo arch, models, epochs, splits, embeddings, pooled)
    with Zoo.open(zoo_path) as zoo:
        statuses = tuple(sorted(set(zoo.table["status"])))
        total = done = 0
        plan = []
        for a in rep.archs:
            za = zoo.arch_of(rep.layouts[a])
            every = zoo.select(status=statuses, arch=za, max_abs=None).checkpoints
            # the run's split of its own selection (its data section's statuses and seed;
            # stratified per architecture, so one architecture's split is its split in the run)
            chosen = zoo.select(status=cfg.status, arch=za, seed=cfg.split_seed)
            plan.append((a, za, every, {int(m): s for s, ms in chosen.splits.items() for m in ms}))
            total += len(every)
        for a, za, every, split_of in plan:
            models = every["model"].to_numpy(dtype=np.int64)
            epochs = every["epoch"].to_numpy(dtype=np.int64)
            emb = np.zeros((len(models), rep.embedding_dims[a]), np.float32)
            # function tokens run each model: its own spec (activations differ within an architecture)
            spec_of = {m: zoo.spec(m) for m in set(models.tolist())} if rep.reader is not None else {}
            for start in range(0, len(models), batch_size):
                stop = min(start + batch_size, len(models))
                specs = [spec_of[m] for m in models[start:stop].tolist()] if spec_of else None
                emb[start:stop] = rep.embed(zoo.weights_many(models[start:stop], epochs[start:stop]), batch_size,
                                            arch=a, views=views, seed=seed + start, spec=specs)
                done += stop - start
                if progress is not None:
                    progress(f"embedded {done}/{total} checkpoints")
            pooled = rep.pool(emb, arch=a) if len(emb) else np.zeros((0, rep.pooled_dim), np.float32)
            split = np.array([split_of.get(int(m), "") for m in models], dtype=object)
            parts.append((za, models, epochs, split, emb, pooled))
    _write(out, parts, {"zoo": str(zoo_path.resolve()), "run": run_path, "pooled_dim": rep.pooled_dim,
                        "views": views, "seed": seed})
    return out


def _write(out: Path, parts: list, attrs: dict) -> None:
    widths = {za: emb.shape[1] for za, _, _, _, emb, _ in parts}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")

    def cat(k: int) -> np.ndarray:  # field k of every architecture's part, stacked
        return np.concatenate([p[k] for p in parts])

    with h5py.File(tmp, "w") as f:
        f.attrs.update({"format": FORMAT, **attrs, "archs": json.dumps(list(widths))})
        if len(set(widths.values())) == 1:
            f.attrs["embedding_dim"] = next(iter(widths.values()))
            f.create_dataset("embeddings", data=cat(4))
        else:
            f.attrs["embedding_dims"] = json.dumps({str(a): e for a, e in widths.items()})
            for za, *_, emb, _ in parts:
                f.create_dataset(f"arch_embeddings/{za}", data=emb)
        f.create_dataset("model", data=cat(1))
        f.create_dataset("epoch", data=cat(2))
        f.create_dataset("split", data=cat(3).astype(str).tolist(), dtype=h5py.string_dtype())
        f.create_dataset("arch", data=np.concatenate([np.full(len(p[1]), p[0], np.int64) for p in parts]))
        f.create_dataset("pooled", data=cat(5).astype(np.float32))
    tmp.replace(out)


def load_embeddings(path: str | Path, arch: int | None = None) -> pd.DataFrame:
    """``EMB.h5`` -> DataFrame ``model, epoch, split, e0 .. e{E-1}`` (of architecture ``arch``
    only, when given); for a file whose architectures' lengths differ and no ``arch``: ``model,
    epoch, split, arch, p0 .. p{K-1}``, the pooled embedding of every row."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such embeddings file")
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ConfigError(f"{path}: not a hyperzoo embeddings file (no format={FORMAT!r} attribute)")
        df = pd.DataFrame({
            "model": f["model"][:],
            "epoch": f["epoch"][:],
            "split": [s.decode() if isinstance(s, bytes) else s for s in f["split"][:]],
        })
        archs = f["arch"][:] if "arch" in f else np.zeros(len(df), np.int64)  # files before the arch column
        if arch is not None and int(arch) not in set(archs.tolist()):
            raise ConfigError(f"{path}: no rows of architecture {arch}; it has {sorted(set(archs.tolist()))}")
        keep = np.ones(len(df), bool) if arch is None else archs == int(arch)
        if "embeddings" in f:
            emb, prefix = f["embeddings"][:][keep], "e"
        elif arch is not None:
            emb, prefix = f[f"arch_embeddings/{int(arch)}"][:], "e"
        else:
            emb, prefix = f["pooled"][:], "p"
            df.insert(3, "arch", archs)
    df = df[keep].reset_index(drop=True)
    cols = pd.DataFrame(emb, columns=[f"{prefix}{i}" for i in range(emb.shape[1])])
    return pd.concat([df, cols], axis=1)
