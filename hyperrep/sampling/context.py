"""What sampling and sparsification need from a zoo (and a hyperrep run), opened once.

The zoo file stores its population config, whose ``[data]`` table rebuilds the task's
data with ``eo_tasks.data.materialise.load_task_data`` (from the cache when unchanged;
``data_root`` points at the dataset when the zoo was made on another machine) and whose
``[train]`` table is the fine-tuning recipe. Models are split into train/val/test by
model exactly as the hyperrep run split them (``zoo.ZooDataset`` with the run's seed).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eo_tasks.data.types import TaskData
from eo_tasks.models.layout import Layout
from eo_tasks.models.spec import ModelSpec
from eo_tasks.train.config import TrainConfig


def eval_key(spec: ModelSpec) -> ModelSpec:
    """``spec`` without its training-only settings (dropout, init): equal keys, equal forward pass."""
    return dataclasses.replace(spec, arch=dataclasses.replace(spec.arch, dropout=0.0, init="kaiming_uniform"))


@dataclass
class ZooContext:
    path: Path
    table: pd.DataFrame  # the zoo's model table (index: model id)
    metrics: pd.DataFrame  # the zoo's per-checkpoint metrics
    epochs: np.ndarray  # kept epochs
    layout: Layout
    arch: int
    splits: dict[str, np.ndarray]  # model ids per split (done models of this architecture)
    specs: dict[int, ModelSpec]  # model id -> spec
    data: TaskData
    recipe: TrainConfig  # the zoo's base [train] table
    zoo_spec: object  # zoo.spec.ZooSpec of the source zoo
    twin_metrics: pd.DataFrame
    split_seed: int = 0

    def weights(self, model: int, epoch: int | None = None) -> np.ndarray:
        from zoo import Zoo

        with Zoo.open(self.path) as zoo:
            return np.asarray(zoo.weights(int(model), None if epoch is None else int(epoch)), dtype=np.float32)

    def weights_many(self, models: np.ndarray, epochs: np.ndarray | None = None) -> np.ndarray:
        from zoo import Zoo

        with Zoo.open(self.path) as zoo:
            rows = [zoo.weights(int(m), None if epochs is None else int(e))
                    for m, e in zip(models, epochs if epochs is not None else [None] * len(models))]
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, self.layout.num_params), np.float32)

    def name(self, model: int) -> str:
        return str(self.table.loc[int(model), "name"])


def open_context(zoo_path: str | Path, split_seed: int = 0, arch: int | None = None,
                 status: tuple[str, ...] = ("done",), data_root: str | Path | None = None,
                 layout: Layout | None = None) -> ZooContext:
    """Read a zoo's tables, split its models and load its task data.

    ``layout`` (a hyperrep run's) picks the architecture whose layout it is.
    """
    from eo_tasks.data.materialise import load_task_data
    from zoo import Zoo, ZooDataset
    from zoo.runner import resolve_data
    from zoo.spec import spec_from_text

    path = Path(zoo_path)
    with Zoo.open(path) as zoo:
        table, metrics, epochs, layouts = zoo.table, zoo.metrics, zoo.epochs, zoo.layouts
        zoo_spec = spec_from_text(zoo.config_text, where=f"{path} (stored config)")
        twin_metrics = zoo.twin_metrics
        if layout is not None:
            matches = [a for a, lay in enumerate(layouts) if lay.to_json() == layout.to_json()]
            if not matches:
                raise ValueError(f"{path}: no architecture of this zoo has the hyperrep run's layout "
                                 f"({layout.num_params} parameters); was the run trained on another zoo?")
            arch = matches[0]
        ds = ZooDataset(path, "all", seed=split_seed, status=status, properties=(), arch=arch)
        splits = {k: np.asarray(v, dtype=np.int64) for k, v in ds.splits.items()}
        arch_used = ds.arch
        ds.close()
        models = np.concatenate(list(splits.values()))
        specs = {int(m): zoo.spec(int(m)) for m in models}
    data_cfg = resolve_data(zoo_spec.data)
    data = load_task_data(data_cfg, root=data_root)
    return ZooContext(
        path=path, table=table, metrics=metrics, epochs=epochs, layout=layouts[arch_used], arch=arch_used,
        splits=splits, specs=specs, data=data, recipe=zoo_spec.train, zoo_spec=zoo_spec,
        twin_metrics=twin_metrics, split_seed=split_seed,
    )


def late_epochs(epochs: np.ndarray, late: float) -> np.ndarray:
    """Kept epochs in the last ``late`` fraction of training (the final one always)."""
    epochs = np.asarray(epochs)
    top = epochs.max()
    return epochs[(epochs >= (1.0 - late) * top) | (epochs == top)]


def select_anchors(ctx: ZooContext, q: float, late: float = 0.25, split: str = "train",
                   spec: ModelSpec | None = None, score: pd.Series | None = None) -> pd.DataFrame:
    """The top-``q`` models of ``split`` (``q >= 1``: a count; ``q < 1``: a fraction) by
    validation accuracy at their best late checkpoint (or by ``score``, indexed by model).

    Only models whose eval spec equals ``spec`` take part (default: the best model's), so
    that every anchor, and every model sampled around them, runs with one spec.
    Columns: model, name, epoch, val_acc, test_acc, score.
    """
    if q <= 0:
        raise ValueError(f"anchors must be > 0 (a count, or a fraction below 1), got {q}")
    pool = ctx.splits[split]
    m = ctx.metrics
    rows = m[m["model"].isin(pool) & m["epoch"].isin(late_epochs(ctx.epochs, late))]
    rows = rows[np.isfinite(rows["val_acc"])]
    if rows.empty:
        raise ValueError(f"{ctx.path}: no {split}-split model has a late checkpoint with a validation accuracy")
    best = rows.sort_values(["model", "val_acc", "epoch"]).groupby("model").tail(1).set_index("model")
    best["score"] = best["val_acc"] if score is None else score.reindex(best.index)
    best = best[np.isfinite(best["score"])]
    ranked = best.sort_values(["score", "val_acc"], ascending=False, kind="stable")
    if spec is None:
        spec = ctx.specs[int(ranked.index[0])]
    key = eval_key(spec)
    ranked = ranked[[eval_key(ctx.specs[int(i)]) == key for i in ranked.index]]
    count = int(round(q)) if q >= 1 else max(2, int(np.ceil(q * len(ranked))))
    top = ranked.head(count)
    if len(top) < 2:
        raise ValueError(f"{ctx.path}: only {len(top)} {split}-split model(s) qualify as anchors; "
                         "sampling needs at least 2 (a larger zoo or a larger --anchors)")
    out = pd.DataFrame({
        "model": top.index.to_numpy(dtype=np.int64),
        "name": [ctx.name(i) for i in top.index],
        "epoch": top["epoch"].to_numpy(dtype=np.int64),
        "val_acc": top["val_acc"].to_numpy(dtype=float),
        "test_acc": top["test_acc"].to_numpy(dtype=float),
        "score": top["score"].to_numpy(dtype=float),
    })
    return out
