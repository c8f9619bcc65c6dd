"""Creating a zoo file: complete (every dataset preallocated, static columns filled, every
model pending) under a temporary name, then renamed into place, so a zoo file either does
not exist or is whole. Called by :class:`zoo.writer.ZooWriter` under the writer lock."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from eo_tasks import to_dict
from zoo.format import COMPRESSION, ERROR_BYTES, FORMAT, FORMAT_VERSION, NODE_BYTES, ROW_CHUNK, STATUS_CODES
from zoo.plan import ZooPlan
from zoo.provenance import provenance


def _column(group: h5py.Group, name: str, values: Any, dtype: Any) -> None:
    n = len(values)
    group.create_dataset(name, data=np.asarray(values, dtype=dtype) if dtype is not str else values,
                         dtype=h5py.string_dtype() if dtype is str else dtype, chunks=(min(n, ROW_CHUNK),))


def _extra_column(group: h5py.Group, name: str, values: Any) -> None:
    """A plan's extra column: UTF-8 strings, or numbers stored with their numpy dtype."""
    if all(isinstance(v, str) for v in values):
        _column(group, name, list(values), str)
        return
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.dtype.kind not in "biuf":
        raise ValueError(f"extra column {name!r}: expected str values or numbers, got dtype {arr.dtype}")
    _column(group, name, arr, arr.dtype)


def _empty(group: h5py.Group, name: str, shape: tuple[int, ...], dtype: Any, fill: Any, chunks: tuple[int, ...],
           compress: bool = False) -> h5py.Dataset:
    return group.create_dataset(name, shape=shape, dtype=dtype, fillvalue=fill, chunks=chunks,
                                **(COMPRESSION if compress else {}))


def create(path: str | Path, plan: ZooPlan) -> None:
    """Write a new, empty zoo for ``plan`` (all models pending) atomically at ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".creating")
    spec, m, c, p = plan.spec, plan.num_models, len(plan.spec.keep_epochs), plan.max_params
    with h5py.File(tmp, "w", libver="latest") as f:
        f.attrs.update({
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config_hash": spec.config_hash,
            "config_text": spec.source_text,
            "config_json": json.dumps(spec.normalised(), sort_keys=True),
            "resources": json.dumps(to_dict(spec.resources)),
            "task": plan.task.to_json(),
            "provenance": json.dumps({**provenance(), **plan.provenance}),
            "num_models": m,
            "num_checkpoints": c,
            "max_params": p,
            "runs": "[]",
            **plan.attrs,
        })
        f.create_dataset("epochs", data=np.asarray(spec.keep_epochs, dtype=np.int32))
        archs = f.create_group("architectures")
        for a, layout in enumerate(plan.layouts):
            g = archs.create_group(str(a))
            g.attrs["layout"] = layout.to_json()
            g.attrs["num_params"] = layout.num_params
        f.create_dataset("weights", shape=(m, c, p), dtype=np.float32, fillvalue=0.0, chunks=(1, 1, p),
                         **COMPRESSION)
        metrics = f.create_group("metrics")
        for name in plan.metric_names:
            _empty(metrics, name, (m, c), np.float64, np.nan, (min(m, ROW_CHUNK), c), compress=True)
        _write_table(f.create_group("models", track_order=True), plan)
        if spec.sparsify.ratios:
            r = len(spec.sparsify.ratios)
            twins = f.create_group("twins")
            twins.attrs.update({"finetune_epochs": spec.sparsify.finetune_epochs, "scope": spec.sparsify.scope})
            twins.create_dataset("ratios", data=np.asarray(spec.sparsify.ratios, dtype=np.float64))
            twins.create_dataset("weights", shape=(m, r, p), dtype=np.float32, fillvalue=0.0, chunks=(1, 1, p),
                                 **COMPRESSION)
            tm = twins.create_group("metrics")
            for name in plan.twin_metric_names:
                _empty(tm, name, (m, r), np.float64, np.nan, (min(m, ROW_CHUNK), r), compress=True)
    os.replace(tmp, path)


def _write_table(g: h5py.Group, plan: ZooPlan) -> None:
    models, n = plan.models, plan.num_models
    tr = [mb.train for mb in models]
    ar = [mb.spec.arch for mb in models]
    _column(g, "name", [mb.name for mb in models], str)
    _column(g, "arch", plan.arch_index, np.int32)
    _column(g, "num_params", [plan.layouts[a].num_params for a in plan.arch_index], np.int64)
    _column(g, "seed", [t.seed for t in tr], np.int64)
    _column(g, "lr", [t.lr for t in tr], np.float64)
    _column(g, "weight_decay", [t.weight_decay for t in tr], np.float64)
    _column(g, "momentum", [t.momentum for t in tr], np.float64)
    _column(g, "optimizer", [t.optimizer for t in tr], str)
    _column(g, "batch_size", [t.batch_size for t in tr], np.int64)
    _column(g, "epochs", [t.epochs for t in tr], np.int64)
    _column(g, "activation", [a.activation for a in ar], str)
    _column(g, "init", [a.init for a in ar], str)
    _column(g, "dropout", [a.dropout for a in ar], np.float64)
    _column(g, "fusion", [a.fusion for a in ar], str)
    _column(g, "train_size", [mb.train_size for mb in models], np.int64)
    _column(g, "overrides", [json.dumps(dict(mb.overrides)) for mb in models], str)
    _column(g, "spec", [mb.spec.to_json() for mb in models], str)
    _column(g, "train_config", [mb.train_config_json() for mb in models], str)
    chunk = (min(n, ROW_CHUNK),)
    status = _empty(g, "status", (n,), np.int8, 0, chunk)
    status.attrs["codes"] = json.dumps(STATUS_CODES)
    _empty(g, "error", (n,), h5py.string_dtype("utf-8", ERROR_BYTES), b"", chunk)
    _empty(g, "wall_time", (n,), np.float64, np.nan, chunk)
    _empty(g, "finished_at", (n,), np.float64, np.nan, chunk)
    _empty(g, "run", (n,), np.int32, 0, chunk)
    _empty(g, "node", (n,), h5py.string_dtype("utf-8", NODE_BYTES), b"", chunk)
    _empty(g, "code", (n,), h5py.string_dtype("utf-8", NODE_BYTES), b"", chunk)
    for name, values in plan.columns.items():
        _extra_column(g, name, values)
