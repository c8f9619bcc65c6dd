"""What sampling and sparsification need from a zoo (and a hyperrep run), opened once.

The zoo file stores its population config, whose ``[data]`` table rebuilds the task's
data (``zoo.Zoo.task_data``: from the cache when unchanged; ``data_root`` points at the
dataset when the zoo was made on another machine) and whose ``[train]`` table is the
fine-tuning recipe. Models are split into train/val/test by model exactly as the hyperrep
run split them (``zoo.Zoo.select`` with the run's seed).

A zoo without task data (an imported public zoo, root attribute ``imported``, whose dataset
has no reader here or whose folder was not given as ``data_root``: ``zoo.Zoo.no_task_data``)
opens with ``require_data=False`` as a context whose ``data`` is None and whose ``no_data``
says why; what needs the task's images is then skipped, and
anchors are ranked by the best accuracy the zoo's own metrics record (:func:`anchor_metric`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eo_tasks import ConfigError
from eo_tasks.data import TaskData, TaskInfo
from eo_tasks.models import Layout, ModelSpec
from eo_tasks.train import TrainConfig
from hyperrep.sampling.archs import mode_of


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
    data: TaskData | None  # None: the zoo has no task data (see no_data)
    recipe: TrainConfig  # the zoo's base [train] table
    zoo_spec: object  # zoo.ZooSpec of the source zoo
    twin_metrics: pd.DataFrame
    split_seed: int = 0
    task: TaskInfo | None = None  # the zoo's task (stored; known even without its data)
    no_data: str = ""  # why data is None: one sentence for reports and messages
    imported: str = ""  # the source zoo's root attribute 'imported' (JSON), "" if it has none
    mode: str = ""  # the fusion mode of this architecture's models (archs.mode_of), e.g. "late_shared"

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
                 layout: Layout | None = None, require_data: bool = True) -> ZooContext:
    """Read a zoo's tables, split its models and load its task data.

    ``layout`` (a hyperrep run's) picks the architecture whose layout it is; without it,
    ``arch`` (a zoo architecture id) does, or the zoo's only one. An imported
    zoo has no task data: DataError, or with ``require_data=False`` ``data`` None.
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
        mode = "/".join(sorted({mode_of(s.arch) for s in specs.values()}))
        imported = str(zoo.file.attrs.get("imported", ""))  # docs/zoo-format.md, imported zoos
        data, no_data = None, ""
        reason = zoo.no_task_data(data_root)  # an imported zoo without a readable dataset or folder
        if reason and not require_data:
            no_data = reason
        else:
            data = zoo.task_data(root=data_root)
        return ZooContext(
            path=path, table=zoo.table, metrics=zoo.metrics, epochs=zoo.epochs, layout=chosen.layout,
            arch=chosen.arch, splits=splits, specs=specs, data=data, recipe=zoo.config.train, zoo_spec=zoo.config,
            twin_metrics=zoo.twin_metrics, split_seed=split_seed, task=zoo.task, no_data=no_data,
            imported=imported, mode=mode,
        )


def late_epochs(epochs: np.ndarray, late: float) -> np.ndarray:
    """Kept epochs in the last ``late`` fraction of training (the final one always)."""
    epochs = np.asarray(epochs)
    top = epochs.max()
    return epochs[(epochs >= (1.0 - late) * top) | (epochs == top)]


# the zoo-recorded accuracies anchors are ranked by, in order of preference: the test accuracy
# is never used, so that the zero-shot test accuracies the report compares stay held out
ANCHOR_METRICS = ("val_acc", "train_acc")


def anchor_metric(ctx: ZooContext, late: float = 0.25, split: str = "train") -> str:
    """``val_acc`` when the zoo records one for a late checkpoint of ``split``; else
    ``train_acc`` (the Small CNN Zoo records training and test accuracy only)."""
    m = ctx.metrics
    rows = m[m["model"].isin(ctx.splits[split]) & m["epoch"].isin(late_epochs(ctx.epochs, late))]
    for metric in ANCHOR_METRICS:
        if metric in rows and np.isfinite(rows[metric].to_numpy(dtype=float)).any():
            return metric
    raise ConfigError(f"{ctx.path}: no {split}-split model has a late checkpoint with a recorded "
                      f"{' or '.join(ANCHOR_METRICS)}")


def select_anchors(ctx: ZooContext, q: float, late: float = 0.25, split: str = "train",
                   spec: ModelSpec | None = None, score: pd.Series | None = None,
                   checkpoints: int = 1) -> pd.DataFrame:
    """The top-``q`` models of ``split`` (``q >= 1``: a count; ``q < 1``: a fraction, i.e.
    every model at or above that validation-accuracy quantile) by validation accuracy at
    their best late checkpoint (or by ``score``, indexed by model); a zoo that records no
    validation accuracy ranks by training accuracy (:func:`anchor_metric`). The test
    accuracy never takes part.

    ``checkpoints`` K > 1: each selected model gives its last K kept checkpoints within the
    late window instead of its best one (K rows per model, latest first, models in rank
    order); a model with fewer late checkpoints is a ConfigError.

    Only models whose eval spec equals ``spec`` take part (default: the best model's), so
    that every anchor, and every model sampled around them, runs with one spec.
    Columns: model, name, epoch, val_acc, test_acc, train_acc, score (NaN where the zoo records none).
    """
    if q <= 0:
        raise ConfigError(f"anchors must be > 0 (a count, or a fraction below 1), got {q}")
    if not (isinstance(checkpoints, (int, np.integer)) and checkpoints >= 1):
        raise ConfigError(f"anchor checkpoints must be a whole number >= 1, got {checkpoints!r}")
    by = anchor_metric(ctx, late, split)
    pool = ctx.splits[split]
    m = ctx.metrics
    rows = m[m["model"].isin(pool) & m["epoch"].isin(late_epochs(ctx.epochs, late))]
    rows = rows[np.isfinite(rows[by])]
    best = rows.sort_values(["model", by, "epoch"]).groupby("model").tail(1).set_index("model")
    best["score"] = best[by] if score is None else score.reindex(best.index)
    best = best[np.isfinite(best["score"])]
    ranked = best.sort_values(["score", by], ascending=False, kind="stable")
    if spec is None:
        spec = ctx.specs[int(ranked.index[0])]
    key = spec.for_eval()
    ranked = ranked[[ctx.specs[int(i)].for_eval() == key for i in ranked.index]]
    count = int(round(q)) if q >= 1 else max(2, int(np.ceil(q * len(ranked))))
    top = ranked.head(count)
    if len(top) < 2:
        raise ConfigError(f"{ctx.path}: only {len(top)} {split}-split model(s) qualify as anchors; "
                         "sampling needs at least 2 (a larger zoo or a larger --anchors)")
    if checkpoints > 1:
        top = _late_checkpoints(ctx, rows, top, checkpoints, late)
    out = pd.DataFrame({
        "model": top.index.to_numpy(dtype=np.int64),
        "name": [ctx.name(i) for i in top.index],
        "epoch": top["epoch"].to_numpy(dtype=np.int64),
        **{c: (top[c].to_numpy(dtype=float) if c in top else np.full(len(top), np.nan))
           for c in ("val_acc", "test_acc", "train_acc")},
        "score": top["score"].to_numpy(dtype=float),
    })
    return out


def _late_checkpoints(ctx: ZooContext, rows: pd.DataFrame, top: pd.DataFrame, k: int, late: float) -> pd.DataFrame:
    """``top`` (one row per model, index model) expanded to each model's last ``k`` late
    checkpoints, each carrying its model's ``score`` (the rank stays the model's)."""
    parts = []
    for model, score in top["score"].items():
        mine = rows[rows["model"] == model].sort_values("epoch", ascending=False).head(k)
        if len(mine) < k:
            raise ConfigError(
                f"{ctx.path}: model {ctx.name(model)} has {len(mine)} checkpoint(s) in the late window (epochs "
                f"{late_epochs(ctx.epochs, late).tolist()}), fewer than the {k} anchor checkpoints asked for; "
                "widen the window (--late) or ask for fewer")
        parts.append(mine.assign(score=score).set_index("model"))
    return pd.concat(parts)
