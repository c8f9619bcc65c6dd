"""Tiny public zoos in their published formats, and the source networks in plain torch.

Small CNN Zoo (Unterthiner et al. 2020): ``weights.npy`` [checkpoints, 4970] in Keras
order (per layer bias, then kernel; conv kernels [kh, kw, in, out], dense [in, out]),
``metrics.csv.gz`` (one row per checkpoint, index column = checkpoint path, plus the
``laststep`` flag that the real table carries beyond the README's columns) and
``layout.csv``: the real published file (five columns ``varname,start_idx,end_idx,size,shape``)
copied from the shared data folder, or, where that is absent, the same five columns written
here. Model Zoos (Schürholt et al. 2022): trial folders with ``params.json`` (``model::o_dim``
4 by default, as the "uniform" zoos' generators write it), ``result.json`` (JSON lines, with
val_loss / val_acc) and ``checkpoint_<6 digits>/checkpoints`` (the state dict of def_net.py's
module_list CNN, whose output layer is 10-way whatever o_dim says). The reference networks
below are written from the papers' architecture descriptions, independently of
eo_tasks.models.
"""

from __future__ import annotations

import ast
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

REAL_LAYOUT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "public-zoos" / "small-cnn-zoo" / \
    "layout.csv"
UNTERTHINER_EPOCHS = (0, 1, 2, 3, 20, 40, 60, 80, 86)
# (varname, Keras shape) in the published flat order: bias before kernel in every layer; used
# only where the real layout.csv is absent
KERAS_VARS = [
    ("sequential/conv2d/bias:0", (16,)), ("sequential/conv2d/kernel:0", (3, 3, 1, 16)),
    ("sequential/conv2d_1/bias:0", (16,)), ("sequential/conv2d_1/kernel:0", (3, 3, 16, 16)),
    ("sequential/conv2d_2/bias:0", (16,)), ("sequential/conv2d_2/kernel:0", (3, 3, 16, 16)),
    ("sequential/dense/bias:0", (10,)), ("sequential/dense/kernel:0", (16, 10)),
]


def generated_layout() -> str:
    """The five-column layout.csv text for KERAS_VARS, as the published file writes it."""
    rows, start = [], 0
    for name, shape in KERAS_VARS:
        size = int(np.prod(shape))
        rows.append({"varname": name, "start_idx": start, "end_idx": start + size, "size": size,
                     "shape": str(shape)})
        start += size
    return pd.DataFrame(rows).to_csv(index=False)


def write_layout(folder: Path) -> bool:
    """``folder/layout.csv``: the real file where the shared data has it (True), else the
    generated five-column equivalent (False)."""
    if REAL_LAYOUT.is_file():
        shutil.copyfile(REAL_LAYOUT, folder / "layout.csv")
        return True
    (folder / "layout.csv").write_text(generated_layout())
    return False


def read_keras_layout(path: Path) -> list[tuple[str, int, int, tuple[int, ...]]]:
    """(varname, start, end, Keras shape) per row of a layout.csv, read with the csv module."""
    with path.open(newline="") as f:
        return [(r["varname"], int(r["start_idx"]), int(r["end_idx"]), tuple(ast.literal_eval(r["shape"])))
                for r in csv.DictReader(f)]


