"""Importing the Small CNN Zoo of Unterthiner et al. 2020 ("Predicting Neural Network
Accuracy from Weights", CC-BY 4.0; google-research/dnn_predict_accuracy).

One folder per dataset (mnist, fashion_mnist, cifar10, svhn_cropped), as published:

- ``weights.npy``: float ``[rows, 4970]``, one row per checkpoint (a model's checkpoints
  at epochs 0, 1, 2, 3, 20, 40, 60, 80, 86; crashed runs have fewer).
- ``metrics.csv.gz`` (or ``metrics.csv``): one row per weights row, in the same order, with
  (at least) the columns of :data:`REQUIRED` (an unnamed leading index column is allowed).
  The known columns (:data:`METRIC_COLUMNS`) are used; any other one (the real file carries
  e.g. a ``laststep`` flag) is kept as an extra model-table column and named in a note.
- ``layout.csv``: one row per variable, ``varname`` (``.../kernel:0``, ``.../bias:0``),
  ``start_idx``, ``end_idx``, ``size`` (= ``end_idx - start_idx``; the published file has it,
  an older four-column one is accepted too), ``shape`` (a Python tuple), in Keras shapes: conv
  kernels ``[kh, kw, in, out]``, dense kernels ``[in, out]``; per layer the bias comes first.

The network (train_network.py ``build_cnn``): three Keras Conv2D of 16 filters, 3x3,
stride 2, ``valid`` padding, each with the activation (dropout after each when > 0), then
global average pooling and a dense layer to 10 logits; inputs are grayscale (the mean
over RGB) scaled to [-1, 1], 28x28 (MNIST, Fashion-MNIST) or 32x32 (CIFAR-10, SVHN).
"""

from __future__ import annotations

import ast
import json
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from eo_tasks import ConfigError
from eo_tasks.data import DataError
from eo_tasks.models import ConvNetArch, InputSpec, ModelSpec
from zoo.format import TABLE_COLUMNS
from zoo.importers.common import ImportedModel, image_task, train_config

FORMAT = "unterthiner"
CONFIG_COLUMNS = (
    "config.activation", "config.b_init", "config.dataset", "config.dnn_architecture", "config.dropout",
    "config.epochs", "config.epochs_between_checkpoints", "config.init_std", "config.l2reg",
    "config.learning_rate", "config.num_layers", "config.num_units", "config.optimizer", "config.random_seed",
    "config.train_fraction", "config.w_init",
)
RESULT_COLUMNS = ("modeldir", "step", "test_accuracy", "test_loss", "train_accuracy", "train_loss")
# the other flags of train_network.py, which its results record as config.<flag> too: accepted
# where a release has them (cnn_stride and batchsize are then used instead of the defaults)
FLAG_COLUMNS = tuple(f"config.{f}" for f in ("batchsize", "cnn_stride", "grayscale", "augment_traindata",
                                              "reduce_learningrate", "workdir", "verbose", "use_tpu", "master",
                                              "tpu_job_name"))
METRIC_COLUMNS = CONFIG_COLUMNS + FLAG_COLUMNS + RESULT_COLUMNS
REQUIRED = RESULT_COLUMNS + ("config.dataset", "config.activation")
LAYOUT_COLUMNS = ("varname", "start_idx", "end_idx", "shape")
# the published layout.csv's fifth column (end_idx - start_idx); checked where present
LAYOUT_SIZE = "size"
# dataset -> (image side, training images); train_network.py uses the TFDS train split
DATASETS = {"mnist": (28, 60000), "fashion_mnist": (28, 60000), "cifar10": (32, 50000), "svhn_cropped": (32, 73257)}
STRIDE = 2  # train_network.py --cnn_stride (default 2, the published zoo's)
# config.optimizer (tf.keras.optimizers.get names, any case) -> the zoo's optimizer column
OPTIMIZERS = {"adam": "adam", "sgd": "sgd", "rmsprop": "rmsprop"}
BATCH_SIZE = 512  # train_network.py --batchsize default; the metrics table does not record it


def _unnamed(columns: list[str]) -> list[str]:
    return [c for c in columns if not c.startswith("Unnamed:")]


def _int(path: Path, i: int, name: str, row: pd.Series, col: str) -> int:
    try:
        return int(row[col])
    except (ValueError, TypeError):
        raise DataError(f"{path}: row {i} ({name}): {col} {row[col]!r} is not an integer") from None


