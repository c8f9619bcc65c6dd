"""Weight tokens derived from a :class:`~eo_tasks.models.layout.Layout` alone.

Every output neuron of every layer (a linear unit or a conv kernel) becomes one token
holding its incoming weights followed by its bias; a neuron longer than ``token_size``
is split into consecutive chunks, and every token is zero-padded to ``token_size`` with
a mask saying which entries are real. Parameters that no layer owns (none in the fusion
CNN family, but a layout may have them) are chunked into extra tokens of a pseudo-layer,
so that tokenise -> detokenise is exact for any layout.

Each token carries a position ``(global token index, layer index, neuron index)``.
Both directions are single gathers with index tables built once here.

A :class:`TokenSpace` spans several architectures (layouts): one Tokenizer each, all with
one token size, and positions ``(token index, global layer id, neuron index, arch index)``
where a global layer is a (layer name, fan-in) pair of the union over the layouts, so an
S1 branch's first conv and the S2 branch's are different layers, and ``head.out`` of two
architectures with the same fan-in is one.

Standardisation (:class:`Standardizer`) is per layer, with separate statistics for a
layer's weights and its biases: biases have a very different scale from weights and
are few, so pooling them with the weights would leave them badly scaled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from math import ceil, prod

import numpy as np
import torch
from einops import rearrange

from eo_tasks.models import Layout


def fan_in(layout: Layout, layer_index: int) -> int:
    """Values one output neuron of a layer holds: its incoming weights and its bias."""
    layer = layout.layers[layer_index]
    return prod(layout.tensor_map[layer.weight].shape[1:]) + int(layer.bias is not None)


def longest_neuron(layout: Layout) -> int:
    return max((fan_in(layout, i) for i in range(len(layout.layers))), default=1)


class Tokenizer:
    """Flat weight vectors ``[..., P]`` <-> token tensors ``[..., T, D]``."""

    def __init__(self, layout: Layout, token_size: int = 0, max_token_size: int = 256) -> None:
        self.layout = layout
        tmap = layout.tensor_map
        neurons: list[tuple[int, int, np.ndarray]] = []  # (layer, neuron, flat indices)
        owned = np.zeros(layout.num_params, dtype=bool)
        for li, layer in enumerate(layout.layers):
            w = tmap[layer.weight]
            widx = np.arange(w.offset, w.offset + w.size, dtype=np.int64).reshape(w.shape[0], -1)
            parts = [widx]
            if layer.bias is not None:
                b = tmap[layer.bias]
                if b.shape != (w.shape[0],):
                    raise ValueError(f"layer {layer.name!r}: bias shape {b.shape} does not match {w.shape[0]} outputs")
                parts.append(np.arange(b.offset, b.offset + b.size, dtype=np.int64)[:, None])
            rows = np.concatenate(parts, axis=1)
            for n, row in enumerate(rows):
                neurons.append((li, n, row))
            if owned[rows].any():
                raise ValueError(f"layer {layer.name!r} shares parameters with an earlier layer")
            owned[rows] = True
        longest = max((len(r) for _, _, r in neurons), default=1)
        self.token_size = token_size if token_size > 0 else min(longest, max_token_size)
        D = self.token_size

        # Parameters no layer owns: one pseudo-layer, chunked per tensor.
        other_layer = len(layout.layers)
        for t in layout.tensors:
            free = np.arange(t.offset, t.offset + t.size, dtype=np.int64)
            free = free[~owned[free]]
            for c in range(0, len(free), D):
                neurons.append((other_layer, c // D, free[c : c + D]))
        self.has_other = any(li == other_layer for li, _, _ in neurons)

        index, positions = [], []
        for li, n, row in neurons:
            for c in range(ceil(len(row) / D)):
                chunk = row[c * D : (c + 1) * D]
                index.append(np.pad(chunk, (0, D - len(chunk)), constant_values=-1))
                positions.append((len(positions), li, n))
        self.index = np.stack(index)  # [T, D] flat index, -1 = padding
        self.positions = np.asarray(positions, dtype=np.int64)  # [T, 3]
        self.mask = self.index >= 0
        flat_pos = np.flatnonzero(self.mask.reshape(-1))
        covered = self.index.reshape(-1)[flat_pos]
        if len(covered) != layout.num_params or not np.array_equal(np.sort(covered), np.arange(layout.num_params)):
            raise ValueError("tokens do not cover every parameter exactly once")
        self.inverse = np.empty(layout.num_params, dtype=np.int64)  # flat index -> position in T*D
        self.inverse[covered] = flat_pos
        self.layer_of_token = self.positions[:, 1]
        self._cache: dict[torch.device, dict[str, torch.Tensor]] = {}

    # ---- sizes -------------------------------------------------------------------------
    @property
    def num_tokens(self) -> int:
        return self.index.shape[0]

    @property
    def num_layers(self) -> int:
        """Layers with tokens, counting the pseudo-layer of unowned parameters."""
        return len(self.layout.layers) + int(self.has_other)

    @property
    def max_neurons(self) -> int:
        return int(self.positions[:, 2].max()) + 1

    def tables(self, device: torch.device | str) -> dict[str, torch.Tensor]:
        """Index tables as tensors on ``device`` (cached)."""
        device = torch.device(device)
        if device not in self._cache:
            self._cache[device] = {
                "gather": torch.from_numpy(self.index.clip(min=0).reshape(-1)).to(device),
                "mask": torch.from_numpy(self.mask).to(device),
                "inverse": torch.from_numpy(self.inverse).to(device),
                "positions": torch.from_numpy(self.positions).to(device),
                "layer": torch.from_numpy(self.layer_of_token).to(device),
            }
        return self._cache[device]

    # ---- flat <-> tokens ---------------------------------------------------------------
    def tokenize(self, flat: torch.Tensor) -> torch.Tensor:
        """``[..., P]`` -> ``[..., T, D]`` with padding entries zero."""
        if flat.shape[-1] != self.layout.num_params:
            raise ValueError(f"weights have {flat.shape[-1]} values, the layout needs {self.layout.num_params}")
        tab = self.tables(flat.device)
        tokens = flat.index_select(-1, tab["gather"])
        tokens = tokens.reshape(*flat.shape[:-1], self.num_tokens, self.token_size)
        return tokens.masked_fill(~tab["mask"], 0.0)

    def detokenize(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[..., T, D]`` -> ``[..., P]`` (padding entries are ignored); differentiable."""
        if tuple(tokens.shape[-2:]) != (self.num_tokens, self.token_size):
            raise ValueError(f"tokens have shape {tuple(tokens.shape)}, expected [..., {self.num_tokens}, {self.token_size}]")
        flat = rearrange(tokens, "... t d -> ... (t d)")
        return flat.index_select(-1, self.tables(tokens.device)["inverse"])

    def describe(self) -> dict[str, int]:
        return {"tokens": self.num_tokens, "token_size": self.token_size, "layers": self.num_layers,
                "params": self.layout.num_params, "max_neurons": self.max_neurons}


