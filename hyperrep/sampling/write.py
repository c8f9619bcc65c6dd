"""Write sampled models as a zoo file of the standard format (docs/zoo-format.md).

The file is made by the zoo's own writer (``zoo.store.create`` + ``ZooWriter``) from a
plan whose members are the sampled models, so every zoo tool reads it. Each model has
one checkpoint, epoch 0 (its zero-shot state: it was decoded, not trained); the table's
training columns hold the recipe that would fine-tune it (the source zoo's ``[train]``).
Format additions (allowed by the format's versioning rule, ignored by older readers):

- model columns ``provenance`` (``"sampled"``), ``method``, ``anchor`` (the anchor a draw
  was made around; empty for ``uniform``/``kde-dim``), ``draw`` (index among all draws);
- the root attribute ``sampled``: JSON with the method, sampler settings, seed, number
  drawn and kept, the source zoo and hyperrep run, and the anchors (names and ids);
- ``provenance`` (root attribute) gains ``"kind": "sampled"``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import h5py
import numpy as np

from eo_tasks.config import to_dict
from hyperrep.sampling.sample import SampleResult


def _header(result: SampleResult) -> str:
    cfg = result.config
    return (
        f"# Sampled zoo: {len(result.names)} models ({cfg.method}, seed {cfg.seed}) decoded from the hyper-"
        f"representation {result.run_dir}\n# around anchors of {result.context.path}. The tables below are "
        "that source zoo's config; its population was not trained here.\n"
    )


def write_sampled_zoo(result: SampleResult, out: str | Path, overwrite: bool = False) -> Path:
    from zoo.plan import ZooPlan
    from zoo.population import Member
    from zoo.spec import PopulationConfig, SparsifyConfig
    from zoo.store import ZooWriter, create
    from zoo.worker import MemberResult

    out = Path(out)
    if out.exists():
        if not overwrite:
            raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
        out.unlink()
    out.parent.mkdir(parents=True, exist_ok=True)
    ctx, cfg = result.context, result.config
    source = ctx.zoo_spec
    spec = dataclasses.replace(
        source,
        name=f"{source.name or ctx.path.stem}-sampled-{cfg.method}",
        population=PopulationConfig(keep_epochs=(0,)),
        sparsify=SparsifyConfig(),
        source_text=_header(result) + source.source_text,
    )
    recipe = ctx.recipe
    members = tuple(
        Member(index=i, name=name, arch=result.spec.arch, train=recipe,
               overrides=(("method", cfg.method), ("anchor", str(row.anchor))))
        for i, (name, row) in enumerate(zip(result.names, result.scores.itertuples()))
    )
    n_train = len(ctx.data.splits["train"])
    plan = ZooPlan(spec=spec, members=members, model_specs=tuple(result.spec for _ in members),
                   arch_index=tuple(0 for _ in members), layouts=(ctx.layout,), task=ctx.data.info,
                   train_sizes=tuple(n_train for _ in members))
    create(out, plan)
    node = f"{os.uname().nodename}:{os.getpid()}"
    with ZooWriter(out, plan, run_info={"sampled": True}) as writer:
        for i, row in enumerate(result.scores.to_dict("records")):
            flat = result.weights[i]
            finite = bool(np.isfinite(flat).all())
            metrics = {k: np.array([row[k]], dtype=np.float64) for k in
                       ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")}
            metrics["epoch"] = np.zeros(1)
            metrics["gap"] = metrics["train_acc"] - metrics["test_acc"]
            writer.write(MemberResult(
                index=i, status="done" if finite else "failed",
                error="" if finite else "decoded weights are not finite",
                epochs=[0], weights=flat[None, :].astype(np.float32), metrics=metrics, train_size=n_train, node=node,
            ))
    with h5py.File(out, "a", libver="latest") as f:
        table = f["models"]
        strings = h5py.string_dtype()
        table.create_dataset("provenance", data=["sampled"] * len(members), dtype=strings)
        table.create_dataset("method", data=[cfg.method] * len(members), dtype=strings)
        table.create_dataset("anchor", data=[str(a) for a in result.scores["anchor"]], dtype=strings)
        table.create_dataset("draw", data=result.scores["draw"].to_numpy(dtype=np.int64))
        prov = json.loads(f.attrs["provenance"])
        prov["kind"] = "sampled"
        f.attrs["provenance"] = json.dumps(prov)
        f.attrs["sampled"] = json.dumps({
            "provenance": "sampled",
            "method": cfg.method,
            "sampler": to_dict(cfg.sampler),
            "seed": cfg.seed,
            "drawn": result.n_drawn,
            "kept": len(result.names),
            "select": cfg.select,
            "anchors_q": cfg.anchors,
            "late": cfg.late,
            "source_zoo": str(ctx.path),
            "run": str(result.run_dir),
            "split_seed": ctx.split_seed,
            "anchors": result.anchors["name"].tolist(),
            "anchor_ids": [int(m) for m in result.anchors["model"]],
            "anchor_epochs": [int(e) for e in result.anchors["epoch"]],
        })
    return out