def read_layout(path: Path, num_weights: int) -> list[dict]:
    expected = f"{list(LAYOUT_COLUMNS)} (and optionally {LAYOUT_SIZE!r})"
    if not path.is_file():
        raise DataError(f"{path}: missing; expected the published layout.csv with columns {expected}")
    table = pd.read_csv(path)
    cols = _unnamed(list(table.columns))
    unknown = sorted(set(cols) - set(LAYOUT_COLUMNS) - {LAYOUT_SIZE})
    missing = [c for c in LAYOUT_COLUMNS if c not in cols]
    if unknown or missing:
        raise DataError(f"{path}: expected columns {expected}; unknown {unknown}, missing {missing}")
    rows, offset = [], 0
    for i, r in table.iterrows():
        name = str(r["varname"])
        try:
            shape = tuple(int(s) for s in ast.literal_eval(str(r["shape"])))
        except (ValueError, SyntaxError, TypeError):
            raise DataError(f"{path}: row {i} ({name}): shape {r['shape']!r} is not a tuple of integers") from None
        start, end = _int(path, i, name, r, "start_idx"), _int(path, i, name, r, "end_idx")
        if LAYOUT_SIZE in cols and _int(path, i, name, r, LAYOUT_SIZE) != end - start:
            raise DataError(f"{path}: row {i} ({name}): size {r[LAYOUT_SIZE]!r}, but end_idx - start_idx = "
                            f"{end} - {start} = {end - start}; expected size == end_idx - start_idx")
        if start != offset or end - start != int(np.prod(shape)):
            raise DataError(f"{path}: row {i} ({name}): expected start_idx {offset} and end_idx - start_idx = "
                            f"{int(np.prod(shape))} (shape {shape}), got {start}..{end}")
        kind = "kernel" if name.endswith("kernel:0") else "bias" if name.endswith("bias:0") else None
        if kind is None:
            raise DataError(f"{path}: row {i}: varname {name!r} ends neither in 'kernel:0' nor in 'bias:0'")
        rows.append({"name": name, "kind": kind, "layer": name.rsplit("/", 1)[0], "start": start, "end": end,
                     "shape": shape})
        offset = end
    if offset != num_weights:
        raise DataError(f"{path}: the layout covers {offset} weights, but the rows of weights.npy have {num_weights}")
    return rows


def arch_from_layout(path: Path, rows: list[dict]) -> tuple[ConvNetArch, int, int, list[tuple[dict, str]]]:
    """The published CNN the layout describes: (arch without hyperparameters, input channels,
    classes, [(layout row, our tensor name)])."""
    layers: dict[str, dict[str, dict]] = {}
    for r in rows:
        layers.setdefault(r["layer"], {})[r["kind"]] = r
    convs = [v for v in layers.values() if "kernel" in v and len(v["kernel"]["shape"]) == 4]
    dense = [v for v in layers.values() if "kernel" in v and len(v["kernel"]["shape"]) == 2]
    if len(convs) + len(dense) != len(layers) or len(dense) != 1 or not convs \
            or any("bias" not in v for v in layers.values()) or list(layers.values())[-1] is not dense[0]:
        raise DataError(f"{path}: expected conv layers (4-d kernel + bias) followed by one dense layer "
                        f"(2-d kernel + bias), got layers {list(layers)}")
    channels, mapping, c_in = [], [], convs[0]["kernel"]["shape"][2]
    for i, v in enumerate(convs):
        kh, kw, cin, cout = v["kernel"]["shape"]
        if kh != kw or cin != (c_in if i == 0 else channels[-1]) or v["bias"]["shape"] != (cout,):
            raise DataError(f"{path}: layer {v['kernel']['name']}: kernel {v['kernel']['shape']} / bias "
                            f"{v['bias']['shape']} do not chain onto the layer before")
        channels.append(cout)
        mapping += [(v["kernel"], f"conv{i}.weight"), (v["bias"], f"conv{i}.bias")]
    d_in, classes = dense[0]["kernel"]["shape"]
    if d_in != channels[-1] or dense[0]["bias"]["shape"] != (classes,):
        raise DataError(f"{path}: the dense kernel {dense[0]['kernel']['shape']} must read the "
                        f"{channels[-1]} globally pooled channels")
    mapping += [(dense[0]["kernel"], "out.weight"), (dense[0]["bias"], "out.bias")]
    n = len(channels)
    arch = ConvNetArch(channels=tuple(channels), kernel_sizes=tuple(v["kernel"]["shape"][0] for v in convs),
                       strides=(STRIDE,) * n, paddings=(0,) * n, pools=(0,) * n, readout="global_avg")
    return arch, c_in, classes, mapping


