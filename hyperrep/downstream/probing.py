"""A functional view of every checkpoint: its outputs on a fixed set of probe inputs.

Probing (Kahana et al. 2025, "Deep Linear Probe Generators for Weight Space Learning", whose
vanilla baseline is this) represents a model by what it computes rather than by how its
weights are laid out: every checkpoint of every architecture answers the same ``n`` probe
inputs with its class scores, so the feature set has one width for a whole zoo, needs no
layer roles, and is unchanged by any permutation of hidden neurons.

The probes are images of the task's *training* split (seeded, no labels used): a report's
validation and test models are scored on held-out *models*, and the task's validation and
test images, which define the accuracies being predicted, never enter a feature. Zoos
without task data can probe with standard-normal inputs shaped like the task's.

Features are the softmax outputs (``[n * classes]`` per checkpoint): bounded, comparable
across architectures and recipes, and what the pilot on a real EuroSAT zoo read best.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from eo_tasks import ConfigError


@dataclass(frozen=True)
class ProbeConfig:
    n: int = 64  # probe inputs
    seed: int = 0
    source: Literal["data", "random"] = "data"  # training-split images of the task, or noise
    root: str = ""  # the task's data folder, where the zoo's recorded one is not on this machine

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"probes: n must be >= 1, got {self.n}")
        if self.source not in ("data", "random"):
            raise ConfigError(f"probes: source must be 'data' or 'random', got {self.source!r}")


@dataclass(frozen=True)
class ProbeSet:
    inputs: dict[str, torch.Tensor]  # modality -> [n, ...], as the models read them (normalised)
    description: str  # what a report says about where they came from

    @property
    def n(self) -> int:
        return len(next(iter(self.inputs.values())))


def probe_set(zoo_path: str | Path, config: ProbeConfig = ProbeConfig()) -> ProbeSet:
    """The probe inputs of ``config`` for the zoo at ``zoo_path``."""
    from hyperrep.behaviour import probe_inputs
    from hyperrep.data import task_inputs
    from zoo import Zoo

    if config.source == "random":
        with Zoo.open(zoo_path) as zoo:
            spec = zoo.spec(0)
        inputs = probe_inputs(spec, config.n, config.seed, torch.device("cpu"))
        return ProbeSet(inputs, f"{config.n} standard-normal inputs shaped like the task's (seed {config.seed})")
    inputs = task_inputs(zoo_path, config.n, config.seed, config.root or None)
    return ProbeSet(inputs, f"{config.n} images of the task's training split (seed {config.seed}; no labels, "
                            "no validation or test image)")


def spec_groups(zoo_path: str | Path, models: Sequence[int]) -> tuple[list, np.ndarray]:
    """The distinct eval-form specs of ``models`` and each model's index into them: models of
    one layout may still compute different functions (the activation is not in the layout)."""
    from zoo import Zoo

    with Zoo.open(zoo_path) as zoo:
        specs = {int(m): zoo.spec(int(m)).for_eval() for m in sorted(set(int(m) for m in models))}
    distinct = list(dict.fromkeys(specs.values()))
    index = {spec: i for i, spec in enumerate(distinct)}
    return distinct, np.array([index[specs[int(m)]] for m in models], dtype=np.int64)


def group_nets(specs: Sequence) -> list[tuple[torch.nn.Module, object]]:
    """One eval-mode network (its own parameters unused) and its layout per spec."""
    from eo_tasks.models import build_model

    out = []
    for spec in specs:
        net = build_model(spec, seed=0).eval()
        out.append((net, net.layout))
    return out


def responses(zoo_path: str | Path, models: Sequence[int], weights: np.ndarray, probes: ProbeSet,
              *, batch: int = 256) -> np.ndarray:
    """``[N, n * classes]`` float32: the softmax outputs of row ``i``'s network (model
    ``models[i]`` with flat ``weights[i]``, zero-padded rows allowed) on the probes."""
    from hyperrep.losses import run_models

    models = np.asarray(models, dtype=np.int64)
    if len(models) != len(weights):
        raise ValueError(f"{len(models)} models for {len(weights)} weight vectors")
    specs, group = spec_groups(zoo_path, models)
    nets = group_nets(specs)
    classes = specs[0].num_classes if specs else 0
    out = np.zeros((len(models), probes.n * classes), np.float32)
    with torch.no_grad():
        for g, (net, layout) in enumerate(nets):
            rows = np.flatnonzero(group == g)
            for start in range(0, len(rows), batch):
                part = rows[start:start + batch]
                flat = torch.from_numpy(np.ascontiguousarray(weights[part, : layout.num_params], np.float32))
                logits = run_models(net, layout, flat, probes.inputs)  # [B, n, classes]
                out[part] = torch.softmax(logits.float(), dim=-1).flatten(1).numpy()
    return out