@dataclass
class Standardizer:
    """Per-layer standardisation of flat weight vectors: ``(w - mean[g]) / std[g]``.

    Group ``g`` is a layer's weights or its biases (or the unowned parameters).
    """

    names: tuple[str, ...]
    mean: np.ndarray  # [G] float64
    std: np.ndarray  # [G] float64
    group: np.ndarray  # [P] int64
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @staticmethod
    def groups_of(layout: Layout) -> tuple[tuple[str, ...], np.ndarray]:
        group = np.full(layout.num_params, -1, dtype=np.int64)
        names: list[str] = []
        for layer in layout.layers:
            for part, tensor in (("weight", layer.weight), ("bias", layer.bias)):
                if tensor is not None:
                    group[layout.slice(tensor)] = len(names)
                    names.append(f"{layer.name}.{part}")
        if (group < 0).any():
            group[group < 0] = len(names)
            names.append("other")
        return tuple(names), group

    @classmethod
    def fit(cls, layout: Layout, weights: np.ndarray, chunk: int = 256) -> Standardizer:
        """Statistics of ``weights`` ``[N, P]`` (the training split only)."""
        names, group = cls.groups_of(layout)
        G = len(names)
        if weights.ndim != 2 or weights.shape[1] != layout.num_params or len(weights) == 0:
            raise ValueError(f"need weights of shape [N>0, {layout.num_params}], got {weights.shape}")
        total = np.zeros(G)
        total_sq = np.zeros(G)
        for start in range(0, len(weights), chunk):
            block = np.asarray(weights[start : start + chunk], dtype=np.float64)
            total += np.bincount(group, weights=block.sum(0), minlength=G)
            total_sq += np.bincount(group, weights=(block**2).sum(0), minlength=G)
        count = np.bincount(group, minlength=G) * len(weights)
        mean = total / count
        var = np.maximum(total_sq / count - mean**2, 0.0)
        std = np.sqrt(var)
        std[std < 1e-8] = 1.0  # a constant group (e.g. zero biases) is only centred
        return cls(names, mean, std, group)

    def tables(self, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-parameter mean and std ``[P]`` on ``device`` (cached)."""
        device = torch.device(device)
        if device not in self._cache:
            group = torch.from_numpy(self.group)
            mean = torch.as_tensor(self.mean, dtype=torch.float32)[group]
            std = torch.as_tensor(self.std, dtype=torch.float32)[group]
            self._cache[device] = (mean.to(device), std.to(device))
        return self._cache[device]

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        mean, std = self.tables(flat.device)
        return (flat - mean) / std

    def inverse(self, flat: torch.Tensor) -> torch.Tensor:
        mean, std = self.tables(flat.device)
        return flat * std + mean

    def to_json(self) -> str:
        return json.dumps({"groups": [
            {"name": n, "mean": float(m), "std": float(s)} for n, m, s in zip(self.names, self.mean, self.std)
        ]}, indent=1)

    @classmethod
    def from_json(cls, text: str, layout: Layout) -> Standardizer:
        raw = json.loads(text)["groups"]
        names, group = cls.groups_of(layout)
        if tuple(g["name"] for g in raw) != names:
            raise ValueError(f"normalisation groups {[g['name'] for g in raw]} do not match the layout's {list(names)}")
        return cls(names, np.array([g["mean"] for g in raw]), np.array([g["std"] for g in raw]), group)


OTHER = "<other>"  # the layer key of the parameters no layer owns


class TokenSpace:
    """Tokenizers of several architectures with one token size and shared position tables.

    ``layouts`` maps an architecture id (a zoo's ``arch`` column) to its layout; their order
    is the arch index of the positions. The global layers are the union of every layout's
    ``(layer name, fan-in)`` keys in order of first appearance, so one layout alone gives
    its own layer order (and the Tokenizer's positions, with arch index 0).
    """

    def __init__(self, layouts: Mapping[int, Layout], token_size: int = 0, max_token_size: int = 256) -> None:
        if not layouts:
            raise ValueError("a token space needs at least one layout")
        self.archs = tuple(int(a) for a in layouts)
        self.layouts = {int(a): lay for a, lay in layouts.items()}
        D = token_size if token_size > 0 else min(max(longest_neuron(lay) for lay in layouts.values()),
                                                  max_token_size)
        self.token_size = D
        self.tokenizers = {a: Tokenizer(lay, D, max_token_size) for a, lay in self.layouts.items()}
        self.layer_keys: list[tuple[str, int]] = []
        self._positions: dict[int, np.ndarray] = {}
        self._cache: dict[tuple[int, torch.device], torch.Tensor] = {}
        for k, a in enumerate(self.archs):
            lay, tok = self.layouts[a], self.tokenizers[a]
            keys = [(layer.name, fan_in(lay, i)) for i, layer in enumerate(lay.layers)]
            if tok.has_other:
                keys.append((OTHER, int((tok.layer_of_token == len(lay.layers)).sum())))
            to_global = np.array([self._layer_id(key) for key in keys], dtype=np.int64)
            pos = np.empty((tok.num_tokens, 4), dtype=np.int64)
            pos[:, 0] = tok.positions[:, 0]
            pos[:, 1] = to_global[tok.positions[:, 1]]
            pos[:, 2] = tok.positions[:, 2]
            pos[:, 3] = k
            self._positions[a] = pos

    def _layer_id(self, key: tuple[str, int]) -> int:
        if key not in self.layer_keys:
            self.layer_keys.append(key)
        return self.layer_keys.index(key)

    @property
    def num_archs(self) -> int:
        return len(self.archs)

    @property
    def num_tokens(self) -> int:
        """The longest token sequence of any architecture."""
        return max(t.num_tokens for t in self.tokenizers.values())

    @property
    def num_layers(self) -> int:
        """Global layers (the position table's layer ids)."""
        return len(self.layer_keys)

    @property
    def max_neurons(self) -> int:
        return max(t.max_neurons for t in self.tokenizers.values())

    def arch(self, arch: int | None = None) -> int:
        """``arch`` checked, or the only architecture when None (ValueError for several)."""
        if arch is None:
            if len(self.archs) > 1:
                raise ValueError(f"this hyper-representation spans architectures {list(self.archs)}; "
                                 "pass arch= (the zoo's architecture index)")
            return self.archs[0]
        if int(arch) not in self.tokenizers:
            raise ValueError(f"architecture {arch} is not one of this hyper-representation's {list(self.archs)}")
        return int(arch)

    def positions(self, arch: int) -> np.ndarray:
        """``[T_arch, 4]``: token index, global layer id, neuron index, arch index."""
        return self._positions[arch]

    def position_table(self, arch: int, device: torch.device | str) -> torch.Tensor:
        key = (arch, torch.device(device))
        if key not in self._cache:
            self._cache[key] = torch.from_numpy(self._positions[arch]).to(key[1])
        return self._cache[key]

    def describe(self) -> dict[str, object]:
        return {"archs": list(self.archs), "token_size": self.token_size, "layers": self.num_layers,
                "tokens": {a: t.num_tokens for a, t in self.tokenizers.items()}}