def write_unterthiner(folder: Path, n_models: int = 3, dataset: str = "mnist", seed: int = 0,
                      crashed: bool = True, laststep: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """A dataset folder of ``n_models`` CNNs; with ``crashed`` the last model stopped after
    epoch 20 (fewer rows, as in the published MNIST and SVHN matrices); with ``laststep``
    the metrics table has that extra per-checkpoint flag (True on a model's last row)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    write_layout(folder)
    num_weights = read_keras_layout(folder / "layout.csv")[-1][2]
    rows, weights = [], []
    acts, inits, opts = ["relu", "tanh"], ["he_normal", "glorot_uniform", "RandomNormal"], ["adam", "sgd", "rmsprop"]
    for m in range(n_models):
        modeldir = f"/workdir/{dataset}/run_{m:04d}"
        steps = UNTERTHINER_EPOCHS[:5] if crashed and m == n_models - 1 else UNTERTHINER_EPOCHS
        for step in steps:
            weights.append((rng.standard_normal(num_weights) * 0.3).astype(np.float32))
            train_acc, test_acc = rng.uniform(0.1, 1.0), rng.uniform(0.1, 1.0)
            rows.append({
                "checkpoint": f"{modeldir}/permanent_ckpt-{step}",
                "config.activation": acts[m % 2], "config.b_init": "zeros", "config.dataset": dataset,
                "config.dnn_architecture": "cnn", "config.dropout": [0.0, 0.05, 0.2][m % 3], "config.epochs": 86,
                "config.epochs_between_checkpoints": 20,
                "config.init_std": float(rng.uniform(0.01, 0.5)) if m else 0.05,
                "config.l2reg": float(10 ** rng.uniform(-8, -2)),
                "config.learning_rate": float(10 ** rng.uniform(-4, -1)),
                "config.num_layers": 3, "config.num_units": 16, "config.optimizer": opts[m % 3],
                "config.random_seed": 42, "config.train_fraction": [0.1, 0.25, 0.5, 1.0][m % 4],
                "config.w_init": inits[m % 3], "modeldir": modeldir, "step": step,
                "test_accuracy": test_acc, "test_loss": float(rng.uniform(0.1, 3)),
                "train_accuracy": train_acc, "train_loss": float(rng.uniform(0.1, 3)),
                **({"laststep": step == steps[-1]} if laststep else {}),
            })
    table = pd.DataFrame(rows).set_index("checkpoint")
    # every checkpoint of a model has that model's config (drawn on its first row)
    for col in [c for c in table.columns if c.startswith("config.")]:
        table[col] = table.groupby("modeldir")[col].transform("first")
    table.index.name = None  # the published index (checkpoint paths) has no header
    table.to_csv(folder / "metrics.csv.gz", compression="gzip")
    flat = np.stack(weights)
    np.save(folder / "weights.npy", flat)
    return flat, table


def keras_cnn_forward(flat: np.ndarray, x: torch.Tensor, activation: str, layout: Path) -> torch.Tensor:
    """Train_network.py's build_cnn (Conv2D 3x3 stride 2 valid + activation, per conv layer;
    global average pooling; Dense) on NCHW images, computed from the Keras arrays that the
    fixture's ``layout`` file places in ``flat``, by explicit patch sums (no Conv2d layer),
    so it checks the importer's transposes independently."""
    arrays, layers = {}, []
    for name, start, end, shape in read_keras_layout(layout):
        arrays[name] = torch.from_numpy(flat[start:end].reshape(shape).astype(np.float64))
        layer = name.rsplit("/", 1)[0]
        if layer not in layers:
            layers.append(layer)
    act = {"relu": torch.relu, "tanh": torch.tanh}[activation]
    h = x.double().permute(0, 2, 3, 1)  # NHWC, as Keras
    for layer in layers[:-1]:  # the conv layers, then the dense one
        kernel, bias = arrays[f"{layer}/kernel:0"], arrays[f"{layer}/bias:0"]
        k = kernel.shape[0]
        out_side = (h.shape[1] - k) // 2 + 1
        patches = torch.stack([torch.stack([h[:, i:i + 2 * out_side - 1:2, j:j + 2 * out_side - 1:2, :]
                                            for j in range(k)], dim=3) for i in range(k)], dim=3)  # B,H',W',k,k,C
        h = act(torch.einsum("bxyijc,ijco->bxyo", patches, kernel) + bias)
    pooled = h.mean(dim=(1, 2))
    return pooled @ arrays[f"{layers[-1]}/kernel:0"] + arrays[f"{layers[-1]}/bias:0"]


