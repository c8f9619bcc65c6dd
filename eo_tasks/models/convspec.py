"""The spec of a plain single-input CNN: the architectures of the public model zoos.

The fusion-CNN family (:mod:`eo_tasks.models.family`) has same-padded convolutions each
followed by a 2x2 max-pool. The public zoos this project imports use other shapes:

- Unterthiner et al. 2020 (Small CNN Zoo): three 3x3 convolutions with stride 2 and no
  padding (Keras ``valid``), each followed by the activation, then global average pooling
  and one dense layer.
- Schürholt et al. 2022 (Model Zoos): 5x5/5x5/2x2 (or 3x3) convolutions without padding,
  each followed by a 2x2 max-pool *then* the activation, flatten, and two linear layers.

:class:`ConvNetArch` expresses both: per convolution its channels, kernel, stride, padding
and max-pool, whether pooling comes before the activation, the read-out (``flatten`` or
``global_avg``) and the hidden linear widths. It sits in :class:`ModelSpec.arch` in place
of an :class:`ArchConfig`; ``family = "convnet"`` in its JSON tells the two apart. This
module imports no torch, so that reading a spec stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

from eo_tasks.config import ConfigError

CONVNET_FAMILY = "convnet"
CONVNET_ACTIVATIONS = ("relu", "tanh", "gelu", "sigmoid", "leaky_relu", "silu", "selu", "elu")
READOUTS = ("flatten", "global_avg")


@dataclass(frozen=True)
class ConvNetArch:
    channels: tuple[int, ...] = (16, 16, 16)
    kernel_sizes: tuple[int, ...] = (3, 3, 3)
    strides: tuple[int, ...] = (2, 2, 2)
    paddings: tuple[int, ...] = (0, 0, 0)  # zero padding per side
    pools: tuple[int, ...] = (0, 0, 0)  # max-pool window (= stride) after each conv; 0: none
    pool_before_activation: bool = False  # Model Zoos: conv -> pool -> act; Keras: conv -> act
    readout: str = "global_avg"  # "flatten" (channel-major, as torch's Flatten) | "global_avg"
    hidden: tuple[int, ...] = ()  # widths of the hidden linear layers before the output layer
    activation: str = "relu"
    dropout: float = 0.0  # training-only; eval mode ignores it
    # the source's weight initialisation by name (a zoo column); fresh models map it onto the
    # nearest scheme of eo_tasks.models.init, or kaiming_uniform where there is none
    init: str = "kaiming_uniform"
    family: str = CONVNET_FAMILY

    def __post_init__(self) -> None:
        n = len(self.channels)
        if not n or any(len(t) != n for t in (self.kernel_sizes, self.strides, self.paddings, self.pools)):
            raise ConfigError("convnet: channels, kernel_sizes, strides, paddings and pools need one entry per conv")
        for name in ("channels", "kernel_sizes", "strides"):
            if any(not isinstance(v, int) or v < 1 for v in getattr(self, name)):
                raise ConfigError(f"convnet: {name} must be positive integers, got {getattr(self, name)}")
        if any(not isinstance(v, int) or v < 0 for v in self.paddings + self.pools):
            raise ConfigError(f"convnet: paddings and pools must be integers >= 0, got {self.paddings}, {self.pools}")
        if any(not isinstance(v, int) or v < 1 for v in self.hidden):
            raise ConfigError(f"convnet: hidden widths must be positive integers, got {self.hidden}")
        if self.readout not in READOUTS:
            raise ConfigError(f"convnet: readout must be one of {READOUTS}, got {self.readout!r}")
        if self.activation not in CONVNET_ACTIVATIONS:
            raise ConfigError(f"convnet: activation must be one of {CONVNET_ACTIVATIONS}, got {self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"convnet: dropout must be in [0, 1), got {self.dropout}")
        if self.family != CONVNET_FAMILY:
            raise ConfigError(f"convnet: family must be {CONVNET_FAMILY!r}, got {self.family!r}")

    @property
    def fusion(self) -> str:
        """One image input, one backbone: the zoo table's ``fusion`` column."""
        return "single"

    def feature_map(self, image_size: int) -> int:
        """Spatial side after the convolutions and pools; ConfigError when it vanishes."""
        s = image_size
        for i, (k, st, p, pool) in enumerate(zip(self.kernel_sizes, self.strides, self.paddings, self.pools)):
            s = (s + 2 * p - k) // st + 1
            if pool > 1:
                s //= pool
            if s < 1:
                raise ConfigError(f"convnet: a {image_size}x{image_size} input has no pixels left after conv {i}")
        return s

    @staticmethod
    def from_dict(raw: dict) -> ConvNetArch:
        return ConvNetArch(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
