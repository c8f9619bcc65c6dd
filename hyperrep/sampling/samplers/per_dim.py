"""``kde-dim``: one Gaussian KDE per dimension, dimensions drawn independently (each
dimension picks its own anchor), per-dimension Silverman bandwidth."""

from __future__ import annotations

import numpy as np

from hyperrep.sampling.samplers.registry import Sampler, SamplerConfig, no_anchor, register_sampler


def draw(z: np.ndarray, n: int, rng: np.random.Generator, config: SamplerConfig,
         groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    q, d = z.shape
    # Silverman's 1-D rule on z-scored data (std 1): 0.9 * min(1, IQR/1.34) * n^-1/5
    iqr = np.subtract(*np.percentile(z, [75, 25], axis=0))
    h = 0.9 * np.minimum(1.0, np.where(iqr > 0, iqr / 1.34, 1.0)) * q ** (-0.2)
    picks = rng.integers(0, q, size=(n, d))
    return z[picks, np.arange(d)] + h * rng.standard_normal((n, d)), no_anchor(n)


SAMPLER = register_sampler(Sampler("kde-dim", draw, help="a 1-D KDE per dimension, each dimension from its own anchor"))
