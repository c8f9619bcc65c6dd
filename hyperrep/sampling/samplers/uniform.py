"""``uniform``: uniform in the anchors' per-dimension ``[min, max]`` box (a naive baseline)."""

from __future__ import annotations

import numpy as np

from hyperrep.sampling.samplers.registry import Sampler, SamplerConfig, no_anchor, register_sampler


def draw(z: np.ndarray, n: int, rng: np.random.Generator, config: SamplerConfig,
         groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = z.min(0), z.max(0)
    return lo + (hi - lo) * rng.random((n, z.shape[1])), no_anchor(n)


SAMPLER = register_sampler(Sampler("uniform", draw, help="uniform in the anchors' bounding box (a naive baseline)"))
