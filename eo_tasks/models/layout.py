"""The weight-space layout of a model: the contract that zoo files and hyperrep share.

A layout lists a model's parameter tensors in a fixed order with their offsets into
one flat float32 vector, the layers whose output neurons become hyperrep tokens, and
the neuron symmetry groups: sets of tensor-axis blocks that must be permuted together
for the network's function to stay the same.

A group member is an :class:`AxisBlock`: along ``axis`` of ``tensor``, the indices
``start .. start + size*block`` are read as ``size`` neurons of ``block`` consecutive
indices each. ``block`` is 1 for a conv/linear output or input axis, and ``H*W`` where
a conv's channels are flattened into a linear layer's input. Every permutation of every
group is a gather on the flat vector (:meth:`Layout.permutation_index`), so batched
augmentation is a single ``torch.gather``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from math import prod

import numpy as np
import torch

LAYOUT_VERSION = 1


@dataclass(frozen=True)
class TensorSpec:
    name: str  # state-dict key
    shape: tuple[int, ...]
    offset: int  # start in the flat vector

    @property
    def size(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True)
class LayerSpec:
    """A conv or linear layer; its output neuron ``i`` owns ``weight[i]`` and ``bias[i]``."""

    name: str
    kind: str  # "conv" | "linear"
    weight: str
    bias: str | None


@dataclass(frozen=True)
class AxisBlock:
    tensor: str
    axis: int
    start: int
    block: int


@dataclass(frozen=True)
class SymmetryGroup:
    name: str
    size: int  # neurons that permute
    members: tuple[AxisBlock, ...]


@dataclass(frozen=True)
class Layout:
    tensors: tuple[TensorSpec, ...]
    layers: tuple[LayerSpec, ...]
    groups: tuple[SymmetryGroup, ...]
    version: int = LAYOUT_VERSION

    # ---- construction ---------------------------------------------------------------
    @staticmethod
    def from_shapes(
        shapes: Mapping[str, tuple[int, ...]],
        layers: tuple[LayerSpec, ...],
        groups: tuple[SymmetryGroup, ...],
    ) -> Layout:
        tensors, offset = [], 0
        for name, shape in shapes.items():
            tensors.append(TensorSpec(name, tuple(int(s) for s in shape), offset))
            offset += prod(shape)
        layout = Layout(tuple(tensors), tuple(layers), tuple(groups))
        layout.validate()
        return layout

    def validate(self) -> None:
        by_name = self.tensor_map
        if len(by_name) != len(self.tensors):
            raise ValueError("layout names a tensor twice")
        offset = 0
        for t in self.tensors:
            if t.offset != offset:
                raise ValueError(f"tensor {t.name!r} has offset {t.offset}, expected {offset}")
            offset += t.size
        for layer in self.layers:
            for t in (layer.weight, layer.bias):
                if t is not None and t not in by_name:
                    raise ValueError(f"layer {layer.name!r} names unknown tensor {t!r}")
        if len({g.name for g in self.groups}) != len(self.groups):
            raise ValueError("layout names a symmetry group twice")
        # (tensor, axis) -> index ranges already claimed; overlapping members would make
        # permutation_index apply two permutations to the same indices.
        claimed: dict[tuple[str, int], list[tuple[int, int, str]]] = {}
        for g in self.groups:
            if g.size < 1:
                raise ValueError(f"group {g.name!r} has size {g.size}, expected >= 1")
            for m in g.members:
                spec = by_name.get(m.tensor)
                if spec is None:
                    raise ValueError(f"group {g.name!r} names unknown tensor {m.tensor!r}")
                if not 0 <= m.axis < len(spec.shape):
                    raise ValueError(f"group {g.name!r}: {m.tensor} has no axis {m.axis} (shape {spec.shape})")
                if m.start < 0 or m.block < 1:
                    raise ValueError(f"group {g.name!r}: {m.tensor} needs start >= 0 and block >= 1")
                end = m.start + g.size * m.block
                if end > spec.shape[m.axis]:
                    raise ValueError(
                        f"group {g.name!r}: {m.tensor} axis {m.axis} has {spec.shape[m.axis]} "
                        f"entries, block needs {end}"
                    )
                for lo, hi, other in claimed.setdefault((m.tensor, m.axis), []):
                    if m.start < hi and lo < end:
                        raise ValueError(
                            f"groups {other!r} and {g.name!r} overlap on {m.tensor} axis {m.axis}"
                        )
                claimed[(m.tensor, m.axis)].append((m.start, end, g.name))

    # ---- queries --------------------------------------------------------------------
    @property
    def num_params(self) -> int:
        return sum(t.size for t in self.tensors)

    @property
    def tensor_map(self) -> dict[str, TensorSpec]:
        return {t.name: t for t in self.tensors}

    def slice(self, name: str) -> slice:
        t = self.tensor_map[name]
        return slice(t.offset, t.offset + t.size)

    # ---- flat vector <-> state dict -------------------------------------------------
    def flatten(self, state: Mapping[str, torch.Tensor]) -> np.ndarray:
        """State dict -> float32 vector (exact: a plain copy of each tensor's values)."""
        missing = [t.name for t in self.tensors if t.name not in state]
        if missing:
            raise KeyError(f"state dict lacks tensors {missing}")
        parts = []
        for t in self.tensors:
            value = state[t.name].detach().cpu()
            if tuple(value.shape) != t.shape:
                raise ValueError(f"tensor {t.name!r} has shape {tuple(value.shape)}, layout says {t.shape}")
            parts.append(value.to(torch.float32).reshape(-1).numpy())
        return np.concatenate(parts).astype(np.float32, copy=False)

    def unflatten(self, flat: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """Float vector -> state dict of float32 tensors, views into one float32 tensor.

        A numpy ``flat`` is copied (the result never aliases the caller's array); a torch
        ``flat`` is only cast, so the views stay on its device and in its autograd graph.
        """
        if torch.is_tensor(flat):
            flat_t = flat.to(torch.float32)
        else:
            flat_t = torch.from_numpy(np.array(flat, dtype=np.float32, copy=True))
        if flat_t.shape != (self.num_params,):
            raise ValueError(f"flat vector has shape {tuple(flat_t.shape)}, layout needs ({self.num_params},)")
        return {t.name: flat_t[t.offset : t.offset + t.size].reshape(t.shape) for t in self.tensors}

    # ---- symmetries -----------------------------------------------------------------
    def permutation_index(self, perms: Mapping[str, np.ndarray]) -> np.ndarray:
        """Gather index ``idx`` so that ``flat[idx]`` is the model with ``perms`` applied.

        ``perms[group.name]`` is a permutation of ``range(group.size)``; groups not named
        stay as they are. New neuron ``i`` of a group is old neuron ``perm[i]``.
        """
        idx = np.arange(self.num_params, dtype=np.int64)
        tmap = self.tensor_map
        for g in self.groups:
            perm = perms.get(g.name)
            if perm is None:
                continue
            perm = np.asarray(perm, dtype=np.int64)
            if sorted(perm.tolist()) != list(range(g.size)):
                raise ValueError(f"perms[{g.name!r}] is not a permutation of range({g.size})")
            for m in g.members:
                t = tmap[m.tensor]
                view = idx[t.offset : t.offset + t.size].reshape(t.shape)
                moved = np.moveaxis(view, m.axis, 0)
                region = moved[m.start : m.start + g.size * m.block]
                blocks = region.reshape(g.size, m.block, *region.shape[1:])
                region[...] = blocks[perm].reshape(region.shape)
        return idx

    def random_permutations(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {g.name: rng.permutation(g.size) for g in self.groups}

    # ---- serialisation --------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @staticmethod
    def from_json(text: str) -> Layout:
        raw = json.loads(text)
        if raw.get("version") != LAYOUT_VERSION:
            raise ValueError(f"layout version {raw.get('version')!r} not supported (expected {LAYOUT_VERSION})")
        layout = Layout(
            tensors=tuple(TensorSpec(t["name"], tuple(t["shape"]), t["offset"]) for t in raw["tensors"]),
            layers=tuple(LayerSpec(**l) for l in raw["layers"]),
            groups=tuple(
                SymmetryGroup(g["name"], g["size"], tuple(AxisBlock(**m) for m in g["members"]))
                for g in raw["groups"]
            ),
            version=raw["version"],
        )
        layout.validate()
        return layout
