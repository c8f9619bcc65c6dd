"""The functional view on a real mixed zoo (configs/zoos/tiny_wildpark.toml: 3 architectures
of different depths): probe responses have one width for every architecture, are softmax
rows, ignore hidden-neuron order and come from training-split images; learned probes fit on
training models, choose their epoch on validation models and are reproducible by seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hyperrep.augment import Permuter
from hyperrep.downstream.learned_probes import LearnedProbeConfig, ProbeGenPredictor
from hyperrep.downstream.probing import ProbeConfig, probe_set, responses
from zoo import Zoo


def _rows(zoo_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with Zoo.open(zoo_path) as zoo:
        pairs = [(m, e) for m in range(zoo.num_models) for e in zoo.epochs]
        width = max(layout.num_params for layout in zoo.layouts)
        weights = np.zeros((len(pairs), width), np.float32)
        for i, (m, e) in enumerate(pairs):
            w = zoo.weights(m, e)
            weights[i, : w.size] = w
        acc = zoo.metrics.set_index(["model", "epoch"])["test_acc"]
    models = np.array([m for m, _ in pairs])
    return models, weights, np.array([acc[(m, e)] for m, e in pairs])


def test_probe_responses_serve_every_architecture_and_ignore_neuron_order(tiny_wildpark_zoo: Path) -> None:
    models, weights, _ = _rows(tiny_wildpark_zoo)
    probes = probe_set(tiny_wildpark_zoo, ProbeConfig(n=6, seed=1))
    assert "training split" in probes.description and probes.n == 6
    out = responses(tiny_wildpark_zoo, models, weights, probes)
    with Zoo.open(tiny_wildpark_zoo) as zoo:
        classes = zoo.spec(0).num_classes
        layout = zoo.layout_of(4)
    assert out.shape == (len(models), 6 * classes)
    np.testing.assert_allclose(out.reshape(len(models), 6, classes).sum(-1), 1.0, rtol=1e-5)
    # model 4's last checkpoint with its hidden neurons permuted answers the probes the same way
    row = int(np.flatnonzero(models == 4)[-1])
    flat = torch.from_numpy(weights[row : row + 1, : layout.num_params].copy())
    permuted = Permuter(layout)(flat, torch.Generator().manual_seed(0)).numpy()
    assert not np.allclose(permuted, flat.numpy())
    again = responses(tiny_wildpark_zoo, [4], permuted, probes)
    np.testing.assert_allclose(again[0], out[row], rtol=1e-4, atol=1e-6)
    # another seed draws other training images
    other = probe_set(tiny_wildpark_zoo, ProbeConfig(n=6, seed=2))
    assert not torch.equal(next(iter(other.inputs.values())), next(iter(probes.inputs.values())))


def test_learned_probes_choose_on_validation_and_repeat_by_seed(tiny_wildpark_zoo: Path) -> None:
    models, weights, acc = _rows(tiny_wildpark_zoo)
    x = np.concatenate([models[:, None].astype(np.float32), weights], axis=1)
    train, val, test = models < 6, models == 6, models > 6
    cfg = LearnedProbeConfig(probes=4, epochs=3, batch_size=8, seed=3)
    fits = []
    for _ in range(2):
        p = ProbeGenPredictor(str(tiny_wildpark_zoo), cfg).fit(x[train], acc[train], x[val], acc[val])
        fits.append(p.predict(x[test]))
    np.testing.assert_array_equal(fits[0], fits[1])
    assert fits[0].shape == (int(test.sum()),) and np.isfinite(fits[0]).all()
    losses = [h["val_loss"] for h in p.model_.history]
    assert p.chosen.startswith(f"epoch {int(np.argmin(losses)) + 1} of 3")
