"""The torch module of a :class:`~eo_tasks.models.convspec.ConvNetArch` spec, and its layout.

State-dict keys are ``conv<i>.{weight,bias}``, ``fc<j>.{weight,bias}`` (hidden linear
layers) and ``out.{weight,bias}``, in that order, in torch's shapes (conv ``[out, in, kh,
kw]``, linear ``[out, in]``). The symmetry groups are the output channels of every
convolution and the units of every hidden layer: channel ``c`` of the last convolution
feeds input ``c`` of the first linear layer after global average pooling, and inputs
``c*H*W .. (c+1)*H*W`` after a (channel-major) flatten.

Like :class:`eo_tasks.models.family.FusionCNN` it takes ``{input name: [B, C, S, S]}``
and has a ``layout``; ``build_model``, ``load_flat`` and ``flat_weights`` of
:mod:`eo_tasks.models.family` serve both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from eo_tasks.config import ConfigError
from eo_tasks.models.convspec import ConvNetArch
from eo_tasks.models.init import GAINS, init_layer
from eo_tasks.models.layout import AxisBlock, LayerSpec, Layout, SymmetryGroup
from eo_tasks.models.spec import ModelSpec

_ACTIVATIONS = {
    "relu": F.relu,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "sigmoid": torch.sigmoid,
    "leaky_relu": lambda x: F.leaky_relu(x, negative_slope=0.01),  # torch's default, as Model Zoos uses
    "silu": F.silu,
    "selu": F.selu,
    "elu": F.elu,
}
# the source's init names -> the nearest scheme of eo_tasks.models.init (for fresh models only)
_INIT_SCHEMES = {
    "uniform": "uniform", "normal": "normal", "kaiming_uniform": "kaiming_uniform",
    "kaiming_normal": "kaiming_normal", "xavier": "xavier", "xavier_uniform": "xavier",
    "he_uniform": "kaiming_uniform", "he_normal": "kaiming_normal", "glorot_uniform": "xavier",
    "lecun_normal": "normal",
}


def check_convnet_spec(spec: ModelSpec) -> None:
    """One ConfigError naming what a convnet spec cannot build."""
    arch = spec.arch
    if not isinstance(arch, ConvNetArch):
        raise ConfigError(f"not a convnet spec: arch is {type(arch).__name__}")
    if len(spec.inputs) != 1 or spec.inputs[0].kind != "image":
        raise ConfigError(f"a convnet takes exactly one image input, got {[i.name for i in spec.inputs]}")
    if not isinstance(spec.num_classes, int) or spec.num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {spec.num_classes!r}")
    if not isinstance(spec.image_size, int) or spec.image_size < 1:
        raise ConfigError(f"image_size must be a positive integer, got {spec.image_size!r}")
    arch.feature_map(spec.image_size)


class ConvNet(nn.Module):
    """A convnet spec's model; ``device="meta"`` builds a skeleton (enough for ``layout``)."""

    def __init__(self, spec: ModelSpec, seed: int | None = 0, device: str | torch.device = "cpu") -> None:
        super().__init__()
        check_convnet_spec(spec)
        self.spec = spec
        arch: ConvNetArch = spec.arch  # type: ignore[assignment]
        self.input_name = spec.inputs[0].name
        self._shape = (spec.inputs[0].channels, spec.image_size, spec.image_size)
        side = arch.feature_map(spec.image_size)
        self._cells = 1 if arch.readout == "global_avg" else side * side
        with torch.device("meta"):  # no global-RNG draws from torch's default init
            c_in = spec.inputs[0].channels
            for i, (c, k, s, p) in enumerate(zip(arch.channels, arch.kernel_sizes, arch.strides, arch.paddings)):
                self.add_module(f"conv{i}", nn.Conv2d(c_in, c, k, stride=s, padding=p))
                c_in = c
            width = arch.channels[-1] * self._cells
            for j, h in enumerate(arch.hidden):
                self.add_module(f"fc{j}", nn.Linear(width, h))
                width = h
            self.out = nn.Linear(width, spec.num_classes)
        self._layout = convnet_layout(self)
        if torch.device(device).type != "meta":
            self.to_empty(device="cpu")
            generator = torch.Generator()
            if seed is None:
                generator.seed()
            else:
                generator.manual_seed(seed)
            layers = self._layers()
            scheme = _INIT_SCHEMES.get(arch.init, "kaiming_uniform")
            gain = GAINS.get(arch.activation, math.sqrt(2.0))
            for i, layer in enumerate(layers):
                init_layer(layer, scheme, 1.0 if i == len(layers) - 1 else gain, generator)
            self.to(device)

    @property
    def layout(self) -> Layout:
        return self._layout

    def _layers(self) -> list[nn.Conv2d | nn.Linear]:
        return [m for m in self.children() if isinstance(m, (nn.Conv2d, nn.Linear))]

    def forward(self, inputs: Mapping[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:
        x = inputs if torch.is_tensor(inputs) else inputs.get(self.input_name)
        if x is None:
            raise ValueError(f"model input {self.input_name!r} missing; got keys {sorted(inputs)}")
        if x.ndim != 4 or tuple(x.shape[1:]) != self._shape:
            raise ValueError(f"model input {self.input_name!r} has shape {tuple(x.shape)}, "
                             f"expected [B, {', '.join(map(str, self._shape))}]")
        arch: ConvNetArch = self.spec.arch  # type: ignore[assignment]
        act = _ACTIVATIONS[arch.activation]
        for i, pool in enumerate(arch.pools):
            x = getattr(self, f"conv{i}")(x)
            if pool > 1 and arch.pool_before_activation:
                x = act(F.max_pool2d(x, pool))
            else:
                x = act(x)
                if pool > 1:
                    x = F.max_pool2d(x, pool)
        x = x.mean(dim=(2, 3)) if arch.readout == "global_avg" else x.flatten(1)
        for j in range(len(arch.hidden)):
            x = act(getattr(self, f"fc{j}")(x))
        return self.out(x)


def convnet_layout(model: ConvNet) -> Layout:
    arch: ConvNetArch = model.spec.arch  # type: ignore[assignment]
    n_conv, n_fc = len(arch.channels), len(arch.hidden)
    linear = [f"fc{j}" for j in range(n_fc)] + ["out"]
    layers, groups = [], []
    for i in range(n_conv):
        name = f"conv{i}"
        layers.append(LayerSpec(name, "conv", f"{name}.weight", f"{name}.bias"))
        members = [AxisBlock(f"{name}.weight", 0, 0, 1), AxisBlock(f"{name}.bias", 0, 0, 1)]
        if i + 1 < n_conv:
            members.append(AxisBlock(f"conv{i + 1}.weight", 1, 0, 1))
        else:  # channel c is the first linear layer's inputs c*cells .. (c+1)*cells
            members.append(AxisBlock(f"{linear[0]}.weight", 1, 0, model._cells))
        groups.append(SymmetryGroup(name, arch.channels[i], tuple(members)))
    for j, width in enumerate(arch.hidden):
        name = linear[j]
        layers.append(LayerSpec(name, "linear", f"{name}.weight", f"{name}.bias"))
        groups.append(SymmetryGroup(name, width, (AxisBlock(f"{name}.weight", 0, 0, 1),
                                                  AxisBlock(f"{name}.bias", 0, 0, 1),
                                                  AxisBlock(f"{linear[j + 1]}.weight", 1, 0, 1))))
    layers.append(LayerSpec("out", "linear", "out.weight", "out.bias"))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    return Layout.from_shapes(shapes, tuple(layers), tuple(groups))