def to_torch_order(flat: np.ndarray, mapping: list[tuple[dict, str]]) -> np.ndarray:
    """Rows of Keras-ordered flat vectors ``[N, P]`` -> our layout order (a pure permutation)."""
    parts = []
    for r, _ in mapping:
        arr = flat[:, r["start"]:r["end"]].reshape(len(flat), *r["shape"])
        if r["kind"] == "kernel":
            arr = arr.transpose(0, 4, 3, 1, 2) if arr.ndim == 5 else arr.transpose(0, 2, 1)
        parts.append(arr.reshape(len(flat), -1))
    return np.concatenate(parts, axis=1)


def _load(weights: np.ndarray, rows: np.ndarray, mapping: list[tuple[dict, str]]) -> np.ndarray:
    return to_torch_order(np.asarray(weights[rows]), mapping)


def read_metrics(src: Path, rows: int) -> tuple[pd.DataFrame, Path, list[str]]:
    """(table, its path, the columns beyond METRIC_COLUMNS, kept as extras)."""
    path = next((p for p in (src / "metrics.csv.gz", src / "metrics.csv") if p.is_file()), None)
    if path is None:
        raise DataError(f"{src}: no metrics.csv.gz (or metrics.csv); expected the published metrics table")
    table = pd.read_csv(path)
    cols = _unnamed(list(table.columns))
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise DataError(f"{path}: missing columns {missing}; the importer needs the columns {list(REQUIRED)}")
    if len(table) != rows:
        raise DataError(f"{path}: {len(table)} rows, but weights.npy has {rows}: expected one row per checkpoint")
    return table[cols], path, [c for c in cols if c not in METRIC_COLUMNS]


def _plain(v):
    """A table cell as a JSON-able Python value (NaN -> None)."""
    v = v.item() if hasattr(v, "item") else v
    return None if isinstance(v, float) and np.isnan(v) else v


def _extra_name(col: str) -> str:
    """The model-table name of an extra source column: its own, unless the zoo format or the
    importer uses that name already (or HDF5 cannot hold it)."""
    clash = col in TABLE_COLUMNS or col == "source_name" or "/" in col
    return f"extra.{col.replace('/', '_')}" if clash else col


def extra_columns(table: pd.DataFrame, groups: list[np.ndarray], extras: list[str], path: Path):
    """The extra metric columns as model-table columns: a column constant within every model
    keeps that value; one that changes within a model (``laststep``) is a JSON list per model,
    in its checkpoints' epoch order. Returns ({name: per-model values}, note)."""
    out: dict[str, list] = {}
    kinds = []
    for col in extras:
        per_model = [table[col].iloc[idx] for idx in groups]
        if any(v.nunique(dropna=False) > 1 for v in per_model):
            out[_extra_name(col)] = [json.dumps([_plain(x) for x in v]) for v in per_model]
            kinds.append(f"{col} -> {_extra_name(col)} (per checkpoint: a JSON list in epoch order)")
        else:
            values = [v.iloc[0] for v in per_model]
            out[_extra_name(col)] = [v.item() if hasattr(v, "item") else v for v in values]
            kinds.append(f"{col} -> {_extra_name(col)} (one value per model)")
    note = (f"{path.name}: columns beyond the published list kept as model-table columns: {'; '.join(kinds)}"
            if extras else "")
    return out, note


def _value(row: pd.Series, col: str, default=None):
    v = row.get(col, default)
    return default if v is None or (isinstance(v, float) and np.isnan(v)) else v