class ModelZoosCNN(nn.Module):
    """def_net.py's CNN / CNN3 as published: module_list of conv, max-pool, activation
    (dropout when > 0), .., flatten, linear(20), activation, (dropout), linear(10)."""

    def __init__(self, kind: str, channels_in: int, nlin: str, dropout: float) -> None:
        super().__init__()
        act = {"tanh": nn.Tanh, "relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "sigmoid": nn.Sigmoid,
               "gelu": nn.GELU}[nlin]
        convs = {"CNN": [(channels_in, 8, 5, True), (8, 6, 5, True), (6, 4, 2, False)],
                 "CNN3": [(channels_in, 16, 3, True), (16, 32, 3, True), (32, 15, 3, True)]}[kind]
        mods: list[nn.Module] = []
        for cin, cout, k, pool in convs:
            mods.append(nn.Conv2d(cin, cout, k))
            if pool:
                mods.append(nn.MaxPool2d(2, 2))
            mods.append(act())
            if dropout > 0 and (pool or kind == "CNN3"):
                mods.append(nn.Dropout(dropout))
        features = {"CNN": 36, "CNN3": 60}[kind]
        mods += [nn.Flatten(), nn.Linear(features, 20), act()]
        if dropout > 0:
            mods.append(nn.Dropout(dropout))
        mods.append(nn.Linear(20, 10))
        self.module_list = nn.ModuleList(mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.module_list:
            x = layer(x)
        return x


def write_modelzoos(folder: Path, n_models: int = 3, kind: str = "CNN", epochs: int = 3,
                    seed: int = 0, o_dim: int = 4) -> dict[str, dict[int, dict[str, torch.Tensor]]]:
    """A zoo folder of ``n_models`` trials whose params.json say ``model::o_dim`` = ``o_dim``
    (their checkpoints are 10-way all the same); returns trial name -> epoch -> state dict."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")  # the zoo-level files the importer leaves alone
    (folder / "readme.md").write_text("")
    gen = torch.Generator().manual_seed(seed)
    nlins, inits = ["tanh", "relu", "sigmoid", "gelu", "leakyrelu"], ["uniform", "normal", "kaiming_uniform"]
    channels_in = 1 if kind == "CNN" else 3
    out: dict[str, dict[int, dict[str, torch.Tensor]]] = {}
    for m in range(n_models):
        params = {"model::type": kind, "model::channels_in": channels_in, "model::o_dim": o_dim,
                  "model::nlin": nlins[m % len(nlins)], "model::dropout": [0.0, 0.5][m % 2],
                  "model::init_type": inits[m % 3], "optim::optimizer": ["adam", "sgd", "rms_prop"][m % 3],
                  "optim::lr": [1e-3, 1e-4][m % 2], "optim::wd": [1e-3, 1e-4][(m // 2) % 2], "optim::momentum": 0.9,
                  "seed": 1000 + m, "training::batchsize": 10, "training::epochs_train": epochs,
                  "training::start_epoch": 1, "training::output_epoch": 1, "cuda": False,
                  "dataset::dump": "/zoos/MNIST/dataset.pt"}
        trial = folder / f"NN_tune_trainable_{m:05d}_{m}_model::nlin={params['model::nlin']},seed={params['seed']}"
        trial.mkdir()
        (trial / "params.json").write_text(json.dumps(params))
        net = ModelZoosCNN(kind, channels_in, params["model::nlin"], params["model::dropout"])
        lines, states = [], {}
        for e in range(epochs + 1):
            with torch.no_grad():
                for p in net.parameters():
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
            ck = trial / f"checkpoint_{e:06d}"
            ck.mkdir()
            state = {k: v.clone() for k, v in net.state_dict().items()}
            torch.save(state, ck / "checkpoints")
            torch.save({}, ck / "optimizer")
            states[e] = state
            r = torch.rand(6, generator=gen).tolist()
            lines.append(json.dumps({"train_loss": -999 if e == 0 else r[0] * 2, "train_acc": -999 if e == 0 else r[1],
                                     "val_loss": r[4] * 2, "val_acc": r[5],
                                     "test_loss": r[2] * 2, "test_acc": r[3], "training_iteration": e,
                                     "trial_id": f"{m:05d}", "done": e == epochs}))
        (trial / "result.json").write_text("\n".join(lines) + "\n")
        out[trial.name] = states
    return out


def modelzoos_forward(kind: str, params: dict, state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    net = ModelZoosCNN(kind, params["model::channels_in"], params["model::nlin"], params["model::dropout"])
    net.load_state_dict(state)
    return net.eval()(x)
