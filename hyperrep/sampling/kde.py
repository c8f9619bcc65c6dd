"""Draw new embeddings from a handful of anchor embeddings.

Every sampler works in the anchors' standardised coordinates (per-dimension z-scores),
so one bandwidth or scale means the same thing in every embedding dimension, and maps
its draws back afterwards. All randomness comes from the caller's ``numpy`` Generator.

- ``kde``: a joint Gaussian kernel density over the anchors (sklearn ``KernelDensity``),
  bandwidth by Scott's or Silverman's rule or by leave-one-out likelihood.
- ``kde-dim``: one Gaussian KDE per dimension, dimensions drawn independently
  (each dimension picks its own anchor), per-dimension Silverman bandwidth.
- ``neighbour``: a random anchor plus Gaussian noise of ``scale`` times the anchors'
  per-dimension standard deviation.
- ``uniform``: uniform in the anchors' per-dimension ``[min, max]`` box (naive baseline).
- ``kde-layer``: the embedding split into blocks by the layer of its tokens (``groups``,
  one id per dimension: :func:`hyperrep.sampling.sample.embedding_groups`); each block is
  drawn from a joint KDE over the anchors' blocks of that layer (its own anchor, its own
  bandwidth by the ``bandwidth`` rule at that block's width), layers independently.
- ``kde-pca``: PCA with ``k`` components fitted on the standardised anchors; a joint KDE
  (``bandwidth`` rule, default Silverman) in the whitened ``k`` scores, mapped back. With
  ``k`` below the anchors' rank the anchors also have a residual orthogonal to the ``k``
  components; ``pca_residual`` says what a draw does with it (see :func:`_kde_pca`).

A joint KDE over thousands of dimensions from a few dozen anchors is not estimable: the
Silverman/Scott bandwidth tends to 1 (the anchors' own spread) as the dimension grows, so
``kde`` adds noise as large as the anchors' spread in every direction. ``kde-layer``
lowers the dimension per block and mixes anchors across layers; ``kde-pca`` only moves
along the few directions in which the anchors actually differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eo_tasks.config import ConfigError

METHODS = ("kde", "kde-dim", "neighbour", "uniform", "kde-layer", "kde-pca")
BANDWIDTHS = ("scott", "silverman", "cv")
PCA_RESIDUALS = ("anchor", "drop")


@dataclass(frozen=True)
class SamplerConfig:
    bandwidth: str | float = "silverman"  # joint KDE: "scott" | "silverman" | "cv" | a number (z-units)
    neighbour_scale: float = 0.2  # neighbour: fraction of the anchors' per-dimension std
    pca_components: int = 0  # kde-pca: k; 0 = min(anchors - 1, 16)
    pca_residual: str = "anchor"  # kde-pca: "anchor" keeps the drawn anchor's residual, "drop" drops it

    def __post_init__(self) -> None:
        if isinstance(self.bandwidth, str) and self.bandwidth not in BANDWIDTHS:
            raise ConfigError(f"bandwidth must be one of {BANDWIDTHS} or a positive number, got {self.bandwidth!r}")
        if not isinstance(self.bandwidth, str) and not self.bandwidth > 0:
            raise ConfigError(f"bandwidth must be positive, got {self.bandwidth}")
        if not self.neighbour_scale >= 0:
            raise ConfigError(f"neighbour_scale must be >= 0, got {self.neighbour_scale}")
        if not (isinstance(self.pca_components, int) and self.pca_components >= 0):
            raise ConfigError(f"pca_components must be a whole number >= 0 (0: automatic), got {self.pca_components!r}")
        if self.pca_residual not in PCA_RESIDUALS:
            raise ConfigError(f"pca_residual must be one of {PCA_RESIDUALS}, got {self.pca_residual!r}")


def _standardise(anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = anchors.mean(0)
    std = anchors.std(0)
    # a dimension constant over the anchors carries no spread to sample from: keep it fixed
    std = np.where(std > 1e-12, std, 1.0)
    return (anchors - mean) / std, mean, std


def joint_bandwidth(z: np.ndarray, rule: str | float) -> float:
    """Bandwidth (in z-units) of the joint KDE over standardised anchors ``z`` [n, d]."""
    n, d = z.shape
    if not isinstance(rule, str):
        return float(rule)
    if rule == "scott":
        return float(n ** (-1.0 / (d + 4)))
    if rule == "silverman":
        return float((n * (d + 2) / 4.0) ** (-1.0 / (d + 4)))
    from sklearn.model_selection import GridSearchCV, LeaveOneOut
    from sklearn.neighbors import KernelDensity

    if n < 3:
        return joint_bandwidth(z, "silverman")
    grid = np.geomspace(0.05, 2.0, 16)
    search = GridSearchCV(KernelDensity(kernel="gaussian"), {"bandwidth": grid}, cv=LeaveOneOut())
    search.fit(z)
    return float(search.best_params_["bandwidth"])


def sample_embeddings(
    anchors: np.ndarray,
    n: int,
    method: str,
    rng: np.random.Generator,
    config: SamplerConfig = SamplerConfig(),
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` new embeddings [n, d] drawn from ``anchors`` [q, d], and for each the index
    of the anchor it was drawn around (-1 where no single anchor applies: uniform, kde-dim,
    kde-layer). ``groups`` [d] (kde-layer only): the layer of each embedding dimension."""
    anchors = np.asarray(anchors, dtype=np.float64)
    if anchors.ndim != 2 or len(anchors) < 2:
        raise ValueError(
            f"anchors must be a [q, d] array with q >= 2 (their spread sets the scale), got shape {anchors.shape}"
        )
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
    if n < 1:
        raise ConfigError(f"n must be >= 1, got {n}")
    q, d = anchors.shape
    z, mean, std = _standardise(anchors)
    origin = np.full(n, -1, dtype=np.int64)
    if method == "kde":
        # sklearn's KernelDensity.sample is a random anchor plus isotropic Gaussian noise;
        # drawing it here keeps the Generator the only source of randomness
        h = joint_bandwidth(z, config.bandwidth)
        origin = rng.integers(0, q, size=n)
        out = z[origin] + h * rng.standard_normal((n, d))
    elif method == "kde-dim":
        # Silverman's 1-D rule on z-scored data (std 1): 0.9 * min(1, IQR/1.34) * n^-1/5
        iqr = np.subtract(*np.percentile(z, [75, 25], axis=0))
        h = 0.9 * np.minimum(1.0, np.where(iqr > 0, iqr / 1.34, 1.0)) * q ** (-0.2)
        picks = rng.integers(0, q, size=(n, d))
        out = z[picks, np.arange(d)] + h * rng.standard_normal((n, d))
    elif method == "kde-layer":
        out = _kde_layer(z, n, rng, config, _groups(groups, d))
    elif method == "kde-pca":
        out, origin = _kde_pca(z, n, rng, config)
    elif method == "neighbour":
        origin = rng.integers(0, q, size=n)
        out = z[origin] + config.neighbour_scale * rng.standard_normal((n, d))
    else:
        lo, hi = z.min(0), z.max(0)
        out = lo + (hi - lo) * rng.random((n, d))
    return (out * std + mean).astype(np.float32), origin