def read_unterthiner(src: str | Path, limit: int | None = None):
    """(models, TaskInfo, kept epochs, notes) of one dataset's folder of the Small CNN Zoo;
    the notes (text lines) name what was kept beyond the published columns."""
    src = Path(src)
    if not src.is_dir():
        raise DataError(f"{src}: not a folder; expected one dataset's folder of the Small CNN Zoo "
                        "(weights.npy, metrics.csv.gz, layout.csv)")
    wpath = src / "weights.npy"
    if not wpath.is_file():
        raise DataError(f"{wpath}: missing; expected the published weights matrix [checkpoints, parameters]")
    weights = np.load(wpath, mmap_mode="r")
    if weights.ndim != 2 or weights.dtype.kind != "f":
        raise DataError(f"{wpath}: expected a 2-d float array [checkpoints, parameters], got {weights.dtype} "
                        f"{weights.shape}")
    layout_rows = read_layout(src / "layout.csv", weights.shape[1])
    arch, c_in, classes, mapping = arch_from_layout(src / "layout.csv", layout_rows)
    table, mpath, extras = read_metrics(src, weights.shape[0])
    datasets = sorted(set(table["config.dataset"].astype(str)))
    if len(datasets) != 1 or datasets[0] not in DATASETS:
        raise DataError(f"{mpath}: config.dataset is {datasets}; expected one of {sorted(DATASETS)}")
    dataset = datasets[0]
    side, n_train = DATASETS[dataset]
    order = list(dict.fromkeys(table["modeldir"].astype(str)))[: limit or None]
    groups = table.groupby(table["modeldir"].astype(str), sort=False).indices
    models, model_rows = [], []
    for name in order:
        idx = np.asarray(groups[name])
        steps = table["step"].to_numpy()[idx].astype(np.int64)
        if len(set(steps.tolist())) != len(steps):
            raise DataError(f"{mpath}: model {name!r} has the step {steps.tolist()} twice")
        idx = idx[np.argsort(steps, kind="stable")]
        steps = np.sort(steps)
        first = table.iloc[int(idx[0])]
        if str(_value(first, "config.dnn_architecture", "cnn")) != "cnn":
            raise DataError(f"{mpath}: model {name!r} has config.dnn_architecture "
                            f"{first['config.dnn_architecture']!r}; only the published 'cnn' can be imported")
        try:
            model_arch = ConvNetArch(**{
                **arch.__dict__, "activation": str(first["config.activation"]),
                "strides": (int(_value(first, "config.cnn_stride", STRIDE)),) * len(arch.channels),
                "dropout": float(_value(first, "config.dropout", 0.0)),
                "init": str(_value(first, "config.w_init", "kaiming_uniform"))})
        except ConfigError as err:
            raise DataError(f"{mpath}: model {name!r}: {err}") from None
        spec = ModelSpec(arch=model_arch, inputs=(InputSpec("image", c_in),), num_classes=classes, image_size=side)
        optimizer = str(_value(first, "config.optimizer", "sgd"))  # train_network.py's default
        if optimizer.lower() not in OPTIMIZERS:
            raise DataError(f"{mpath}: model {name!r} has config.optimizer {optimizer!r}; expected one of "
                            f"{sorted(OPTIMIZERS)}")
        train = train_config(OPTIMIZERS[optimizer.lower()],
                             lr=float(_value(first, "config.learning_rate", 1e-3)),
                             weight_decay=float(_value(first, "config.l2reg", 0.0)), momentum=0.0,
                             batch_size=int(_value(first, "config.batchsize", BATCH_SIZE)),
                             epochs=int(_value(first, "config.epochs", int(steps[-1]))),
                             seed=int(_value(first, "config.random_seed", 0)))
        rows = table.iloc[idx]
        m = {"train_acc": rows["train_accuracy"], "test_acc": rows["test_accuracy"],
             "train_loss": rows["train_loss"], "test_loss": rows["test_loss"]}
        metrics = {k: v.to_numpy(dtype=np.float64) for k, v in m.items()}
        metrics["gap"] = metrics["train_acc"] - metrics["test_acc"]
        fraction = float(_value(first, "config.train_fraction", 1.0))
        columns = {c: (v.item() if hasattr(v, "item") else v) for c, v in first.items()
                   if c.startswith("config.") and c in METRIC_COLUMNS}
        model_rows.append(idx)
        models.append(ImportedModel(
            name=name, spec=spec, train=train, train_size=int(n_train * fraction), epochs=steps.tolist(),
            load_weights=partial(_load, weights, idx, mapping), metrics=metrics, columns=columns))
    kept, note = extra_columns(table, model_rows, extras, mpath)
    for i, m in enumerate(models):
        m.columns.update({k: v[i] for k, v in kept.items()})
    keep = sorted({e for m in models for e in m.epochs})
    task = image_task(dataset, c_in, side, classes, f"Small CNN Zoo (Unterthiner et al. 2020): {src}")
    return models, task, keep, [note] if note else []
