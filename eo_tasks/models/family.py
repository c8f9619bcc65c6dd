"""The declarative family of small, BN-free fusion CNNs that model zoos are made of.

A backbone is ``len(arch.channels)`` blocks of conv (same padding) -> activation ->
2x2 max-pool, so an ``S x S`` input leaves it as ``channels[-1] x S/2^L x S/2^L``
features. The head is dropout -> linear(hidden) -> activation -> dropout -> linear
(classes), or a single linear when ``arch.hidden == 0``.

Fusion modes decide how modalities reach the backbones:

- ``single``: one image modality, one backbone.
- ``early``: image modalities concatenated on channels, one backbone.
- ``early_blowup``: like ``early``, with each vector modality broadcast to constant
  ``[C, S, S]`` maps ("blown-up patches") and concatenated too, in input order.
- ``late``: one backbone per image modality (or one ``shared`` backbone applied to each;
  image modalities with fewer channels than the widest are zero-padded on channels, so
  S1's 2 bands share the filters of S2's first 2); the flattened features are
  concatenated in input order, vector modalities appended raw after them, and the result
  feeds the shared head.

Given a task with several modalities, :func:`fusion_inputs` says which of them a fusion
mode reads (``single``: the first image modality, e.g. the Sentinel-2 baseline of
``["s2", "s1", "season"]``), so one population can mix fusion modes over one dataset.

State-dict keys are ``backbones.<name>.conv<i>.{weight,bias}`` and
``head.{hidden,out}.{weight,bias}``; ``<name>`` is the image modality for ``single`` and
non-shared ``late``, ``fused`` for early fusions, ``shared`` for a shared backbone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from eo_tasks.config import ConfigError
from eo_tasks.models.convspec import ConvNetArch
from eo_tasks.models.init import init_layers
from eo_tasks.models.layout import AxisBlock, LayerSpec, Layout, SymmetryGroup
from eo_tasks.models.spec import ArchConfig, InputSpec, ModelSpec

_ACTIVATIONS = {
    "relu": F.relu,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "sigmoid": torch.sigmoid,
    "leaky_relu": lambda x: F.leaky_relu(x, negative_slope=0.01),
}


class ModalityLike(Protocol):
    name: str
    kind: str
    channels: int


M = TypeVar("M", bound=ModalityLike)


# ---- spec checks -------------------------------------------------------------------
def check_spec(spec: ModelSpec) -> None:
    """Raise one ConfigError naming what is wrong with ``spec`` (before anything is built)."""
    if isinstance(spec.arch, ConvNetArch):  # the imported zoos' plain CNNs (eo_tasks.models.convnet)
        from eo_tasks.models.convnet import check_convnet_spec

        return check_convnet_spec(spec)
    arch = spec.arch
    if any(not isinstance(c, int) or c < 1 for c in arch.channels):
        raise ConfigError(f"arch.channels must be positive integers, got {arch.channels}")
    if any(not isinstance(k, int) or k < 1 or k % 2 == 0 for k in arch.kernel_sizes):
        raise ConfigError(f"arch.kernel_sizes must be odd positive integers (same padding), got {arch.kernel_sizes}")
    if not isinstance(arch.hidden, int) or arch.hidden < 0:
        raise ConfigError(f"arch.hidden must be an integer >= 0 (0: no hidden layer), got {arch.hidden!r}")
    if not isinstance(spec.num_classes, int) or spec.num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {spec.num_classes!r}")
    depth = len(arch.channels)
    if not isinstance(spec.image_size, int) or spec.image_size < 2**depth or spec.image_size % 2**depth:
        raise ConfigError(
            f"image_size {spec.image_size!r} must be a positive multiple of 2**{depth} = {2**depth}: "
            f"each of the {depth} conv layers halves the spatial size"
        )
    if not spec.inputs:
        raise ConfigError("spec has no inputs")
    names = [i.name for i in spec.inputs]
    for inp in spec.inputs:
        if not isinstance(inp.name, str) or not inp.name or "." in inp.name or hasattr(nn.ModuleDict(), inp.name):
            raise ConfigError(f"input name {inp.name!r} must be a non-empty string without '.' or a torch attribute name")
        if names.count(inp.name) > 1:
            raise ConfigError(f"input name {inp.name!r} appears twice")
        if inp.kind not in ("image", "vector"):
            raise ConfigError(f"input {inp.name!r}: kind must be 'image' or 'vector', got {inp.kind!r}")
        if not isinstance(inp.channels, int) or inp.channels < 1:
            raise ConfigError(f"input {inp.name!r}: channels must be a positive integer, got {inp.channels!r}")
    images = [i for i in spec.inputs if i.kind == "image"]
    vectors = [i for i in spec.inputs if i.kind == "vector"]
    if not images:
        raise ConfigError(f"fusion {arch.fusion!r} needs at least one image input, got {names}")
    if arch.shared_backbone and arch.fusion != "late":
        raise ConfigError(f"shared_backbone applies to late fusion only, fusion is {arch.fusion!r}")
    if arch.fusion == "single" and (len(images) != 1 or vectors):
        raise ConfigError(
            f"fusion 'single' takes exactly one image input, got {names}; "
            "use 'early', 'early_blowup' or 'late' for several"
        )
    if arch.fusion == "early" and vectors:
        raise ConfigError(
            f"fusion 'early' cannot take vector inputs {[v.name for v in vectors]}; "
            "use 'early_blowup' or 'late'"
        )


def fusion_inputs(arch: ArchConfig | ConvNetArch, modalities: Sequence[M]) -> tuple[M, ...]:
    """The modalities of a task that a model of ``arch``'s fusion mode reads, in task order.

    ``single``: the first image modality (the baseline, e.g. Sentinel-2 of ``["s2", "s1"]``);
    ``early`` and ``late``: every image modality (at least two: one is ``single``);
    ``early_blowup``: every image modality and every vector modality (at least one: without
    scalars it is ``early``). Vector modalities reach only ``early_blowup``, so in a mixed
    population what differs between modes is how S1 and S2 are fused, plus the scalars of
    the blown-up mode. A mode the modalities cannot feed raises one ConfigError naming the
    fusion mode and ``data.modalities``.
    """
    if isinstance(arch, ConvNetArch):
        return tuple(modalities)
    images = [m for m in modalities if m.kind == "image"]
    vectors = [m for m in modalities if m.kind == "vector"]
    given = f"data.modalities gives {[m.name for m in modalities]}"
    fusion = arch.fusion
    if not images:
        raise ConfigError(f"fusion {fusion!r} needs an image modality; {given}")
    if fusion == "single":
        return (images[0],)
    if fusion in ("early", "late") and len(images) < 2:
        raise ConfigError(f"fusion {fusion!r} fuses several image modalities, {given} with one image modality "
                          f"({images[0].name!r}); use fusion 'single' or add e.g. 's1'")
    if fusion == "early_blowup" and not vectors:
        raise ConfigError(f"fusion 'early_blowup' blows up vector modalities to image planes, {given} with none; "
                          "add e.g. 'season' or use fusion 'early'")
    keep = {m.name for m in images} | ({m.name for m in vectors} if fusion == "early_blowup" else set())
    return tuple(m for m in modalities if m.name in keep)


def spec_for(
    arch: ArchConfig,
    modalities: Sequence[ModalityLike],
    num_classes: int,
    image_size: int,
    multilabel: bool = False,
) -> ModelSpec:
    """A checked ModelSpec for a task's modalities (anything with ``.name, .kind, .channels``)."""
    inputs = tuple(InputSpec(name=m.name, channels=m.channels, kind=m.kind) for m in modalities)  # type: ignore[arg-type]
    spec = ModelSpec(arch=arch, inputs=inputs, num_classes=num_classes, image_size=image_size, multilabel=multilabel)
    check_spec(spec)
    return spec


