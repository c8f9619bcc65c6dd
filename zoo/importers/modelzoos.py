"""Importing a zoo of the Model Zoos dataset of Schürholt et al. 2022 ("Model Zoos: A
Dataset of Diverse Populations of Neural Network Models"; HSG-AIML, ModelZooDataset).

A zoo is a folder (e.g. ``tune_zoo_mnist_hyperparameter_10_random_seeds``) of Ray Tune
trial folders ``NN_tune_trainable_<...>_seed=<...>/``, each with

- ``params.json``: the trial's config, keys such as ``model::type`` (CNN, CNN2, CNN3),
  ``model::channels_in``, ``model::nlin``, ``model::dropout``, ``model::init_type``,
  ``optim::optimizer``, ``optim::lr``, ``optim::wd``, ``optim::momentum``,
  ``training::batchsize``, ``training::epochs_train``, ``seed``;
- ``result.json``: one JSON object per line and epoch, with ``training_iteration``,
  ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``test_loss``, ``test_acc``
  (all six read; one a line lacks is NaN; the first line, before training, has the
  sentinel -999 for the train values, read as NaN);
- ``checkpoint_<epoch>/checkpoints`` (``checkpoint_000050`` or ``checkpoint_50``): the
  ``torch.save`` of the model's state dict (``module_list.<i>.weight/bias``).

Other files and folders of the zoo (``config.json``, ``dataset.pt``, ``readme.md``) are
not read. The architectures (def_net.py): conv -> 2x2 max-pool -> activation blocks
without padding, flatten, linear(20) -> activation -> linear(10). The output layer is
10-way whatever ``model::o_dim`` says (the "uniform" zoos' generators set o_dim 4, which
def_net.py ignores), so the class count is read from the checkpoint's output layer; where
o_dim disagrees the trial's ``o_dim_note`` column says so, and so does a zoo note.

- CNN  (28x28): conv 8@5x5, 6@5x5 (each pooled), 4@2x2; 2464 parameters for 1 channel;
- CNN2 (28x28): conv 6@5x5, 9@5x5 (each pooled), 6@2x2;
- CNN3 (32x32): conv 16@3x3, 32@3x3, 15@3x3, each pooled.
"""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path

import numpy as np

from eo_tasks.data import DataError
from eo_tasks.models import ConvNetArch, InputSpec, ModelSpec
from zoo.importers.common import ImportedModel, image_task, train_config

FORMAT = "modelzoos"
# model::type -> (conv channels, kernels, pools, hidden, image side)
ARCHS = {
    "CNN": ((8, 6, 4), (5, 5, 2), (2, 2, 0), (20,), 28),
    "CNN2": ((6, 9, 6), (5, 5, 2), (2, 2, 0), (20,), 28),
    "CNN3": ((16, 32, 15), (3, 3, 3), (2, 2, 2), (20,), 32),
}
ACTIVATIONS = {"leakyrelu": "leaky_relu", "relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "silu": "silu",
               "gelu": "gelu"}
REQUIRED = ("model::type", "model::channels_in", "model::nlin", "model::dropout", "model::init_type",
            "optim::optimizer", "optim::lr", "optim::wd", "training::batchsize", "seed")
# optim::optimizer (def_net.py's set_optimizer) -> the zoo's optimizer column (eo_tasks' name)
OPTIMIZERS = {"adam": "adam", "sgd": "sgd", "rms_prop": "rmsprop"}
# def_net.py's output layer, whatever model::o_dim says; used only for a zoo without any checkpoint
DEF_NET_CLASSES = 10
# the per-trial column that says where params.json's o_dim disagrees with the checkpoint ("" where not)
O_DIM_NOTE = "o_dim_note"
RESULT_METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "val_loss", "val_acc")
_CHECKPOINT = re.compile(r"checkpoint_(\d+)$")


