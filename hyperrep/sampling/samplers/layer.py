"""``kde-layer``: the embedding split into blocks by the layer of its tokens (``groups``,
one id per dimension: :func:`hyperrep.sampling.sample.embedding_groups`); each block is
drawn from a joint KDE over the anchors' blocks of that layer (its own anchor, its own
bandwidth by the ``bandwidth`` rule at that block's width), layers independently. It lowers
the dimension per KDE and mixes anchors across layers."""

from __future__ import annotations

import numpy as np

from hyperrep.sampling.samplers.registry import Sampler, SamplerConfig, joint_bandwidth, no_anchor, register_sampler


def draw(z: np.ndarray, n: int, rng: np.random.Generator, config: SamplerConfig,
         groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    q = len(z)
    out = np.empty((n, z.shape[1]))
    for g in np.unique(groups):  # sorted: a fixed order of draws for a given seed
        cols = np.flatnonzero(groups == g)
        block = z[:, cols]
        h = joint_bandwidth(block, config.bandwidth)
        pick = rng.integers(0, q, size=n)
        out[:, cols] = block[pick] + h * rng.standard_normal((n, len(cols)))
    return out, no_anchor(n)


SAMPLER = register_sampler(Sampler(
    "kde-layer", draw, options=("bandwidth",), needs_groups=True,
    help="a joint KDE per layer's block of token latents, layers independently (needs a per-token embedding)",
))
