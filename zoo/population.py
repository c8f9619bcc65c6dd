"""Expand a population spec into its members: the grid's product times seeded random draws."""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from eo_tasks.models import ArchConfig
from eo_tasks.train import TrainConfig
from zoo.spec import TRAIN_KEYS, ZooSpec


@dataclass(frozen=True)
class Member:
    index: int
    name: str  # "m00042"
    arch: ArchConfig
    train: TrainConfig
    overrides: tuple[tuple[str, Any], ...]  # the population values this member was given

    @property
    def subset_seed(self) -> int:
        """Seed of this member's train subset: derived from its training seed, so two members
        with the same seed see the same images and a different seed means different ones."""
        return subset_seed(self.train.seed)


def subset_seed(train_seed: int) -> int:
    """The seed of the training subset of a model trained with seed ``train_seed``."""
    return int(np.random.SeedSequence([train_seed, 0x5EED]).generate_state(1)[0])


def _draw(dist: dict[str, Any], rng: np.random.Generator) -> Any:
    kind, args = next(iter(dist.items()))
    if kind == "choice":
        return args[int(rng.integers(len(args)))]
    if kind == "uniform":
        return float(rng.uniform(args[0], args[1]))
    if kind == "log_uniform":
        return float(math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))
    return int(rng.integers(args[0], args[1], endpoint=True))  # int_uniform, both ends included


def member_overrides(spec: ZooSpec) -> list[dict[str, Any]]:
    """One dict of population values per member, in member order."""
    grid = spec.population.grid
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] if grid else [{}]
    # variants vary fastest, so a zoo cut short (or generated in part) holds every variant
    variants = spec.population.variants or ({},)
    rand = dict(spec.population.random)
    if not rand:
        return [{**variant, **point} for point in points for variant in variants]
    n, seed = rand.pop("n"), rand.pop("seed")
    rng = np.random.default_rng(seed)
    # every member draws its own values, variants included: paired draws would put the same
    # hyperparameters into every architecture's test models (the split is per architecture
    # with one seed), leaving the test models few distinct settings
    return [{**variant, **point, **{key: _draw(dist, rng) for key, dist in rand.items()}}
            for point in points for _ in range(n) for variant in variants]


def expand(spec: ZooSpec, threads: int | None = None) -> list[Member]:
    """The population's members. Without ``seed`` among the varied keys, member ``i`` gets
    seed ``train.seed + i`` so that no two members start from the same weights."""
    members = []
    for i, values in enumerate(member_overrides(spec)):
        train_kw = {k: v for k, v in values.items() if k in TRAIN_KEYS}
        arch_kw = {k: v for k, v in values.items() if k not in TRAIN_KEYS}
        train_kw.setdefault("seed", spec.train.seed + i)
        if threads is not None:
            train_kw["threads"] = threads
        members.append(
            Member(
                index=i,
                name=f"m{i:05d}",
                arch=dataclasses.replace(spec.model, **arch_kw),
                train=dataclasses.replace(spec.train, **train_kw),
                overrides=tuple(values.items()),
            )
        )
    return members