def model_spec(params: dict, where: Path, classes: int) -> ModelSpec:
    kind = params["model::type"]
    if kind not in ARCHS:
        raise DataError(f"{where}: model::type {kind!r} is not a published CNN; expected one of {sorted(ARCHS)}")
    nlin = params["model::nlin"]
    if nlin not in ACTIVATIONS:
        raise DataError(f"{where}: model::nlin {nlin!r}; expected one of {sorted(ACTIVATIONS)}")
    channels, kernels, pools, hidden, side = ARCHS[kind]
    n = len(channels)
    arch = ConvNetArch(channels=channels, kernel_sizes=kernels, strides=(1,) * n, paddings=(0,) * n, pools=pools,
                       pool_before_activation=True, readout="flatten", hidden=hidden,
                       activation=ACTIVATIONS[nlin], dropout=float(params["model::dropout"]),
                       init=str(params["model::init_type"]))
    return ModelSpec(arch=arch, inputs=(InputSpec("image", int(params["model::channels_in"])),),
                     num_classes=classes, image_size=side)


def o_dim(params: dict, where: Path) -> int | None:
    """params.json's ``model::o_dim`` (None where absent)."""
    v = params.get("model::o_dim")
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or v < 1:
        raise DataError(f"{where}: model::o_dim {v!r}; expected a positive integer")
    return int(v)


