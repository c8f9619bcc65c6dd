"""``kde-pca``: PCA with ``k`` components fitted on the standardised anchors; a joint KDE
(``bandwidth`` rule, default Silverman) in the whitened ``k`` scores, mapped back. It moves
only along the few directions in which the anchors actually differ."""

from __future__ import annotations

import numpy as np

from hyperrep.sampling.samplers.registry import Sampler, SamplerConfig, joint_bandwidth, register_sampler


def pca_components(q: int, d: int, k: int = 0) -> int:
    """Components kde-pca uses for ``q`` anchors of ``d`` dims: ``k`` (0: min(q - 1, 16)),
    at most the rank of ``q`` centred anchors (q - 1) and ``d``."""
    return max(1, min(k or min(q - 1, 16), q - 1, d))


def draw(z: np.ndarray, n: int, rng: np.random.Generator, config: SamplerConfig,
         groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A joint KDE in the whitened scores of the anchors' top ``k`` principal components.

    The draw is ``mean + V_k^T (s_a + h * sd * eps) + r``: ``s_a`` the scores of a random
    anchor ``a``, ``sd`` the scores' per-component std (the kernel is as wide as the anchors'
    spread along each component times the bandwidth ``h`` of the ``k``-dim rule), ``r`` the
    orthogonal residual. ``pca_residual = "anchor"`` (the default) keeps anchor ``a``'s own
    residual: a draw is that anchor moved only along the ``k`` directions in which the anchors
    differ most; "drop" sets ``r = 0``, i.e. samples the ``k``-dim reconstruction, which
    smooths away whatever the anchors do outside the subspace. Measured on the SYNTHETIC
    comparison zoo (docs/sampling.md; 27 anchors, k = 4, best 10 of 40 draws) keeping it gave a
    median zero-shot test accuracy of 0.283 / 0.244 (two seeds) against 0.200 / 0.189 dropped,
    so it is the default; with ``k = q - 1`` (the default for up to 17 anchors) the residual is
    zero and the two agree.
    """
    q, d = z.shape
    k = pca_components(q, d, config.pca_components)
    mean = z.mean(0)
    centred = z - mean
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    basis = vt[:k]  # [k, d]
    scores = centred @ basis.T  # [q, k]
    sd = scores.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    white = scores / sd
    h = joint_bandwidth(white, config.bandwidth)
    origin = rng.integers(0, q, size=n)
    drawn = (white[origin] + h * rng.standard_normal((n, k))) * sd
    out = mean + drawn @ basis
    if config.pca_residual == "anchor":
        out = out + (centred[origin] - scores[origin] @ basis)
    return out, origin


SAMPLER = register_sampler(Sampler(
    "kde-pca", draw, options=("bandwidth", "pca_components", "pca_residual"), around_anchor=True,
    help="a joint KDE in the anchors' top --pca-components principal components, the drawn anchor's residual "
         "kept or dropped (--pca-residual)",
))
