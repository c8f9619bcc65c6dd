"""Loss terms of hyperrep: NT-Xent, per-layer MSE, R^2 and the behavioural loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eo_tasks.models import build_model
from hyperrep.losses import R2Meter, behaviour_mse, layer_mse, nt_xent, run_models
from test_hyperrep_augment import random_inputs
from test_hyperrep_tokens import make_spec, zoo_weights


def test_nt_xent_rewards_matching_views() -> None:
    gen = torch.Generator().manual_seed(0)
    z = F.normalize(torch.randn(8, 16, generator=gen), dim=1)
    other = F.normalize(torch.randn(8, 16, generator=gen), dim=1)
    matched = nt_xent(z, z, temperature=0.1)
    assert matched < nt_xent(z, other, temperature=0.1)
    assert matched < nt_xent(z, z.roll(1, dims=0), temperature=0.1)


def test_layer_mse_weights_layers_equally() -> None:
    # layer 0 has 3 tokens of error 1, layer 1 one token of error 0: mean over layers = 0.5
    pred = torch.zeros(1, 4, 2)
    target = torch.tensor([[[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [0.0, 0.0]]])
    mask = torch.ones(1, 4, 2, dtype=torch.bool)
    layer = torch.tensor([[0, 0, 0, 1]])
    assert layer_mse(pred, target, mask, layer, num_layers=3).item() == 0.5
    mask[0, 0, 1] = False  # masked entries do not count
    target[0, 0, 1] = 100.0
    assert layer_mse(pred, target, mask, layer, num_layers=3).item() == 0.5


def test_r2_meter_streams() -> None:
    gen = torch.Generator().manual_seed(1)
    y = torch.randn(10, 5, generator=gen)
    meter = R2Meter()
    meter.update(y[:4] * 0.5, y[:4])
    meter.update(y[4:] * 0.5, y[4:])
    assert abs(meter.value() - (1 - ((0.5 * y) ** 2).sum() / (y**2).sum()).item()) < 1e-9
    perfect = R2Meter()
    perfect.update(y, y)
    assert perfect.value() == 1.0


@pytest.fixture(params=[1, 2], ids=["one-thread-loop", "vmap"])
def threads(request):
    """run_models loops over the models on one CPU thread and vmaps them otherwise: test both."""
    old = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(old)


def test_behaviour_loss_runs_the_real_models_and_is_differentiable(threads) -> None:
    spec = make_spec("late")
    net = build_model(spec).eval()
    flat = zoo_weights(spec, n=3)
    probe = random_inputs(spec, 6, seed=0)
    out = run_models(net, net.layout, flat, probe)
    assert out.shape == (3, 6, 5)
    with torch.no_grad():  # the batched functional call equals loading each model
        for b in range(3):
            net.load_state_dict(net.layout.unflatten(flat[b]))
            torch.testing.assert_close(out[b], net(probe))
    assert behaviour_mse(net, net.layout, flat, flat, probe).item() == 0.0
    recon = (flat + 0.01 * torch.randn(flat.shape, generator=torch.Generator().manual_seed(2))).requires_grad_()
    loss = behaviour_mse(net, net.layout, recon, flat, probe)
    loss.backward()
    assert loss.item() > 0 and recon.grad is not None and recon.grad.abs().sum() > 0


def test_learning_rate_schedules() -> None:
    from hyperrep.train import lr_factor

    total = 100
    cosine = [lr_factor(s, total, "cosine", warmup=0.1) for s in range(total)]
    assert cosine[0] < cosine[5] < cosine[10] == max(cosine) and cosine[-1] < 0.01
    assert all(a >= b for a, b in zip(cosine[10:], cosine[11:]))  # decays after the warm-up
    onecycle = [lr_factor(s, total, "onecycle", warmup=0.0) for s in range(total)]
    assert int(np.argmax(onecycle)) == 30 and onecycle[0] < 0.1 and onecycle[-1] < 0.01
    assert [lr_factor(s, total, "constant", warmup=0.0) for s in (0, 50, 99)] == [1.0, 1.0, 1.0]
