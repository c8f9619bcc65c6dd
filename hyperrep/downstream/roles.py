"""s(W) per layer ROLE: weight statistics that mean the same in every architecture of a zoo.

Layer-wise s(W) (:class:`~hyperrep.downstream.features.WeightStats`) has one block per
layer, so its width and meaning differ between a single-branch CNN and a late-fusion CNN
with one backbone per modality. Here a layer's role is what it does, not where it sits:

- ``stem``: the first conv of every image branch (the S2 branch of a ``single`` model,
  the fused stem of ``early``/``early_blowup``, each of the S2 and S1 branches of
  ``late``, the shared backbone of ``late`` + ``shared_backbone``);
- ``conv1``, ``conv2``, ...: the convs at that depth, over all branches;
- ``head.hidden``, ``head.out`` (and any other named layer): that layer.

A role's weights (and, separately, its biases) are pooled over the layers that have it,
and described by the same seven statistics as layer-wise s(W); a ``present`` column says
whether the architecture has the role at all (0 with zero statistics when it has not,
e.g. ``head.hidden`` of a model without a hidden layer). So every architecture of a zoo
gets one fixed-width row, the same columns in the same order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from eo_tasks.models import LayerSpec, Layout
from hyperrep.downstream.features import STAT_NAMES, _stats

_CONV = re.compile(r"(?:^|\.)conv(\d+)$")


def layer_role(layer: LayerSpec) -> str:
    """``stem`` / ``conv<d>`` for the convs of a branch (``<branch>.conv<d>``), else the layer's name."""
    hit = _CONV.search(layer.name)
    if hit is None:
        return layer.name
    depth = int(hit.group(1))
    return "stem" if depth == 0 else f"conv{depth}"


def roles_of(layouts: Mapping[int, Layout]) -> tuple[str, ...]:
    """Every role of these layouts: stem and convs by depth, then the other layers in order of first use."""
    convs: set[int] = set()
    others: list[str] = []
    for arch in sorted(layouts):
        for layer in layouts[arch].layers:
            role = layer_role(layer)
            if role == "stem" or _CONV.fullmatch(role):
                convs.add(0 if role == "stem" else int(role[4:]))
            elif role not in others:
                others.append(role)
    return tuple("stem" if d == 0 else f"conv{d}" for d in sorted(convs)) + tuple(others)


@dataclass(frozen=True)
class RoleStats:
    """Role-wise s(W) of the flat weights of several architectures (``layouts``: arch id -> layout).

    ``transform(weights, arch)`` takes weights zero-padded to the widest architecture
    (``[N, max P]``) with each row's architecture; stateless, like WeightStats.
    """

    layouts: Mapping[int, Layout]

    @property
    def roles(self) -> tuple[str, ...]:
        return roles_of(self.layouts)

    @property
    def feature_names(self) -> list[str]:
        names = []
        for role in self.roles:
            names += [f"{role}:{part}:{s}" for part in ("weight", "bias") for s in STAT_NAMES] + [f"{role}:present"]
        return names

    def fit(self, weights: np.ndarray, arch: np.ndarray) -> RoleStats:
        self._check(weights, arch)
        return self

    def transform(self, weights: np.ndarray, arch: np.ndarray) -> np.ndarray:
        weights, arch = self._check(weights, arch)
        roles = self.roles
        width = 2 * len(STAT_NAMES) + 1
        out = np.zeros((len(weights), len(roles) * width), np.float32)
        for a in np.unique(arch):
            rows = np.flatnonzero(arch == a)
            layout = self.layouts[int(a)]
            block = weights[rows]
            for r, role in enumerate(roles):
                layers = [layer for layer in layout.layers if layer_role(layer) == role]
                if not layers:
                    continue  # a role this architecture lacks: zeros, present = 0
                base = r * width
                for k, part in enumerate(("weight", "bias")):
                    names = [getattr(layer, part) for layer in layers if getattr(layer, part) is not None]
                    if names:
                        values = np.concatenate([block[:, layout.slice(n)] for n in names], axis=1)
                        out[rows, base + k * len(STAT_NAMES): base + (k + 1) * len(STAT_NAMES)] = _stats(values)
                out[rows, base + width - 1] = 1.0
        return out

    def _check(self, weights: np.ndarray, arch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        weights, arch = np.asarray(weights), np.asarray(arch, dtype=np.int64)
        if weights.ndim != 2 or arch.shape != (len(weights),):
            raise ValueError(f"weights {weights.shape} and arch {arch.shape}: expected [N, P] and [N]")
        unknown = sorted(set(arch.tolist()) - set(self.layouts))
        if unknown:
            raise ValueError(f"rows of architectures {unknown}, but layouts are given for {sorted(self.layouts)}")
        widest = max((self.layouts[int(a)].num_params for a in np.unique(arch)), default=0)
        if weights.shape[1] < widest:
            raise ValueError(f"weights have {weights.shape[1]} columns, the widest architecture {widest} parameters")
        return weights, arch
