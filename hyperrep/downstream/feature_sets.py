"""The feature-set registry: a feature set beyond the built-in weight and embedding views
(:data:`~hyperrep.downstream.names.FEATURE_SETS`) is one :class:`FeatureSet` entry, built
from the report's rows. Every registered predictor that applies reads it like any other.

Built in here:

- ``probe``: each checkpoint's softmax outputs on the report's fixed probe inputs
  (:mod:`~hyperrep.downstream.probing`; ``hyperzoo predict --probes N``). One width for
  every architecture of a zoo, unchanged by permutations of hidden neurons.
- ``probe+s(W)``: the same information as the learned functional rows get (the outputs and
  the statistics) with no learning, so that a learned row that beats it wins by learning.
- ``recipe``: not a weight-space view, a reference: the hyperparameters the model was
  trained with, its architecture and the checkpoint's epoch. A property the recipe holds
  itself (the epoch, the hyperparameters) is n/a for it.

No heavy imports: the ``hyperzoo predict`` parser reads the names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from hyperrep.downstream.evaluation import DownstreamData


@dataclass(frozen=True)
class FeatureSet:
    """``build(data, stats)`` -> the matrix (one row per checkpoint) or the reason there is
    none; ``holds``: properties this set contains (their cells are n/a); ``holds_hyper``: it
    also holds every hyperparameter."""

    name: str
    build: Callable[[DownstreamData, np.ndarray], np.ndarray | str]
    help: str
    holds: tuple[str, ...] = ()
    holds_hyper: bool = False


FEATURE_SET_REGISTRY: dict[str, FeatureSet] = {}


def register_feature_set(fs: FeatureSet) -> FeatureSet:
    if fs.name in FEATURE_SET_REGISTRY:
        raise ValueError(f"feature set {fs.name!r} already registered")
    FEATURE_SET_REGISTRY[fs.name] = fs
    return fs


def holds(name: str, prop: str) -> bool:
    """True when feature set ``name`` contains property ``prop`` itself."""
    from hyperrep.downstream.properties import HYPERPARAMETERS

    fs = FEATURE_SET_REGISTRY.get(name)
    if fs is None:
        return False
    return prop in fs.holds or (fs.holds_hyper and prop in {p.name for p in HYPERPARAMETERS})


NO_PROBES = "no probe responses: pass --probes N (and --data-root where the zoo's data folder is not here)"


def _probe(data: DownstreamData, stats: np.ndarray) -> np.ndarray | str:
    return NO_PROBES if data.probes is None else data.probes


def _probe_stats(data: DownstreamData, stats: np.ndarray) -> np.ndarray | str:
    import numpy as np

    return NO_PROBES if data.probes is None else np.concatenate([data.probes, stats], axis=1)


def _recipe(data: DownstreamData, stats: np.ndarray) -> np.ndarray | str:
    from hyperrep.downstream.recipe import recipe_matrix

    return recipe_matrix(data.rows)


register_feature_set(FeatureSet(
    "probe", _probe, "softmax outputs on the fixed probe inputs (training-split images, no labels)"))
register_feature_set(FeatureSet(
    "probe+s(W)", _probe_stats, "the probe outputs and s(W) side by side: the learned rows' information, unlearned"))
register_feature_set(FeatureSet(
    "recipe", _recipe, "reference, not weight space: hyperparameters, architecture and epoch",
    holds=("epoch", "fusion_mode"), holds_hyper=True))


def feature_set_names() -> tuple[str, ...]:
    return tuple(FEATURE_SET_REGISTRY)
