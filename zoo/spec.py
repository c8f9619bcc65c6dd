"""The population spec: what a zoo TOML file says, parsed and checked up front.

Sections: ``[data]`` (:class:`~eo_tasks.data.DataConfig`), ``[model]`` (the base
:class:`~eo_tasks.models.spec.ArchConfig`), ``[train]`` (the base
:class:`~eo_tasks.train.config.TrainConfig`), ``[population]`` (which members vary how),
``[sparsify]`` (pruned twins) and ``[resources]`` (how Ray runs the tasks). Every key and
value is checked before anything trains; a bad one raises ConfigError naming it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from eo_tasks import ConfigError, from_dict, load_toml, to_dict
from eo_tasks.data import DataConfig
from eo_tasks.models import ArchConfig
from eo_tasks.train import TrainConfig

# Population keys and the config they override.
ARCH_KEYS = ("activation", "init", "dropout", "fusion", "shared_backbone", "channels", "kernel_sizes", "hidden")
# keys that must agree in length within one member: they are checked together
PAIRED_KEYS = ("channels", "kernel_sizes")
TRAIN_KEYS = ("seed", "lr", "weight_decay", "optimizer", "batch_size", "momentum")
MEMBER_KEYS = TRAIN_KEYS + ARCH_KEYS
INT_KEYS = ("seed", "batch_size", "hidden")
DISTRIBUTIONS = ("choice", "uniform", "log_uniform", "int_uniform")
# [data] keys added after zoos were first made (the public datasets' readers), with their defaults
LATER_DATA_DEFAULTS = {"recipe": "standard", "channels": 0, "val_fraction": 0.1}


@dataclass(frozen=True)
class PopulationConfig:
    # key -> list of values; the members are the cartesian product (in key order as written)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    # n, seed, and key -> {choice=[..]} | {uniform=[a,b]} | {log_uniform=[a,b]} | {int_uniform=[a,b]};
    # with a grid, every grid point gets ``n`` draws.
    random: dict[str, Any] = field(default_factory=dict)
    # tables of population keys set together, e.g. [{fusion = "late"}, {fusion = "late",
    # shared_backbone = true}]: every grid point, and each of its ``random.n`` draws, is
    # trained once per variant (the variant varies fastest); each member draws its own values.
    variants: tuple[dict[str, Any], ...] = ()
    keep_epochs: tuple[int, ...] = ()  # () = every epoch, 0 (before training) included
    train_subset: int = 0  # per-member seeded subset of the train split; 0 = all of it


@dataclass(frozen=True)
class SparsifyConfig:
    ratios: tuple[float, ...] = ()  # fraction of prunable weights set to zero, one twin each
    finetune_epochs: int = 1
    scope: Literal["global", "layer"] = "global"

    def __post_init__(self) -> None:
        if any(not 0.0 < r < 1.0 for r in self.ratios):
            raise ConfigError(f"ratios must lie in (0, 1), got {list(self.ratios)}")
        if len(set(self.ratios)) != len(self.ratios):
            raise ConfigError(f"ratios must be distinct, got {list(self.ratios)}")
        if self.finetune_epochs < 0:
            raise ConfigError(f"finetune_epochs must be >= 0, got {self.finetune_epochs}")


@dataclass(frozen=True)
class ResourceConfig:
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    max_retries: int = 2  # Ray re-runs a task whose worker process died, at most this often
    threads_per_task: int = 1  # torch intra-op threads inside each task

    def __post_init__(self) -> None:
        if self.cpus_per_task <= 0 or self.gpus_per_task < 0:
            raise ConfigError("cpus_per_task must be > 0 and gpus_per_task >= 0")
        if self.max_retries < 0 or self.threads_per_task < 1:
            raise ConfigError("max_retries must be >= 0 and threads_per_task >= 1")


@dataclass(frozen=True)
class ZooSpec:
    data: DataConfig = field(default_factory=DataConfig)
    model: ArchConfig = field(default_factory=ArchConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    sparsify: SparsifyConfig = field(default_factory=SparsifyConfig)
    resources: ResourceConfig = field(default_factory=ResourceConfig)
    name: str = ""
    source_text: str = field(default="", compare=False)  # the TOML as written, for provenance

    def normalised(self) -> dict[str, Any]:
        """The parsed config with every default filled in; resources are left out because
        they change how the zoo is computed, not what it contains."""
        out = to_dict(self)
        out.pop("resources")
        out.pop("source_text")
        if not out["population"]["variants"]:  # zoos made before variants existed keep their hash
            out["population"].pop("variants")
        # the public datasets' keys at their defaults: zoos made before those kinds existed keep their hash
        for key, default in LATER_DATA_DEFAULTS.items():
            if out["data"].get(key) == default:
                out["data"].pop(key)
        return out

    @property
    def config_hash(self) -> str:
        text = json.dumps(self.normalised(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def keep_epochs(self) -> tuple[int, ...]:
        return self.population.keep_epochs or tuple(range(self.train.epochs + 1))


def _check_override(key: str, value: Any, base: ZooSpec, where: str) -> Any:
    """Check one population value by building the config it lands in; returns it normalised."""
    if key not in MEMBER_KEYS:
        raise ConfigError(f"{where}: unknown population key {key!r}; expected some of {sorted(MEMBER_KEYS)}")
    target = base.train if key in TRAIN_KEYS else base.model
    fields = {**to_dict(target), key: value}
    if key in PAIRED_KEYS and isinstance(value, (list, tuple)):
        # one key alone: its partner takes the same depth here; members are checked whole later
        partner = PAIRED_KEYS[1 - PAIRED_KEYS.index(key)]
        fields[partner] = [fields[partner][0]] * len(value) if value else []
    try:
        built = from_dict(type(target), fields, where="")
    except ConfigError as err:  # from_dict names ".key: ..." or ": ..."; name the population entry instead
        raise ConfigError(f"{where}: {str(err).split(': ', 1)[-1]}") from None
    value = getattr(built, key)
    if key == "seed" and value < 0:
        raise ConfigError(f"{where}: seeds must be >= 0, got {value}")
    if key == "hidden" and value < 0:
        raise ConfigError(f"{where}: hidden must be >= 0 (0: no hidden layer), got {value}")
    if key in PAIRED_KEYS and any(v < 1 for v in value):
        raise ConfigError(f"{where}: {key} must be positive integers, got {list(value)}")
    return value


def _check_distribution(key: str, dist: Any, base: ZooSpec, where: str) -> dict[str, Any]:
    if isinstance(dist, list):
        dist = {"choice": dist}
    if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
        raise ConfigError(
            f"{where}: expected a table with one of {list(DISTRIBUTIONS)} (e.g. {{log_uniform = [1e-4, 1e-2]}}), "
            f"got {dist!r}"
        )
    kind, args = next(iter(dist.items()))
    if not isinstance(args, list) or not args:
        raise ConfigError(f"{where}.{kind}: expected a non-empty list, got {args!r}")
    if kind == "choice":
        return {kind: [_check_override(key, v, base, f"{where}.choice[{i}]") for i, v in enumerate(args)]}
    numeric = all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
    if len(args) != 2 or not numeric or not args[0] <= args[1]:
        raise ConfigError(f"{where}.{kind}: expected [low, high] with low <= high, got {args!r}")
    if kind == "log_uniform" and args[0] <= 0:
        raise ConfigError(f"{where}.log_uniform: bounds must be > 0, got {args!r}")
    if (kind == "int_uniform") != (key in INT_KEYS):
        raise ConfigError(f"{where}: {key} takes {'integers: use int_uniform' if key in INT_KEYS else 'numbers: use uniform or log_uniform'} or choice, not {kind}")
    args = [_check_override(key, a, base, f"{where}.{kind}[{i}]") for i, a in enumerate(args)]
    return {kind: list(args)}


def _check_variant(variant: dict[str, Any], base: ZooSpec, grid: dict[str, Any], random: dict[str, Any],
                   where: str) -> dict[str, Any]:
    if not variant:
        raise ConfigError(f"{where}: an empty variant (e.g. {{fusion = \"late\", shared_backbone = true}})")
    out = {}
    for key, value in variant.items():
        if key in grid or key in random:
            raise ConfigError(f"{where}.{key}: {key!r} is varied by the grid or the random draws as well")
        out[key] = _check_override(key, value, base, f"{where}.{key}")
    return out


def _paired_options(grid: dict[str, Any], random: dict[str, Any], key: str, base: Any) -> list[tuple[str, Any]]:
    """Every value ``key`` can take in a member, each with where it was written."""
    if key in grid:
        return [(f"population.grid.{key}[{i}]", v) for i, v in enumerate(grid[key])]
    if key in random:
        dist = random[key]
        return [(f"population.random.{key}.{k}[{i}]", v) for k, vs in dist.items() for i, v in enumerate(vs)]
    return [("model", base)]


def _check_depths(spec: ZooSpec, grid: dict[str, Any], random: dict[str, Any],
                  variants: tuple[dict[str, Any], ...], where: str) -> None:
    """Every member's channels and kernel_sizes have one length (a variant sets both or neither)."""
    for i, variant in enumerate(variants or ({},)):
        options = []
        for key in PAIRED_KEYS:
            if key in variant:
                options.append([(f"population.variants[{i}].{key}", variant[key])])
            else:
                options.append(_paired_options(grid, random, key, getattr(spec.model, key)))
        for (w1, channels) in options[0]:
            for (w2, kernels) in options[1]:
                if len(channels) != len(kernels):
                    raise ConfigError(
                        f"{where}: a member would get channels {list(channels)} ({w1}) with kernel_sizes "
                        f"{list(kernels)} ({w2}): expected one entry per conv layer in both")


