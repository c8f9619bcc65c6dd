"""Loss terms: NT-Xent between views, per-layer reconstruction MSE, behavioural MSE."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from eo_tasks.models import Layout


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Normalised-temperature cross entropy: row i of ``z1`` and of ``z2`` are the positive
    pair, all other rows of both views are negatives. Inputs ``[B, d]``, L2-normalised."""
    B = z1.shape[0]
    z = torch.cat([z1, z2]).float()
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * B, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(B, 2 * B), torch.arange(0, B)]).to(z.device)
    return F.cross_entropy(sim, target)


def layer_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, layer: torch.Tensor,
              num_layers: int) -> torch.Tensor:
    """MSE over real entries, averaged within each layer first, then over layers (and samples),
    so that a large layer does not drown the small ones.

    ``pred``/``target`` ``[B, W, D]``; ``mask`` ``[B, W, D]`` (bool); ``layer`` ``[B, W]``.
    """
    err = ((pred.float() - target.float()) ** 2 * mask).sum(-1)  # [B, W]
    count = mask.sum(-1).to(err.dtype)
    B = err.shape[0]
    per_sse = err.new_zeros(B, num_layers).scatter_add_(1, layer, err)
    per_n = err.new_zeros(B, num_layers).scatter_add_(1, layer, count)
    present = per_n > 0
    per = per_sse / per_n.clamp(min=1)
    return ((per * present).sum(1) / present.sum(1)).mean()


class R2Meter:
    """Streaming R^2 = 1 - SSE / SST over many batches of standardised weights.

    SST is taken around zero, i.e. around each layer's training-split mean: the baseline
    that scores 0 predicts every weight as its layer's mean. (Per-entry means over a
    handful of validation models would be a far noisier baseline, and permutation
    symmetry makes per-entry means of a zoo carry little meaning anyway.)
    """

    def __init__(self) -> None:
        self.sse = 0.0
        self.sst = 0.0

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        pred, target = pred.double(), target.double()
        self.sse += float(((pred - target) ** 2).sum())
        self.sst += float((target**2).sum())

    def value(self) -> float:
        return 1.0 - self.sse / self.sst if self.sst > 0 else float("nan")


def batched_params(layout: Layout, flat: torch.Tensor) -> dict[str, torch.Tensor]:
    """``[B, P]`` -> state dict of ``[B, *shape]`` tensors (views, differentiable)."""
    return {t.name: flat[:, t.offset : t.offset + t.size].reshape(flat.shape[0], *t.shape) for t in layout.tensors}


def run_models(net: nn.Module, layout: Layout, flat: torch.Tensor, probe: Mapping[str, torch.Tensor],
               vectorise: bool | None = None) -> torch.Tensor:
    """Outputs ``[B, N, classes]`` of the network ``net`` under each row of ``flat`` on ``probe``.

    ``net`` must be in eval mode (no dropout); its own parameters are not used. ``vectorise``
    None chooses: on one CPU thread the models run one after another on a channels-last probe
    (under ``vmap`` torch's CPU max-pool takes the slow NCHW path, and the loop is about 1.8x
    faster with the same outputs: benchmarks/train_memory_format.py); with more threads, or on
    a GPU, ``vmap``. True or False forces ``vmap`` or the loop.
    """
    params = batched_params(layout, flat)
    if vectorise is None:
        vectorise = not (flat.device.type == "cpu" and torch.get_num_threads() == 1)
    if not vectorise:
        probe = {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v for k, v in probe.items()}
        return torch.stack([functional_call(net, {k: v[i] for k, v in params.items()}, (probe,))
                            for i in range(flat.shape[0])])
    probe = dict(probe)

    def one(p: dict[str, torch.Tensor]) -> torch.Tensor:
        return functional_call(net, p, (probe,))

    return vmap(one)(params)


def behaviour_mse(net: nn.Module, layout: Layout, recon_flat: torch.Tensor, true_flat: torch.Tensor,
                  probe: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """MSE between the outputs of the reconstructed and the original weights on ``probe``;
    differentiable in ``recon_flat``."""
    with torch.no_grad():
        target = run_models(net, layout, true_flat.float(), probe)
    return F.mse_loss(run_models(net, layout, recon_flat.float(), probe), target)
