"""A zoo's plan: its members, their model specs and architectures, and the task.

Built by the driver once the data is loaded; it fixes the file's shape before the first
model trains, so the file can be preallocated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from eo_tasks.config import ConfigError, to_dict
from eo_tasks.data.types import TaskInfo
from eo_tasks.models.layout import Layout
from eo_tasks.models.spec import ModelSpec
from zoo.population import Member, expand
from zoo.spec import ZooSpec

# The per-checkpoint metrics every zoo stores (multi-label tasks add *_map); weight_l2 and
# weight_max_abs are computed by the writer (inf when a weight is not finite).
BASE_METRICS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "gap")
MAP_METRICS = ("train_map", "val_map", "test_map")
WEIGHT_STATS = ("weight_l2", "weight_max_abs")
PRUNED_METRICS = tuple(f"pruned_{s}_{m}" for s in ("train", "val", "test") for m in ("loss", "acc"))
TWIN_EXTRA = ("sparsity",)


@dataclass(frozen=True)
class ZooPlan:
    spec: ZooSpec
    members: tuple[Member, ...]
    model_specs: tuple[ModelSpec, ...]  # per member
    arch_index: tuple[int, ...]  # per member: index into layouts
    layouts: tuple[Layout, ...]
    task: TaskInfo
    train_sizes: tuple[int, ...]  # per member: images it trains on

    @property
    def num_models(self) -> int:
        return len(self.members)

    @property
    def max_params(self) -> int:
        return max(layout.num_params for layout in self.layouts)

    @property
    def metric_names(self) -> tuple[str, ...]:
        return BASE_METRICS + (MAP_METRICS if self.task.multilabel else ()) + WEIGHT_STATS

    @property
    def twin_metric_names(self) -> tuple[str, ...]:
        return self.metric_names + PRUNED_METRICS + TWIN_EXTRA


def build_plan(
    spec: ZooSpec, task: TaskInfo, train_len: int, threads: int | None = None, where: str = "zoo config"
) -> ZooPlan:
    """Members, specs and distinct layouts; a member whose architecture cannot be built for
    this task raises ConfigError naming the member and its population values."""
    from eo_tasks.models.family import layout_for, spec_for

    members = expand(spec, threads=threads)
    model_specs, arch_index, layouts = [], [], []
    by_json: dict[str, int] = {}
    for m in members:
        try:
            ms = spec_for(m.arch, task.modalities, len(task.classes), task.image_size, task.multilabel)
            layout = layout_for(ms)
        except ValueError as err:
            given = ", ".join(f"{k}={v!r}" for k, v in m.overrides) or "base config"
            raise ConfigError(f"{where}: population member {m.index} ({given}): {err}") from err
        key = layout.to_json()
        if key not in by_json:
            by_json[key] = len(layouts)
            layouts.append(layout)
        model_specs.append(ms)
        arch_index.append(by_json[key])
    subset = spec.population.train_subset
    sizes = tuple(min(subset, train_len) if subset else train_len for _ in members)
    return ZooPlan(spec, tuple(members), tuple(model_specs), tuple(arch_index), tuple(layouts), task, sizes)


def train_config_json(member: Member) -> str:
    return json.dumps(to_dict(member.train), separators=(",", ":"))
