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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eo_tasks.config import ConfigError

METHODS = ("kde", "kde-dim", "neighbour", "uniform")
BANDWIDTHS = ("scott", "silverman", "cv")


@dataclass(frozen=True)
class SamplerConfig:
    bandwidth: str | float = "silverman"  # joint KDE: "scott" | "silverman" | "cv" | a number (z-units)
    neighbour_scale: float = 0.2  # neighbour: fraction of the anchors' per-dimension std

    def __post_init__(self) -> None:
        if isinstance(self.bandwidth, str) and self.bandwidth not in BANDWIDTHS:
            raise ConfigError(f"bandwidth must be one of {BANDWIDTHS} or a positive number, got {self.bandwidth!r}")
        if not isinstance(self.bandwidth, str) and not self.bandwidth > 0:
            raise ConfigError(f"bandwidth must be positive, got {self.bandwidth}")
        if not self.neighbour_scale >= 0:
            raise ConfigError(f"neighbour_scale must be >= 0, got {self.neighbour_scale}")


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
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` new embeddings [n, d] drawn from ``anchors`` [q, d], and for each the index
    of the anchor it was drawn around (-1 where no single anchor applies: uniform, kde-dim)."""
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
    elif method == "neighbour":
        origin = rng.integers(0, q, size=n)
        out = z[origin] + config.neighbour_scale * rng.standard_normal((n, d))
    else:
        lo, hi = z.min(0), z.max(0)
        out = lo + (hi - lo) * rng.random((n, d))
    return (out * std + mean).astype(np.float32), origin
