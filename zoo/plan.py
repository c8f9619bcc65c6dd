"""A zoo's plan: everything a new zoo file holds before its first model finishes.

The plan fixes the file's shape (models, architectures, task, kept epochs, twins), so the
writer can preallocate it: :func:`build_plan` makes the plan of a population config once
its data is loaded; :meth:`ZooPlan.from_models` makes one from models given explicitly
(e.g. sampled ones), with optional extra model-table columns and root attributes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eo_tasks import ConfigError, to_dict
from eo_tasks.data import TaskInfo
from eo_tasks.models import Layout, ModelSpec
from eo_tasks.train import TrainConfig
from zoo.format import ROOT_ATTRIBUTES, TABLE_COLUMNS
from zoo.population import expand, subset_seed
from zoo.spec import ZooSpec

# The per-checkpoint metrics every zoo stores (multi-label tasks add *_map); weight_l2 and
# weight_max_abs are computed by the writer (inf when a weight is not finite).
BASE_METRICS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "gap")
MAP_METRICS = ("train_map", "val_map", "test_map")
WEIGHT_STATS = ("weight_l2", "weight_max_abs")
PRUNED_METRICS = tuple(f"pruned_{s}_{m}" for s in ("train", "val", "test") for m in ("loss", "acc"))
TWIN_EXTRA = ("sparsity",)
SKY_METRICS = ("test_acc_cloudy", "test_acc_clear")  # tasks whose test patches are flagged cloudy or clear


@dataclass(frozen=True)
class PlannedModel:
    """One model of a new zoo: its row of the model table, fixed at creation."""

    name: str  # "m00042"
    spec: ModelSpec  # builds the module; its arch fills the architecture columns
    train: TrainConfig  # how it is (or would be) trained; fills the training columns
    train_size: int  # training images it trains on
    overrides: tuple[tuple[str, Any], ...] = ()  # the population values it was given (column ``overrides``)

    @property
    def subset_seed(self) -> int:
        """Seed of this model's train subset: derived from its training seed, so two models
        with the same seed see the same images and a different seed means different ones."""
        return subset_seed(self.train.seed)

    def train_config_json(self) -> str:
        return json.dumps(to_dict(self.train), separators=(",", ":"))


@dataclass(frozen=True)
class ZooPlan:
    spec: ZooSpec  # the config stored in the file (kept epochs, twins, [train], ..)
    task: TaskInfo
    models: tuple[PlannedModel, ...]
    layouts: tuple[Layout, ...]  # distinct layouts, in order of first use
    arch_index: tuple[int, ...]  # per model: index into layouts
    # extra model-table columns (name -> one value per model, str or numbers) and extra root
    # attributes (name -> str), written at creation; "provenance" entries are added to the
    # provenance attribute's JSON.
    columns: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    attrs: Mapping[str, str] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    # per-checkpoint metrics beyond the base ones, e.g. SKY_METRICS where the task flags cloudy patches
    extra_metrics: tuple[str, ...] = ()

    @classmethod
    def from_models(cls, spec: ZooSpec, task: TaskInfo, models: Sequence[PlannedModel], *,
                    columns: Mapping[str, Sequence[Any]] | None = None, attrs: Mapping[str, str] | None = None,
                    provenance: Mapping[str, Any] | None = None) -> ZooPlan:
        """The plan of ``models`` (architectures found from their specs' layouts)."""
        layouts: list[Layout] = []
        by_json: dict[str, int] = {}
        arch_index = []
        cache: dict[str, Layout] = {}
        for m in models:
            layout = _layout(m.spec, cache)
            key = layout.to_json()
            if key not in by_json:
                by_json[key] = len(layouts)
                layouts.append(layout)
            arch_index.append(by_json[key])
        columns, attrs = dict(columns or {}), dict(attrs or {})
        for name, values in columns.items():
            if name in TABLE_COLUMNS or "/" in name or len(values) != len(models):
                raise ValueError(f"extra column {name!r}: needs a new name and one value per model ({len(models)})")
        for name, value in attrs.items():
            if name in ROOT_ATTRIBUTES or not isinstance(value, str):
                raise ValueError(f"extra attribute {name!r}: needs a new name and a str value")
        return cls(spec, task, tuple(models), tuple(layouts), tuple(arch_index), columns, attrs,
                   dict(provenance or {}))

    @property
    def num_models(self) -> int:
        return len(self.models)

    @property
    def max_params(self) -> int:
        return max(layout.num_params for layout in self.layouts)

    @property
    def model_specs(self) -> tuple[ModelSpec, ...]:
        return tuple(m.spec for m in self.models)

    @property
    def metric_names(self) -> tuple[str, ...]:
        return BASE_METRICS + (MAP_METRICS if self.task.multilabel else ()) + self.extra_metrics + WEIGHT_STATS

    @property
    def twin_metric_names(self) -> tuple[str, ...]:
        return self.metric_names + PRUNED_METRICS + TWIN_EXTRA


def _layout(spec: ModelSpec, cache: dict[str, Layout]) -> Layout:
    from eo_tasks.models import layout_for

    key = spec.to_json()
    if key not in cache:
        cache[key] = layout_for(spec)
    return cache[key]


def build_plan(
    spec: ZooSpec, task: TaskInfo, train_len: int, threads: int | None = None, where: str = "zoo config",
    extra_metrics: Sequence[str] = (),
) -> ZooPlan:
    """The plan of a population config; a member whose architecture cannot be built for
    this task raises ConfigError naming the member and its population values. Each member
    reads the task's modalities its fusion mode takes (``eo_tasks.models.fusion_inputs``)."""
    from eo_tasks.models import fusion_inputs, spec_for

    subset = spec.population.train_subset
    size = min(subset, train_len) if subset else train_len
    models, cache = [], {}
    for m in expand(spec, threads=threads):
        try:
            ms = spec_for(m.arch, fusion_inputs(m.arch, task.modalities), len(task.classes), task.image_size,
                          task.multilabel)
            _layout(ms, cache)
        except ValueError as err:
            given = ", ".join(f"{k}={v!r}" for k, v in m.overrides) or "base config"
            raise ConfigError(f"{where}: population member {m.index} ({given}): {err}") from err
        models.append(PlannedModel(m.name, ms, m.train, size, m.overrides))
    plan = ZooPlan.from_models(spec, task, models)
    return dataclasses.replace(plan, extra_metrics=tuple(extra_metrics))