# ---- modules -----------------------------------------------------------------------
class Backbone(nn.Module):
    def __init__(self, in_channels: int, arch: ArchConfig) -> None:
        super().__init__()
        self.activation = arch.activation
        c_in = in_channels
        for i, (c, k) in enumerate(zip(arch.channels, arch.kernel_sizes)):
            self.add_module(f"conv{i}", nn.Conv2d(c_in, c, k, padding=k // 2))
            c_in = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = _ACTIVATIONS[self.activation]
        for conv in self.children():
            x = F.max_pool2d(act(conv(x)), 2)
        return rearrange(x, "b c h w -> b (c h w)")


class Head(nn.Module):
    def __init__(self, features: int, arch: ArchConfig, num_classes: int) -> None:
        super().__init__()
        self.activation = arch.activation
        self.dropout = nn.Dropout(arch.dropout)
        self.hidden = nn.Linear(features, arch.hidden) if arch.hidden else None
        self.out = nn.Linear(arch.hidden or features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.hidden is not None:
            x = _ACTIVATIONS[self.activation](self.hidden(self.dropout(x)))
        return self.out(self.dropout(x))


class FusionCNN(nn.Module):
    """A member of the family; ``layout`` is its weight-space layout (state-dict order).

    Weights are drawn on CPU (so a seed means the same weights everywhere) and then moved
    to ``device``; ``device="meta"`` builds an uninitialised skeleton, enough for ``layout``.
    """

    def __init__(self, spec: ModelSpec, seed: int | None = 0, device: str | torch.device = "cpu") -> None:
        super().__init__()
        check_spec(spec)
        self.spec = spec
        arch = spec.arch
        images = [i for i in spec.inputs if i.kind == "image"]
        self._vectors = [i.name for i in spec.inputs if i.kind == "vector"]
        s = spec.image_size
        self._shapes = {i.name: (i.channels, s, s) if i.kind == "image" else (i.channels,) for i in spec.inputs}
        cells = (spec.image_size // 2 ** len(arch.channels)) ** 2
        # (backbone, inputs it reads); late fusion applies a backbone once per entry
        if arch.fusion == "late":
            name = "shared" if arch.shared_backbone else None
            self._branches = [(name or i.name, [i.name]) for i in images]
            in_channels: dict[str, int] = {}
            for (b, _), i in zip(self._branches, images):  # a shared backbone takes the widest
                in_channels[b] = max(in_channels.get(b, 0), i.channels)
        else:
            name = images[0].name if arch.fusion == "single" else "fused"
            reads = [i for i in spec.inputs if i.kind == "image" or arch.fusion == "early_blowup"]
            self._branches = [(name, [i.name for i in reads])]
            in_channels = {name: sum(i.channels for i in reads)}
        features = len(self._branches) * arch.channels[-1] * cells
        if arch.fusion == "late":
            features += sum(i.channels for i in spec.inputs if i.kind == "vector")

        self._in_channels = in_channels
        with torch.device("meta"):  # no global-RNG draws from torch's default init
            self.backbones = nn.ModuleDict({b: Backbone(c, arch) for b, c in in_channels.items()})
            self.head = Head(features, arch, spec.num_classes)
        self._layout = _build_layout(self, cells)
        if torch.device(device).type != "meta":
            self.to_empty(device="cpu")
            generator = torch.Generator()
            if seed is None:
                generator.seed()
            else:
                generator.manual_seed(seed)
            init_layers(self._layers(), arch.init, arch.activation, generator)
            self.to(device)

    @property
    def layout(self) -> Layout:
        return self._layout

    def _layers(self) -> list[nn.Conv2d | nn.Linear]:
        return [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]

    def _fetch(self, inputs: Mapping[str, torch.Tensor], name: str) -> torch.Tensor:
        if name not in inputs:
            raise ValueError(f"model input {name!r} missing; got keys {sorted(inputs)}")
        x, want = inputs[name], self._shapes[name]
        if x.ndim != len(want) + 1 or tuple(x.shape[1:]) != want:
            raise ValueError(f"model input {name!r} has shape {tuple(x.shape)}, expected [B, {', '.join(map(str, want))}]")
        return x

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        s = self.spec.image_size
        parts = []
        for backbone, names in self._branches:
            xs = [self._fetch(inputs, n) for n in names]
            xs = [x if x.ndim == 4 else repeat(x, "b c -> b c h w", h=s, w=s) for x in xs]
            x = torch.cat(xs, dim=1) if len(xs) > 1 else xs[0]
            missing = self._in_channels[backbone] - x.shape[1]
            if missing:  # a narrower modality through a shared backbone: zero channels
                x = F.pad(x, (0, 0, 0, 0, 0, missing))
            parts.append(self.backbones[backbone](x))
        if self.spec.arch.fusion == "late":
            parts += [self._fetch(inputs, n) for n in self._vectors]
        return self.head(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])


def _build_layout(model: FusionCNN, cells: int) -> Layout:
    arch = model.spec.arch
    depth = len(arch.channels)
    first_linear = "head.hidden" if arch.hidden else "head.out"
    layers, groups = [], []
    width = arch.channels[-1] * cells
    for backbone in model.backbones:
        starts = [k * width for k, (b, _) in enumerate(model._branches) if b == backbone]
        for i in range(depth):
            conv = f"backbones.{backbone}.conv{i}"
            layers.append(LayerSpec(f"{backbone}.conv{i}", "conv", f"{conv}.weight", f"{conv}.bias"))
            members = [AxisBlock(f"{conv}.weight", 0, 0, 1), AxisBlock(f"{conv}.bias", 0, 0, 1)]
            if i + 1 < depth:
                members.append(AxisBlock(f"backbones.{backbone}.conv{i + 1}.weight", 1, 0, 1))
            else:  # channel c of branch k is features start_k + c*cells .. + cells
                members += [AxisBlock(f"{first_linear}.weight", 1, s, cells) for s in starts]
            groups.append(SymmetryGroup(f"{backbone}.conv{i}", arch.channels[i], tuple(members)))
    if arch.hidden:
        layers.append(LayerSpec("head.hidden", "linear", "head.hidden.weight", "head.hidden.bias"))
        groups.append(
            SymmetryGroup(
                "head.hidden",
                arch.hidden,
                (
                    AxisBlock("head.hidden.weight", 0, 0, 1),
                    AxisBlock("head.hidden.bias", 0, 0, 1),
                    AxisBlock("head.out.weight", 1, 0, 1),
                ),
            )
        )
    layers.append(LayerSpec("head.out", "linear", "head.out.weight", "head.out.bias"))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    return Layout.from_shapes(shapes, tuple(layers), tuple(groups))


# ---- public helpers ----------------------------------------------------------------
def build_model(spec: ModelSpec, seed: int | None = 0) -> FusionCNN:
    """A freshly initialised model on CPU; the same ``seed`` gives bit-identical weights.

    ``seed=None`` draws a fresh seed from the OS. A :class:`ConvNetArch` spec (an imported
    public zoo's CNN) builds an :class:`eo_tasks.models.convnet.ConvNet`.
    """
    if isinstance(spec.arch, ConvNetArch):
        from eo_tasks.models.convnet import ConvNet

        return ConvNet(spec, seed=seed)  # type: ignore[return-value]
    return FusionCNN(spec, seed=seed)


def layout_for(spec: ModelSpec) -> Layout:
    """The layout of ``spec``'s models, from a skeleton on the meta device (no init)."""
    if isinstance(spec.arch, ConvNetArch):
        from eo_tasks.models.convnet import ConvNet

        return ConvNet(spec, device="meta").layout
    return FusionCNN(spec, device="meta").layout


def flat_weights(model: FusionCNN) -> np.ndarray:
    """All parameters as one float32 vector in layout order."""
    return model.layout.flatten(model.state_dict())


def load_flat(model: FusionCNN, flat: np.ndarray | torch.Tensor) -> FusionCNN:
    """Load a flat vector (layout order) into ``model`` in place; returns ``model``."""
    model.load_state_dict(model.layout.unflatten(flat), strict=True)
    return model
