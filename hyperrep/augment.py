"""Batched, vectorised augmentations of weight vectors and token tensors.

:class:`Permuter` turns a batch of random neuron permutations (one per symmetry group
of the layout and per sample) into one gather index ``[B, P]``, with loops over groups
only; ``flat.gather(1, idx)`` then permutes every tensor axis of a group consistently.
The index equals :meth:`Layout.permutation_index` for the same permutations.

Noise, erasing and windows act on standardised token tensors ``[B, T, D]``.
All randomness comes from an explicit ``torch.Generator`` on the data's device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from eo_tasks.models import Layout
from hyperrep.config import AugmentSection
from hyperrep.tokens import Tokenizer


class Permuter:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.num_params = layout.num_params
        tmap = layout.tensor_map
        # Per group: pos[n, r] = flat index of the r-th entry of neuron n over all members,
        # so new neuron i of the group reads its entries from old neuron perm[i].
        self.groups: list[tuple[str, int, np.ndarray]] = []
        for g in layout.groups:
            parts = []
            for m in g.members:
                t = tmap[m.tensor]
                view = np.arange(t.offset, t.offset + t.size, dtype=np.int64).reshape(t.shape)
                region = np.moveaxis(view, m.axis, 0)[m.start : m.start + g.size * m.block]
                parts.append(region.reshape(g.size, -1))
            self.groups.append((g.name, g.size, np.concatenate(parts, axis=1)))
        self._cache: dict[torch.device, list[torch.Tensor]] = {}

    def _positions(self, device: torch.device) -> list[torch.Tensor]:
        if device not in self._cache:
            self._cache[device] = [torch.from_numpy(pos).to(device) for _, _, pos in self.groups]
        return self._cache[device]

    def random_perms(self, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Uniform random permutations ``[batch, size]`` for every group."""
        device = generator.device
        return {name: torch.rand(batch, size, generator=generator, device=device).argsort(dim=1)
                for name, size, _ in self.groups}

    def index(self, perms: dict[str, torch.Tensor], batch: int | None = None,
              device: torch.device | str = "cpu") -> torch.Tensor:
        """Gather index ``[B, P]`` applying ``perms[group]`` ``[B, size]``; groups not named stay."""
        if batch is None:
            batch = next(iter(perms.values())).shape[0] if perms else 1
        device = torch.device(device) if not perms else next(iter(perms.values())).device
        idx = torch.arange(self.num_params, device=device).expand(batch, -1).clone()
        for (name, size, _), pos in zip(self.groups, self._positions(device)):
            perm = perms.get(name)
            if perm is None:
                continue
            if perm.shape != (batch, size):
                raise ValueError(f"perms[{name!r}] has shape {tuple(perm.shape)}, expected ({batch}, {size})")
            src = pos[perm].reshape(batch, -1)  # [B, size * R]
            dst = pos.reshape(1, -1).expand(batch, -1)
            # Groups touch disjoint (tensor, axis) blocks and so commute; composing through
            # the current index keeps rows and columns of a shared tensor both permuted.
            idx.scatter_(1, dst, idx.gather(1, src))
        return idx

    def __call__(self, flat: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Randomly permute each row of ``flat`` ``[B, P]``."""
        idx = self.index(self.random_perms(flat.shape[0], generator), flat.shape[0], flat.device)
        return flat.gather(1, idx)


def _uniform(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=generator.device)


def noise(tokens: torch.Tensor, mask: torch.Tensor, add: float, mul: float, generator: torch.Generator) -> torch.Tensor:
    """Multiplicative then additive Gaussian noise on the real (unmasked) entries."""
    out = tokens
    if mul > 0:
        eps = torch.randn(tokens.shape, generator=generator, device=generator.device)
        out = out * (1.0 + mul * eps)
    if add > 0:
        eps = torch.randn(tokens.shape, generator=generator, device=generator.device)
        out = out + add * eps
    return out * mask


def erase(tokens: torch.Tensor, prob_block: float, size: tuple[float, float], prob_scatter: float,
          generator: torch.Generator) -> torch.Tensor:
    """Zero one random token x element rectangle per sample (with ``prob_block``) and/or
    single random entries (each with ``prob_scatter``)."""
    B, T, D = tokens.shape
    keep = torch.ones(B, T, D, dtype=torch.bool, device=tokens.device)
    if prob_block > 0:
        lo, hi = size
        sides = []
        for n in (T, D):
            frac = lo + (hi - lo) * _uniform((B,), generator)
            length = (frac * n).ceil().clamp(1, n).long()
            start = (_uniform((B,), generator) * (n - length + 1)).floor().long()
            ar = torch.arange(n, device=tokens.device)
            sides.append((ar >= start[:, None]) & (ar < (start + length)[:, None]))  # [B, n]
        hit = _uniform((B,), generator) < prob_block
        block = sides[0][:, :, None] & sides[1][:, None, :] & hit[:, None, None]
        keep &= ~block
    if prob_scatter > 0:
        keep &= _uniform((B, T, D), generator) >= prob_scatter
    return tokens * keep


def window_starts(batch: int, num_tokens: int, window: int, generator: torch.Generator) -> torch.Tensor:
    """Random window start ``[B]``; the window covers ``start .. start + window``."""
    return (_uniform((batch,), generator) * (num_tokens - window + 1)).floor().long()


@dataclass
class View:
    """One augmented view of a batch: noisy input tokens, the clean (permuted) target
    tokens, and which token of the full sequence each row holds."""

    inputs: torch.Tensor  # [B, W, D]
    target: torch.Tensor  # [B, W, D]
    token_index: torch.Tensor  # [B, W] indices into the tokenizer's T tokens
    target_flat: torch.Tensor  # [B, P] clean permuted standardised weights

    def whole(self, tokenizer: Tokenizer) -> torch.Tensor:
        """The view's whole model ``[B, P]``, standardised: its augmented tokens inside its
        window, the clean (permuted) ones outside (what the function tokens run)."""
        rows = self.token_index[:, :, None].expand(-1, -1, tokenizer.token_size)
        full = tokenizer.tokenize(self.target_flat).scatter(1, rows, self.inputs.to(self.target_flat.dtype))
        return tokenizer.detokenize(full)


class Augmenter:
    def __init__(self, tokenizer: Tokenizer, cfg: AugmentSection) -> None:
        self.tokenizer = tokenizer
        self.cfg = cfg
        self.permuter = Permuter(tokenizer.layout)
        self.window = cfg.window if 0 < cfg.window < tokenizer.num_tokens else 0

    def view(self, flat: torch.Tensor, generator: torch.Generator) -> View:
        """``flat`` ``[B, P]`` standardised weights -> one augmented view."""
        cfg = self.cfg
        if cfg.permute:
            flat = self.permuter(flat, generator)
        target = self.tokenizer.tokenize(flat)
        mask = self.tokenizer.tables(flat.device)["mask"]
        x = noise(target, mask, cfg.noise_add, cfg.noise_mul, generator)
        x = erase(x, cfg.erase_block, cfg.erase_size, cfg.erase_scatter, generator)
        B, T, D = target.shape
        token_index = torch.arange(T, device=flat.device).expand(B, -1)
        if self.window:
            start = window_starts(B, T, self.window, generator)
            token_index = start[:, None] + torch.arange(self.window, device=flat.device)
            rows = token_index[:, :, None].expand(-1, -1, D)
            x, target = x.gather(1, rows), target.gather(1, rows)
        return View(x, target, token_index, flat)