def _groups(groups: np.ndarray | None, d: int) -> np.ndarray:
    if groups is None:
        raise ValueError("kde-layer needs groups: the layer of each embedding dimension")
    groups = np.asarray(groups)
    if groups.shape != (d,):
        raise ValueError(f"groups must give one layer per embedding dimension ({d}), got shape {groups.shape}")
    return groups


def _kde_layer(z: np.ndarray, n: int, rng: np.random.Generator, config: SamplerConfig,
               groups: np.ndarray) -> np.ndarray:
    """Per layer block: a random anchor's block plus isotropic noise at that block's bandwidth."""
    q = len(z)
    out = np.empty((n, z.shape[1]))
    for g in np.unique(groups):  # sorted: a fixed order of draws for a given seed
        cols = np.flatnonzero(groups == g)
        block = z[:, cols]
        h = joint_bandwidth(block, config.bandwidth)
        pick = rng.integers(0, q, size=n)
        out[:, cols] = block[pick] + h * rng.standard_normal((n, len(cols)))
    return out


def pca_components(q: int, d: int, k: int = 0) -> int:
    """Components kde-pca uses for ``q`` anchors of ``d`` dims: ``k`` (0: min(q - 1, 16)),
    at most the rank of ``q`` centred anchors (q - 1) and ``d``."""
    return max(1, min(k or min(q - 1, 16), q - 1, d))


def _kde_pca(z: np.ndarray, n: int, rng: np.random.Generator,
             config: SamplerConfig) -> tuple[np.ndarray, np.ndarray]:
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