def _check_population(spec: ZooSpec, where: str) -> ZooSpec:
    pop = spec.population
    grid: dict[str, list[Any]] = {}
    for key, values in pop.grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}.population.grid.{key}: expected a non-empty list, got {values!r}")
        grid[key] = [_check_override(key, v, spec, f"{where}.population.grid.{key}[{i}]") for i, v in enumerate(values)]
    rand = dict(pop.random)
    random: dict[str, Any] = {}
    if rand:
        n, seed = rand.pop("n", None), rand.pop("seed", 0)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"{where}.population.random.n: expected a positive integer, got {n!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"{where}.population.random.seed: expected an integer, got {seed!r}")
        if not rand:
            raise ConfigError(f"{where}.population.random: no keys to draw (e.g. lr = {{log_uniform = [1e-4, 1e-2]}})")
        random = {"n": n, "seed": seed}
        for key, dist in rand.items():
            if key in grid:
                raise ConfigError(f"{where}.population.random.{key}: {key!r} is in the grid as well")
            random[key] = _check_distribution(key, dist, spec, f"{where}.population.random.{key}")
    variants = tuple(_check_variant(v, spec, grid, random, f"{where}.population.variants[{i}]")
                     for i, v in enumerate(pop.variants))
    if len(set(map(repr, variants))) != len(variants):
        raise ConfigError(f"{where}.population.variants: two variants are the same")
    _check_depths(spec, grid, random, variants, where)
    epochs = spec.train.epochs
    for i, e in enumerate(pop.keep_epochs):
        if not 0 <= e <= epochs:
            raise ConfigError(f"{where}.population.keep_epochs[{i}]: {e} is outside 0..train.epochs={epochs}")
    if list(pop.keep_epochs) != sorted(set(pop.keep_epochs)):
        raise ConfigError(f"{where}.population.keep_epochs: expected increasing, distinct epochs, got {list(pop.keep_epochs)}")
    if pop.train_subset < 0:
        raise ConfigError(f"{where}.population.train_subset: expected >= 0, got {pop.train_subset}")
    new_pop = dataclasses.replace(pop, grid=grid, random=random, variants=variants)
    return dataclasses.replace(spec, population=new_pop)


def parse_spec(raw: dict[str, Any], where: str = "zoo config", text: str = "") -> ZooSpec:
    """Check a parsed TOML mapping and return the ZooSpec; errors name ``where`` and the key."""
    raw = dict(raw)
    if "source_text" in raw:
        raise ConfigError(f"{where}: unknown key 'source_text'")
    spec = from_dict(ZooSpec, raw, where=where)
    spec = _check_population(spec, where)
    if spec.train.seed < 0:
        raise ConfigError(f"{where}.train.seed: seeds must be >= 0, got {spec.train.seed}")
    if spec.train.epochs < 1:
        raise ConfigError(f"{where}.train.epochs: a zoo needs at least 1 epoch, got {spec.train.epochs}")
    return dataclasses.replace(spec, source_text=text)


def load_spec(path: str | Path) -> ZooSpec:
    """Read and check a population TOML file."""
    path = Path(path)
    raw = load_toml(path)
    return parse_spec(raw, where=str(path), text=path.read_text())


def spec_from_text(text: str, where: str = "zoo config") -> ZooSpec:
    import tomllib

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{where}: invalid TOML: {err}") from err
    return parse_spec(raw, where=where, text=text)
