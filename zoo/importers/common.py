"""What both importers share: the imported models, and writing them as one zoo file.

An importer turns a public zoo into :class:`ImportedModel` rows; :func:`write_imported`
writes them through zoo's public writer (``ZooPlan.from_models`` + ``ZooWriter``) into
``<out>.importing`` and renames that into place only when every model is in, so an import
that fails or is killed never leaves a half-written ``out`` behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eo_tasks.data import ModalityInfo, TaskInfo
from eo_tasks.models import ModelSpec
from eo_tasks.train import TrainConfig

# The root attribute that marks an imported zoo; its JSON says where it came from.
IMPORTED_ATTR = "imported"


@dataclass
class ImportedModel:
    name: str  # the source's name of the model (a run folder, a model directory)
    spec: ModelSpec
    train: TrainConfig
    train_size: int
    epochs: list[int]  # checkpoints present, increasing
    # [len(epochs), P] float32 in the spec's layout order, read when the model is written (a
    # public zoo's weights need not fit in memory at once)
    load_weights: Callable[[], np.ndarray]
    metrics: dict[str, np.ndarray]  # zoo metric name -> [len(epochs)]
    columns: dict[str, Any] = field(default_factory=dict)  # source hyperparameters, verbatim


def record(index: int, m: ImportedModel):
    """The ModelRecord of ``m``: done, diverged (a non-finite weight in the published
    checkpoints) or failed (no checkpoint at all)."""
    from zoo.record import ModelRecord

    metrics = {"epoch": np.asarray(m.epochs, dtype=np.float64), **m.metrics}
    if not m.epochs:
        return ModelRecord(index=index, status="failed", error="no checkpoints in the source", metrics=metrics,
                           train_size=m.train_size)
    weights = np.ascontiguousarray(m.load_weights(), dtype=np.float32)
    finite = bool(np.isfinite(weights).all())
    return ModelRecord(index=index, status="done" if finite else "diverged",
                       error="" if finite else "non-finite weights in the published checkpoints",
                       epochs=list(m.epochs), weights=weights, metrics=metrics, train_size=m.train_size)


def image_task(dataset: str, channels: int, image_size: int, classes: int, source: str) -> TaskInfo:
    """The TaskInfo of a public zoo's image classification task (one image input)."""
    return TaskInfo(dataset=dataset, classes=tuple(str(c) for c in range(classes)), multilabel=False,
                    modalities=(ModalityInfo("image", "image", channels),), image_size=image_size, source=source)


def train_config(optimizer: str, **values: Any) -> TrainConfig:
    """A TrainConfig of the source's training values; ``optimizer`` is one of
    eo_tasks' names (adam, sgd, rmsprop: the zoo's ``optimizer`` column, a faithful
    prediction target), the importer having mapped the source's spelling to it (the
    source's own hyperparameter columns, copied verbatim, keep that spelling). ConfigError
    for an optimizer eo_tasks cannot train with."""
    return TrainConfig(optimizer=optimizer, **values)


def data_section(task: TaskInfo, fmt: str) -> str:
    """The imported zoo's ``[data]`` table: the public dataset its task is (a kind of
    ``eo_tasks.data.public``) with the source paper's preprocessing, at the image size and
    channels the imported networks take, and no root: the user gives the folder of the
    standard files (``--data-root``) to evaluate models. "" when no reader here serves the
    dataset (the default [data] then stands, and Zoo.task_data refuses the zoo)."""
    from eo_tasks.data import MODELZOOS_SPLIT_SEED, MODELZOOS_SPLITS, PUBLIC_KINDS, public_kind

    kind = public_kind(task.dataset)
    if kind not in PUBLIC_KINDS or fmt not in ("unterthiner", "modelzoos"):
        return ""
    lines = ["[data]", f'kind = "{kind}"', f'recipe = "{fmt}"', f"channels = {task.modalities[0].channels}",
             f"image_size = {task.image_size}"]
    if fmt == "modelzoos":  # the paper's own train/val division of the train files
        train, val = MODELZOOS_SPLITS[kind]
        lines += [f"split_seed = {MODELZOOS_SPLIT_SEED}", f"val_fraction = {val / (train + val)!r}"]
    lines.append("# no root: pass the folder of the standard files with --data-root (nothing is downloaded)")
    return "\n".join(lines) + "\n"


def config_text(task: TaskInfo, keep_epochs: Sequence[int], base: TrainConfig, fmt: str) -> str:
    """The population TOML stored as the zoo's config: the kept epochs, base training and,
    where a reader serves the task's dataset, its :func:`data_section`."""
    epochs = ", ".join(str(e) for e in keep_epochs)
    return (f"# imported by `hyperzoo zoo import --format {fmt}` from the public {task.dataset} zoo\n"
            f"{data_section(task, fmt)}"
            f"[train]\nepochs = {max(keep_epochs)}\nbatch_size = {base.batch_size}\n"
            f"[population]\nkeep_epochs = [{epochs}]\n")


def _column_values(models: Sequence[ImportedModel]) -> dict[str, list[Any]]:
    names = sorted({k for m in models for k in m.columns})
    out: dict[str, list[Any]] = {}
    for name in names:
        values = [m.columns.get(name) for m in models]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[name] = values
        else:  # strings, or a column some models lack: text ("" where absent)
            out[name] = ["" if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in values]
    return out


def write_imported(out: str | Path, models: Sequence[ImportedModel], task: TaskInfo, keep_epochs: Sequence[int],
                   fmt: str, source: str, overwrite: bool = False, notes: Mapping[str, Any] | None = None) -> Path:
    """Write ``models`` as the zoo ``out`` (atomically); FileExistsError if it exists and not ``overwrite``."""
    from zoo.lock import WriterLock, lock_path
    from zoo.plan import PlannedModel, ZooPlan
    from zoo.spec import spec_from_text
    from zoo.writer import ZooWriter

    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: already exists; pass --overwrite to replace it")
    if not models:
        raise ValueError("no models to import")
    zspec = spec_from_text(config_text(task, keep_epochs, models[0].train, fmt), f"{fmt} import config")
    planned = [PlannedModel(f"m{i:05d}", m.spec, m.train, m.train_size) for i, m in enumerate(models)]
    columns = _column_values(models)
    columns["source_name"] = [m.name for m in models]
    info = {"format": fmt, "source": source, "dataset": task.dataset, **(notes or {})}
    plan = ZooPlan.from_models(zspec, task, planned, columns=columns,
                               attrs={IMPORTED_ATTR: json.dumps(info, sort_keys=True)},
                               provenance={"kind": "imported", "imported_from": fmt, **(notes or {})})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".importing")
    try:
        with ZooWriter(tmp, plan, "w") as writer:
            for i, m in enumerate(models):
                writer.write(record(i, m))
        with WriterLock(out):  # no zoo writer may hold `out` while it is replaced
            os.replace(tmp, out)
    finally:
        for leftover in (tmp, lock_path(tmp)):
            leftover.unlink(missing_ok=True)
    return out
