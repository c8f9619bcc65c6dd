"""Reconstruction quality of hyperrep on a real (small) zoo: decoded models must work.

A zoo of small CNNs is generated with Ray once for this module; a small per-token
hyper-representation with the behavioural loss is trained on it. Its decoded training-split
models must keep most of their test accuracy, and unseen (validation-split) models must be
reconstructed clearly better than their layer means (R^2 > 0). The old summary-token
bottleneck (a few dozen values per model) fails both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hyperrep.config import HyperRepConfig
from hyperrep.data import WeightSet, from_zoo
from hyperrep.losses import R2Meter
from hyperrep.run import HyperRep
from hyperrep.train import train_hyperrep
from zoo_configs import small_cnn_zoo

ZOO_TOML = small_cnn_zoo(
    images=300, hidden=8, epochs=5, batch_size=16, lr=0.005,
    population="""
[population.random]
n = 12
seed = 3
activation = {choice = ["relu", "tanh"]}
lr = {log_uniform = [3e-3, 1e-2]}
""",
)

CONFIG = {
    "model": {"d_model": 64, "depth": 1, "heads": 4, "lat_dim": 32, "proj_dim": 16},
    "augment": {"noise_add": 0.02, "noise_mul": 0.02, "erase_block": 0.1},
    "loss": {"gamma": 0.05, "behaviour": 0.1, "probe_size": 32, "probe_pool": 256},
    "train": {"epochs": 40, "batch_size": 16, "lr": 3e-3, "device": "cpu", "threads": 1,
              "checkpoint_every": 100},
}
MIN_RATIO = 0.7  # decoded / original test accuracy, late training-split checkpoints
MIN_VAL_R2 = 0.2


@pytest.fixture(scope="module")
def zoo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from zoo import generate, spec_from_text

    folder = tmp_path_factory.mktemp("quality-zoo")
    report = generate(spec_from_text(ZOO_TOML, "quality test zoo"), folder / "zoo.h5", max_workers=2,
                      progress=None)
    assert report.status.get("done") == 12, report.status
    return folder / "zoo.h5"


def r2(rep: HyperRep, weights: np.ndarray) -> float:
    std = rep.standardizer
    meter = R2Meter()
    meter.update(std.forward(torch.from_numpy(rep.reconstruct(weights))), std.forward(torch.from_numpy(weights)))
    return meter.value()


def accuracy_ratio(rep: HyperRep, ws: WeightSet, zoo: Path, split: str) -> float:
    """Mean over the split's last two checkpoints of decoded / original test accuracy."""
    from hyperrep.sampling.context import open_context
    from hyperrep.sampling.evaluate import Evaluator

    ctx = open_context(zoo, split_seed=rep.config.data.split_seed, layout=rep.layout)
    rows = ws.rows(split)
    rows = rows[ws.epoch[rows] >= ws.epoch.max() - 1]
    decoded = rep.reconstruct(ws.weights[rows])
    ratios = []
    for row, dec in zip(rows, decoded):
        ev = Evaluator(ctx.specs[int(ws.model[row])], ctx.data)
        orig = ev.metrics(ws.weights[row], ("test",))["test_acc"]
        ratios.append(ev.metrics(dec, ("test",))["test_acc"] / orig)
    return float(np.mean(ratios))


def quality(zoo: Path, run: Path, **model: object) -> tuple[float, float, float]:
    """(decoded/original accuracy on training models, training R^2, validation R^2)."""
    raw = {k: dict(v) for k, v in CONFIG.items()}
    raw["model"].update(model)
    cfg = HyperRepConfig.from_dict(raw)
    ws = from_zoo(zoo, cfg.data)
    rep = train_hyperrep(ws, cfg, run).rep
    return (accuracy_ratio(rep, ws, zoo, "train"), r2(rep, ws.weights[ws.rows("train")]),
            r2(rep, ws.weights[ws.rows("val")]))


def test_decoded_models_work_and_unseen_models_reconstruct(tmp_path: Path, zoo_path: Path) -> None:
    ratio, train_r2, val_r2 = quality(zoo_path, tmp_path / "tokens")
    assert ratio >= MIN_RATIO, (ratio, train_r2, val_r2)
    assert val_r2 >= MIN_VAL_R2, (ratio, train_r2, val_r2)


def test_summary_token_bottleneck_fails_the_same_bar(tmp_path: Path, zoo_path: Path) -> None:
    # the older design: 4 summary tokens x 8 values for the whole model (~870 weights)
    ratio, train_r2, val_r2 = quality(zoo_path, tmp_path / "summary", embedding="summary", latent_tokens=4,
                                      lat_dim=8)
    assert ratio < MIN_RATIO and val_r2 < MIN_VAL_R2, (ratio, train_r2, val_r2)