def _read_state(file: Path) -> dict:
    import torch

    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged or foreign file
        raise DataError(f"{file}: cannot be read as a torch state dict ({type(err).__name__}: {err})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise DataError(f"{file}: expected a state dict of tensors")
    return state


def checkpoint_classes(file: Path) -> int:
    """The class count of the checkpoint's output layer (its last 2-d ``.weight``)."""
    linear = [v for k, v in _read_state(file).items() if k.endswith(".weight") and v.ndim == 2]
    if not linear:
        raise DataError(f"{file}: no linear layer (2-d .weight tensor); expected def_net.py's CNN state dict")
    return int(linear[-1].shape[0])


def read_params(folder: Path) -> dict:
    path = folder / "params.json"
    try:
        params = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    missing = [k for k in REQUIRED if k not in params]
    if missing:
        raise DataError(f"{path}: missing keys {missing}; expected the published trial config with {list(REQUIRED)}")
    if params["optim::optimizer"] not in OPTIMIZERS:
        raise DataError(f"{path}: optim::optimizer {params['optim::optimizer']!r}; "
                        f"expected one of {sorted(OPTIMIZERS)}")
    return params


def read_results(folder: Path) -> dict[int, dict]:
    """result.json lines by training_iteration (an absent file: no metrics)."""
    path = folder / "result.json"
    if not path.is_file():
        raise DataError(f"{path}: missing; expected one JSON object per line and epoch (Ray Tune's result.json)")
    out = {}
    for n, line in enumerate(path.read_text().splitlines()):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: line {n + 1} is not JSON ({err})") from None
        if "training_iteration" not in row:
            raise DataError(f"{path}: line {n + 1} has no training_iteration")
        out[int(row["training_iteration"])] = row
    return out


def checkpoints(folder: Path) -> dict[int, Path]:
    found = {}
    for sub in folder.iterdir():
        match = _CHECKPOINT.match(sub.name)
        if match and sub.is_dir():
            file = sub / "checkpoints"
            if not file.is_file():
                raise DataError(f"{file}: missing; expected the torch.save of the model's state dict")
            found[int(match.group(1))] = file
    return dict(sorted(found.items()))


def load_state(file: Path, layout) -> np.ndarray:
    """A checkpoint's state dict -> flat vector in ``layout``'s order, checking every shape."""
    import torch

    state = _read_state(file)
    params = [(k, v) for k, v in state.items() if k.endswith((".weight", ".bias"))]
    want = [(t.name, t.shape) for t in layout.tensors]
    got = [tuple(v.shape) for _, v in params]
    if len(params) != len(state) or got != [s for _, s in want]:
        raise DataError(f"{file}: tensors {[(k, tuple(v.shape)) for k, v in state.items()]}; expected, in order, "
                        f"weight/bias tensors of shapes {[s for _, s in want]}")
    return np.concatenate([v.detach().to(torch.float32).reshape(-1).numpy() for _, v in params])


def _load(files: list[Path], layout) -> np.ndarray:
    return np.stack([load_state(f, layout) for f in files])


def _metric(row: dict | None, key: str) -> float:
    v = None if row is None else row.get(key)
    if not isinstance(v, (int, float)) or v == -999:  # -999: the trainable's "no training yet" sentinel
        return float("nan")
    return float(v)


def _class_counts(trials: list[tuple[Path, dict, dict[int, Path]]]) -> list[tuple[int, str]]:
    """Per trial: (class count, o_dim_note). The checkpoint's output layer decides; a trial
    without checkpoints takes the other trials' count (all agreeing), else o_dim, else 10."""
    found = [checkpoint_classes(next(iter(ck.values()))) if ck else None for _, _, ck in trials]
    others = sorted({c for c in found if c is not None})
    out = []
    for (folder, params, _), classes in zip(trials, found):
        declared = o_dim(params, folder / "params.json")
        source = "the checkpoint's output layer has"
        if classes is None:
            classes, source = ((others[0], "the zoo's checkpoints (this trial has none) have") if len(others) == 1
                               else (declared or DEF_NET_CLASSES, ""))
        note = "" if declared is None or declared == classes else (
            f"params.json model::o_dim {declared}, but {source} {classes} classes: {classes} used")
        out.append((classes, note))
    return out


def read_modelzoos(src: str | Path, dataset: str | None = None, limit: int | None = None):
    """(models, TaskInfo, kept epochs, notes) of one zoo folder of the Model Zoos dataset;
    the notes (text lines) say where params.json's o_dim disagrees with the checkpoints."""
    from eo_tasks.models import layout_for

    src = Path(src)
    if not src.is_dir():
        raise DataError(f"{src}: not a folder; expected a Model Zoos zoo folder of trial folders with params.json")
    folders = sorted(p for p in src.iterdir() if p.is_dir() and (p / "params.json").is_file())[: limit or None]
    if not folders:
        raise DataError(f"{src}: no trial folders (NN_tune_trainable_*/ with params.json) in it")
    trials = [(folder, read_params(folder), checkpoints(folder)) for folder in folders]
    models, specs = [], set()
    for (folder, params, ckpts), (classes, note) in zip(trials, _class_counts(trials)):
        spec = model_spec(params, folder / "params.json", classes)
        specs.add((spec.image_size, spec.inputs[0].channels, spec.num_classes))
        results = read_results(folder)
        layout = layout_for(spec)
        epochs = list(ckpts)
        metrics = {k: np.array([_metric(results.get(e), k) for e in epochs]) for k in RESULT_METRICS}
        metrics["gap"] = metrics["train_acc"] - metrics["test_acc"]
        train = train_config(OPTIMIZERS[params["optim::optimizer"]], lr=float(params["optim::lr"]),
                             weight_decay=float(params["optim::wd"]),
                             momentum=float(params.get("optim::momentum", 0.9)),
                             batch_size=int(params["training::batchsize"]),
                             epochs=int(params.get("training::epochs_train", max(epochs, default=0))),
                             seed=int(params["seed"]))
        columns = {k: v for k, v in params.items() if k.startswith(("model::", "optim::", "training::"))
                   and isinstance(v, (str, int, float)) and not isinstance(v, bool)}
        columns[O_DIM_NOTE] = note
        if ckpts:  # a damaged checkpoint is found before anything is written
            load_state(next(iter(ckpts.values())), layout)
        models.append(ImportedModel(name=folder.name, spec=spec, train=train, train_size=0, epochs=epochs,
                                    load_weights=partial(_load, list(ckpts.values()), layout), metrics=metrics,
                                    columns=columns))
    if len(specs) != 1:
        raise DataError(f"{src}: trials of different tasks (image size, channels, classes) {sorted(specs)}; "
                        "import one zoo at a time")
    side, channels, classes = specs.pop()
    task = image_task(dataset or src.name, channels, side, classes, f"Model Zoos (Schürholt et al. 2022): {src}")
    keep = sorted({e for m in models for e in m.epochs})
    disagree = [m for m in models if m.columns[O_DIM_NOTE]]
    notes = [f"params.json model::o_dim disagrees with the checkpoints' output layer in {len(disagree)} of "
             f"{len(models)} trials (def_net.py builds a {classes}-way output layer whatever o_dim says): the class "
             f"count is taken from the checkpoints; per trial in the column {O_DIM_NOTE}"] if disagree else []
    return models, task, keep, notes
