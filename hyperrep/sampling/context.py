"""What sampling and sparsification need from a zoo (and a hyperrep run), opened once.

The zoo file stores its population config, whose ``[data]`` table rebuilds the task's
data (``zoo.Zoo.task_data``: from the cache when unchanged; ``data_root`` points at the
dataset when the zoo was made on another machine) and whose ``[train]`` table is the
fine-tuning recipe. Models are split into train/val/test by model exactly as the hyperrep
run split them (``zoo.Zoo.select`` with the run's seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eo_tasks.config import ConfigError
from eo_tasks.data.types import TaskData
from eo_tasks.models.layout import Layout
from eo_tasks.models.spec import ModelSpec
from eo_tasks.train.config import TrainConfig


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
    zoo_spec: object  # zoo.ZooSpec of the source zoo
    twin_metrics: pd.DataFrame
    split_seed: int = 0

    def weights(self, model: int, epoch: int | None = None) -> np.ndarray:
        from zoo import Zoo

        with Zoo.open(self.path) as zoo:
            return np.asarray(zoo.weights(int(model), None if epoch is None else int(epoch)), dtype=np.float32)

    def weights_many(self, models: np.ndarray, epochs: np.ndarray | None = None) -> np.ndarray:
        from zoo import Zoo

        if len(models) == 0:
            return np.zeros((0, self.layout.num_params), np.float32)
        with Zoo.open(self.path) as zoo:
            return zoo.weights_many(models, epochs)

    def name(self, model: int) -> str:
        return str(self.table.loc[int(model), "name"])


def open_context(zoo_path: str | Path, split_seed: int = 0, arch: int | None = None,
                 status: tuple[str, ...] = ("done",), data_root: str | Path | None = None,
                 layout: Layout | None = None) -> ZooContext:
    """Read a zoo's tables, split its models and load its task data.

    ``layout`` (a hyperrep run's) picks the architecture whose layout it is.
    """
    from zoo import UnknownLayoutError, Zoo

    path = Path(zoo_path)
    with Zoo.open(path) as zoo:
        if layout is not None:
            try:
                arch = zoo.arch_of(layout)
            except UnknownLayoutError as err:
                raise UnknownLayoutError(f"{err}, the hyperrep run's: was the run trained on another zoo?") from err
        chosen = zoo.select(status=status, arch=arch, seed=split_seed)
        splits = {k: np.asarray(v, dtype=np.int64) for k, v in chosen.splits.items()}
        specs = {int(m): zoo.spec(int(m)) for m in chosen.models}
        data = zoo.task_data(root=data_root)
        return ZooContext(
            path=path, table=zoo.table, metrics=zoo.metrics, epochs=zoo.epochs, layout=chosen.layout,
            arch=chosen.arch, splits=splits, specs=specs, data=data, recipe=zoo.config.train, zoo_spec=zoo.config,
            twin_metrics=zoo.twin_metrics, split_seed=split_seed,
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
        raise ConfigError(f"anchors must be > 0 (a count, or a fraction below 1), got {q}")
    pool = ctx.splits[split]
    m = ctx.metrics
    rows = m[m["model"].isin(pool) & m["epoch"].isin(late_epochs(ctx.epochs, late))]
    rows = rows[np.isfinite(rows["val_acc"])]
    if rows.empty:
        raise ConfigError(f"{ctx.path}: no {split}-split model has a late checkpoint with a validation accuracy")
    best = rows.sort_values(["model", "val_acc", "epoch"]).groupby("model").tail(1).set_index("model")
    best["score"] = best["val_acc"] if score is None else score.reindex(best.index)
    best = best[np.isfinite(best["score"])]
    ranked = best.sort_values(["score", "val_acc"], ascending=False, kind="stable")
    if spec is None:
        spec = ctx.specs[int(ranked.index[0])]
    key = spec.for_eval()
    ranked = ranked[[ctx.specs[int(i)].for_eval() == key for i in ranked.index]]
    count = int(round(q)) if q >= 1 else max(2, int(np.ceil(q * len(ranked))))
    top = ranked.head(count)
    if len(top) < 2:
        raise ConfigError(f"{ctx.path}: only {len(top)} {split}-split model(s) qualify as anchors; "
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
