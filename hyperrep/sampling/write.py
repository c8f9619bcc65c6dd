"""Write sampled models as a zoo file of the standard format (docs/zoo-format.md).

The file is made by the zoo's one writer (``zoo.ZooWriter``, under its writer lock) from a
``zoo.ZooPlan`` whose models are the sampled ones, so every zoo tool reads it. Each model
has one checkpoint, epoch 0 (its zero-shot state: it was decoded, not trained); the
table's training columns hold the recipe that would fine-tune it (the source zoo's
``[train]``). Format additions, written by the writer at creation through the plan's
extra columns and attributes (allowed by the format's versioning rule, ignored by older
readers):

- model columns ``provenance`` (``"sampled"``), ``method``, ``anchor`` (the anchor a draw
  was made around; empty for ``uniform``/``kde-dim``), ``draw`` (index among all draws);
- the root attribute ``sampled``: JSON with the method, sampler settings, seed, number
  drawn and kept, the source zoo and hyperrep run, the anchors (names and ids) and the
  metric they were ranked by, ``source_arch`` and ``mode`` (the source zoo's architecture
  the draws were decoded to, and its fusion mode), and ``measured`` (whether the models
  were scored on the task);
- ``provenance`` (root attribute) gains ``"kind": "sampled"``;
- sampled from an imported public zoo (no task data), the source's root attribute
  ``imported`` is copied, so the sampled zoo is as clearly without task data as its source
  (``Zoo.task_data`` refuses it); its metrics are NaN (not measured).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from eo_tasks import to_dict
from hyperrep.sampling.sample import SampleResult
from zoo import ModelRecord


def _header(result: SampleResult) -> str:
    cfg = result.config
    return (
        f"# Sampled zoo: {len(result.names)} models ({cfg.method}, seed {cfg.seed}) decoded from the hyper-"
        f"representation {result.run_dir}\n# around anchors of {result.context.path} (architecture "
        f"{result.context.arch}, fusion mode {result.context.mode}). The tables below are "
        "that source zoo's config; its population was not trained here.\n"
    )


def _sampled_info(result: SampleResult) -> str:
    ctx, cfg = result.context, result.config
    return json.dumps({
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
        "source_arch": ctx.arch,  # the source zoo's architecture the samples were decoded to
        "mode": ctx.mode,  # its fusion mode
        "anchors": result.anchors["name"].tolist(),
        "anchor_ids": [int(m) for m in result.anchors["model"]],
        "anchor_epochs": [int(e) for e in result.anchors["epoch"]],
        "anchors_by": result.anchors_by,
        "measured": result.measured,  # False: no task data, the metrics are NaN
    })


def _record(i: int, row: dict, flat: np.ndarray, n_train: int, node: str) -> ModelRecord:
    finite = bool(np.isfinite(flat).all())
    metrics = {k: np.array([row[k]], dtype=np.float64) for k in
               ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")}
    metrics["epoch"] = np.zeros(1)
    metrics["gap"] = metrics["train_acc"] - metrics["test_acc"]
    return ModelRecord(index=i, status="done" if finite else "failed",
                       error="" if finite else "decoded weights are not finite", epochs=[0],
                       weights=flat[None, :].astype(np.float32), metrics=metrics, train_size=n_train, node=node)


def write_sampled_zoo(result: SampleResult, out: str | Path, overwrite: bool = False) -> Path:
    from zoo import PlannedModel, PopulationConfig, SparsifyConfig, ZooPlan, ZooWriter

    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    ctx, cfg = result.context, result.config
    source = ctx.zoo_spec
    spec = dataclasses.replace(
        source,
        name=f"{source.name or ctx.path.stem}-sampled-{cfg.method}",
        population=PopulationConfig(keep_epochs=(0,)),
        sparsify=SparsifyConfig(),
        source_text=_header(result) + source.source_text,
    )
    # without task data: the anchors' own training-set size (the zoo records it per model)
    n_train = len(ctx.data.splits["train"]) if ctx.data is not None else \
        int(ctx.table.loc[int(result.anchors["model"].iloc[0]), "train_size"])
    attrs = {"sampled": _sampled_info(result)}
    if ctx.imported:
        attrs["imported"] = ctx.imported
    anchors = [str(a) for a in result.scores["anchor"]]
    models = [PlannedModel(name, result.spec, ctx.recipe, n_train, (("method", cfg.method), ("anchor", anchor)))
              for name, anchor in zip(result.names, anchors)]
    plan = ZooPlan.from_models(
        spec, ctx.data.info if ctx.data is not None else ctx.task, models,
        columns={"provenance": ["sampled"] * len(models), "method": [cfg.method] * len(models), "anchor": anchors,
                 "draw": result.scores["draw"].to_numpy(dtype=np.int64)},
        attrs=attrs,
        provenance={"kind": "sampled"},
    )
    node = f"{os.uname().nodename}:{os.getpid()}"
    with ZooWriter(out, plan, "w" if overwrite else "x", run_info={"sampled": True}) as writer:
        for i, row in enumerate(result.scores.to_dict("records")):
            writer.write(_record(i, row, result.weights[i], n_train, node))
    return out
