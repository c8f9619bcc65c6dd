"""Seeded weight initialisation for the fusion-CNN family.

Every draw comes from one explicit ``torch.Generator`` in state-dict order, so a seed
fixes the parameters bit for bit and the global RNG is never touched.

Weight schemes (``fan_in`` = inputs per neuron, ``fan_out`` = outputs per input,
``gain`` = the activation's gain, or 1 for the output layer that no activation follows):

- ``uniform``:          U(-b, b), b = 1/sqrt(fan_in)            (PyTorch's classic default)
- ``normal``:           N(0, s^2), s = 1/sqrt(fan_in)           (LeCun normal)
- ``kaiming_uniform``:  U(-b, b), b = gain * sqrt(3/fan_in)     (std = gain/sqrt(fan_in))
- ``kaiming_normal``:   N(0, s^2), s = gain/sqrt(fan_in)
- ``xavier``:           U(-b, b), b = gain * sqrt(6/(fan_in+fan_out))

Biases are small uniform U(-1/sqrt(fan_in), 1/sqrt(fan_in)) under every scheme, as in
PyTorch's defaults: nonzero so that zoo members differ in their biases from the start.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# gelu has no closed-form gain; it behaves like relu for positive inputs, so relu's is used.
GAINS = {
    "relu": math.sqrt(2.0),
    "gelu": math.sqrt(2.0),
    "leaky_relu": math.sqrt(2.0 / (1.0 + 0.01**2)),
    "tanh": 5.0 / 3.0,
    "sigmoid": 1.0,
}


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a linear ``[out, in]`` or conv ``[out, in, kh, kw]`` weight."""
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def weight_std(init: str, fan_in: int, fan_out: int, gain: float) -> float:
    """Standard deviation that ``init`` gives a weight (for checks and docs)."""
    if init == "uniform":
        return 1.0 / math.sqrt(3.0 * fan_in)
    if init == "normal":
        return 1.0 / math.sqrt(fan_in)
    if init in ("kaiming_uniform", "kaiming_normal"):
        return gain / math.sqrt(fan_in)
    if init == "xavier":
        return gain * math.sqrt(2.0 / (fan_in + fan_out))
    raise ValueError(f"unknown init {init!r}")


@torch.no_grad()
def init_layer(layer: nn.Conv2d | nn.Linear, init: str, gain: float, generator: torch.Generator) -> None:
    fan_in, fan_out = fans(layer.weight)
    std = weight_std(init, fan_in, fan_out, gain)
    if init == "normal" or init == "kaiming_normal":
        layer.weight.normal_(0.0, std, generator=generator)
    else:
        bound = std * math.sqrt(3.0)  # U(-b, b) has std b/sqrt(3)
        layer.weight.uniform_(-bound, bound, generator=generator)
    if layer.bias is not None:
        bound = 1.0 / math.sqrt(fan_in)
        layer.bias.uniform_(-bound, bound, generator=generator)


def init_layers(
    layers: list[nn.Conv2d | nn.Linear], init: str, activation: str, generator: torch.Generator
) -> None:
    """Initialise ``layers`` in order; the last one is the output layer (gain 1)."""
    for i, layer in enumerate(layers):
        gain = 1.0 if i == len(layers) - 1 else GAINS[activation]
        init_layer(layer, init, gain, generator)
