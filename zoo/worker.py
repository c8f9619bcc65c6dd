"""The per-model task: train one member, keep its checkpoints, make its sparsified twins.

Runs inside a Ray worker (or any process): it gets the task data as numpy arrays shared
through the object store and returns plain numpy results. It never touches the zoo file;
the driver is the only writer.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eo_tasks.data import TaskData
from eo_tasks.models import ModelSpec
from eo_tasks.train import TrainConfig
from zoo.provenance import source_digest
from zoo.record import ModelRecord
from zoo.spec import SparsifyConfig


# ---- task data <-> numpy (what goes into the object store once) ---------------------
def data_to_arrays(data: TaskData) -> dict[str, Any]:
    """TaskData as nested dicts of numpy arrays: Ray stores them once and every worker maps
    them without a copy."""
    return data.to_dict(numpy=True)


def arrays_to_data(arrays: dict[str, Any]) -> TaskData:
    """Rebuild TaskData around the (read-only, shared) arrays without copying them.

    The trainer only indexes these tensors (which copies the batch), never writes them,
    so torch's warning about non-writable numpy memory does not apply.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return TaskData.from_dict(arrays)


# ---- the task -----------------------------------------------------------------------
@dataclass(frozen=True)
class MemberTask:
    index: int
    spec_json: str  # ModelSpec
    train: TrainConfig
    keep_epochs: tuple[int, ...]
    train_subset: int  # 0 = the whole train split
    subset_seed: int
    sparsify: SparsifyConfig
    fault: str = ""  # test hook, see ``_inject``


def _inject(fault: str) -> None:
    """Fault injection for tests of the driver's fault handling (empty: nothing happens).

    ``raise``: the model raises; ``exit``: the worker process dies every attempt;
    ``exit_once:PATH``: it dies on the first attempt only (PATH marks that it happened).
    """
    if not fault:
        return
    if fault == "raise":
        raise RuntimeError("injected fault: this model raises")
    if fault == "exit":
        os._exit(17)
    if fault.startswith("exit_once:"):
        marker = Path(fault.split(":", 1)[1])
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os._exit(17)
        return
    raise ValueError(f"unknown fault {fault!r}")


def describe_error(err: BaseException) -> str:
    """``Type: message (at file:line)`` of the innermost frame: enough to find the cause."""
    text = f"{type(err).__name__}: {err}"
    frames = traceback.extract_tb(err.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"
    return text


def run_member(task: MemberTask, arrays: dict[str, Any]) -> ModelRecord:
    """Train one member; never raises for a model's own failure (it is reported instead)."""
    from eo_tasks.train import DivergedError, prune_and_finetune, train_model

    start = time.perf_counter()
    result = ModelRecord(index=task.index, status="failed", node=f"{socket.gethostname()}:{os.getpid()}",
                         code=source_digest())
    kept: list[tuple[int, np.ndarray, dict[str, float]]] = []
    keep = set(task.keep_epochs)

    def on_epoch(epoch: int, flat: np.ndarray, metrics: dict[str, float]) -> None:
        kept.append((epoch, flat.copy(), dict(metrics)))  # called at the kept epochs only

    try:
        data = arrays_to_data(arrays)
        if task.train_subset:
            data.splits["train"] = data.splits["train"].sample(task.train_subset, seed=task.subset_seed)
        result.train_size = len(data.splits["train"])
        spec = ModelSpec.from_json(task.spec_json)
        _inject(task.fault)
        train_model(spec, data, task.train, callback=on_epoch, eval_epochs=keep)
        result.status = "done"
        if task.sparsify.ratios and kept:
            _twins(result, spec, data, task, kept[-1][1], prune_and_finetune)
    except DivergedError as err:
        result.status, result.error = "diverged", str(err)
    except Exception as err:  # a model's own failure is data for the zoo, not a crash of the run
        result.status, result.error = "failed", describe_error(err)
    if kept:
        result.epochs = [e for e, _, _ in kept]
        result.weights = np.stack([w for _, w, _ in kept]).astype(np.float32, copy=False)
        names = sorted({k for _, _, m in kept for k in m})
        result.metrics = {k: np.array([m.get(k, np.nan) for _, _, m in kept], dtype=np.float64) for k in names}
    result.wall_time = time.perf_counter() - start
    return result


def _twins(result: ModelRecord, spec: ModelSpec, data: TaskData, task: MemberTask, final: np.ndarray, prune) -> None:
    """One pruned, fine-tuned twin per ratio; a twin that fails leaves NaN metrics and a note."""
    sp = task.sparsify
    weights = np.zeros((len(sp.ratios), final.size), dtype=np.float32)
    rows: list[dict[str, float]] = []
    notes = []
    for r, ratio in enumerate(sp.ratios):
        try:
            flat, metrics = prune(spec, data, task.train, final, ratio, sp.finetune_epochs, sp.scope)
            weights[r] = flat
            rows.append(metrics)
        except Exception as err:
            rows.append({})
            weights[r] = np.nan
            notes.append(f"twin ratio={ratio}: {describe_error(err)}")
    names = sorted({k for m in rows for k in m})
    result.twin_weights = weights
    result.twin_metrics = {k: np.array([m.get(k, np.nan) for m in rows], dtype=np.float64) for k in names}
    if notes:
        result.error = "; ".join(notes)
