"""The sampler registry: every way of drawing new embeddings around anchor embeddings is
one :class:`Sampler` entry, registered once with its name, the :class:`SamplerConfig`
options it reads and a one-line help; ``hyperzoo sample``'s ``--method`` choices and help,
``SampleConfig``'s checks and the residual rule all read this table.

Every sampler works in the anchors' standardised coordinates (per-dimension z-scores), so
one bandwidth or scale means the same thing in every embedding dimension;
:func:`sample_embeddings` standardises, calls the sampler and maps its draws back. All
randomness comes from the caller's ``numpy`` Generator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from eo_tasks import ConfigError

BANDWIDTHS = ("scott", "silverman", "cv")
PCA_RESIDUALS = ("anchor", "drop")
# What a draw adds to its decoded weights (hyperrep.sampling.sample): "anchor" needs a
# sampler that draws around one anchor (Sampler.around_anchor)
RESIDUALS = ("none", "anchor")
# The default novelty floor of sampling (hyperrep.sampling.novelty): a quarter of the distance
# between two independently trained models of the zoo, the bar below which issue 37 calls a
# sample a perturbed copy of a training model
MIN_NOVELTY = 0.25
# The default sampler, chosen on validation accuracy under that floor on the wild park
# (docs/sampling.md, "Unseen models, not perturbed copies"): one anchor plus noise of 0.3 of
# the anchors' per-dimension std in the embedding, decoded with no residual (the smaller scales
# kept draws below the floor there)
DEFAULT_METHOD = "neighbour"
DEFAULT_SCALE = 0.3


@dataclass(frozen=True)
class SamplerConfig:
    bandwidth: str | float = "silverman"  # joint KDE: "scott" | "silverman" | "cv" | a number (z-units)
    neighbour_scale: float = DEFAULT_SCALE  # the "neighbour" name of kde: its bandwidth, in the anchors' stds
    pca_components: int = 0  # kde-pca: k; 0 = min(anchors - 1, 16)
    pca_residual: str = "anchor"  # kde-pca: "anchor" keeps the drawn anchor's residual, "drop" drops it

    def __post_init__(self) -> None:
        if isinstance(self.bandwidth, str) and self.bandwidth not in BANDWIDTHS:
            raise ConfigError(f"bandwidth must be one of {BANDWIDTHS} or a number >= 0, got {self.bandwidth!r}")
        # 0 is allowed: "neighbour" with scale 0 draws the anchors themselves
        if not isinstance(self.bandwidth, str) and not self.bandwidth >= 0:
            raise ConfigError(f"bandwidth must be >= 0, got {self.bandwidth}")
        if not self.neighbour_scale >= 0:
            raise ConfigError(f"neighbour_scale must be >= 0, got {self.neighbour_scale}")
        if not (isinstance(self.pca_components, int) and self.pca_components >= 0):
            raise ConfigError(f"pca_components must be a whole number >= 0 (0: automatic), got {self.pca_components!r}")
        if self.pca_residual not in PCA_RESIDUALS:
            raise ConfigError(f"pca_residual must be one of {PCA_RESIDUALS}, got {self.pca_residual!r}")


# (standardised anchors [q, d], draws n, rng, options, layer of each dimension or None)
#   -> (draws [n, d] in z-units, index of the anchor each was drawn around or -1)
DrawFn = Callable[[np.ndarray, int, np.random.Generator, SamplerConfig, "np.ndarray | None"],
                  tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Sampler:
    """One sampler. ``options``: the :class:`SamplerConfig` fields it reads;
    ``around_anchor``: every draw is one anchor moved (its origin >= 0), which
    ``--residual anchor`` needs; ``needs_groups``: it reads the layer of each embedding
    dimension; ``aliases``: other names of it, each with the option that becomes its
    ``bandwidth`` under that name (kept so that older configs and commands still work)."""

    name: str
    draw: DrawFn
    help: str
    options: tuple[str, ...] = ()
    around_anchor: bool = False
    needs_groups: bool = False
    aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fields = set(SamplerConfig.__dataclass_fields__)
        unknown = (set(self.options) | set(self.aliases.values())) - fields
        if unknown:
            raise ValueError(f"sampler {self.name!r}: {sorted(unknown)} are not SamplerConfig fields")


SAMPLER_REGISTRY: dict[str, Sampler] = {}


def register_sampler(sampler: Sampler) -> Sampler:
    """Add ``sampler`` under its name and aliases; a name already taken is an error."""
    taken = set(SAMPLER_REGISTRY) | {a for s in SAMPLER_REGISTRY.values() for a in s.aliases}
    clash = sorted(({sampler.name} | set(sampler.aliases)) & taken)
    if clash:
        raise ValueError(f"sampler name(s) {clash} already registered")
    SAMPLER_REGISTRY[sampler.name] = sampler
    return sampler


def sampler_names() -> tuple[str, ...]:
    """Every accepted ``method``: each sampler's name, then its aliases, in registration order."""
    return tuple(n for s in SAMPLER_REGISTRY.values() for n in (s.name, *s.aliases))


def resolve(method: str, config: SamplerConfig) -> tuple[Sampler, SamplerConfig]:
    """The sampler ``method`` names and the options it runs with (an alias sets its bandwidth)."""
    for s in SAMPLER_REGISTRY.values():
        if method == s.name:
            return s, config
        if method in s.aliases:
            return s, replace(config, bandwidth=float(getattr(config, s.aliases[method])))
    raise ConfigError(f"method must be one of {sampler_names()}, got {method!r}")


def residual_methods() -> tuple[str, ...]:
    """The methods ``residual = "anchor"`` works with: samplers that draw around one anchor."""
    return tuple(n for s in SAMPLER_REGISTRY.values() if s.around_anchor for n in (s.name, *s.aliases))


def standardise(anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    of the anchor it was drawn around (-1 where no single anchor applies). ``groups`` [d]
    (samplers with ``needs_groups``): the layer of each embedding dimension."""
    anchors = np.asarray(anchors, dtype=np.float64)
    if anchors.ndim != 2 or len(anchors) < 2:
        raise ValueError(
            f"anchors must be a [q, d] array with q >= 2 (their spread sets the scale), got shape {anchors.shape}"
        )
    sampler, config = resolve(method, config)
    if n < 1:
        raise ConfigError(f"n must be >= 1, got {n}")
    d = anchors.shape[1]
    if sampler.needs_groups:
        groups = _groups(groups, d, sampler.name)
    z, mean, std = standardise(anchors)
    out, origin = sampler.draw(z, n, rng, config, groups)
    return (out * std + mean).astype(np.float32), np.asarray(origin, dtype=np.int64)


def _groups(groups: np.ndarray | None, d: int, name: str) -> np.ndarray:
    if groups is None:
        raise ValueError(f"{name} needs groups: the layer of each embedding dimension")
    groups = np.asarray(groups)
    if groups.shape != (d,):
        raise ValueError(f"groups must give one layer per embedding dimension ({d}), got shape {groups.shape}")
    return groups


def no_anchor(n: int) -> np.ndarray:
    """The origin of draws that were drawn around no single anchor."""
    return np.full(n, -1, dtype=np.int64)
