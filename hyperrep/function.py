"""Function tokens: each model's responses to the run's fixed probe set (``[function] probes = K``).

The probe set is K inputs of the zoo's task, drawn once per run from its training split
(no labels; ``source = "random"``: standard-normal noise of the same shapes, for zoos
without task data) and stored in the run folder (``probes.pt``, docs/run-format.md). A
model's function tokens are its output logits on the K probes, one token per probe,
standardised per class with statistics of the training checkpoints (stored beside the
probes). They are computed from the weights by running the model
(:func:`hyperrep.losses.run_models`), never learned: a neuron permutation leaves them as
they are, and a noisy view's are what the noisy model computes. Every architecture of a zoo
answers the same probes with the same classes, so mixed zoos need no per-architecture case:
the function tokens are the architecture-free part of the embedding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from eo_tasks import ConfigError
from eo_tasks.data import DataError
from eo_tasks.models import Layout, ModelSpec
from hyperrep.behaviour import probe_inputs
from hyperrep.config import FunctionSection
from hyperrep.data import ZooWeights, task_inputs
from hyperrep.losses import run_models

FIT_ROWS = 256  # training checkpoints per architecture the response standardisation is fitted on
FIT_BATCH = 64  # models run at once while fitting


@dataclass
class ProbeSet:
    """The run's probe inputs and the standardisation of the responses to them."""

    inputs: dict[str, torch.Tensor]  # per modality [K, ...], CPU float32
    mean: torch.Tensor  # [classes]
    std: torch.Tensor  # [classes]
    source: str
    seed: int

    @property
    def count(self) -> int:
        return len(next(iter(self.inputs.values())))

    @property
    def classes(self) -> int:
        return int(self.mean.numel())

    def describe(self) -> dict[str, Any]:
        """meta.json's ``function`` object."""
        return {"file": "probes.pt", "count": self.count, "classes": self.classes, "source": self.source,
                "seed": self.seed, "inputs": {k: list(v.shape[1:]) for k, v in self.inputs.items()}}

    def state(self) -> dict[str, Any]:
        """What probes.pt holds: plain tensors."""
        return {"inputs": {k: v.cpu() for k, v in self.inputs.items()}, "mean": self.mean.cpu(),
                "std": self.std.cpu()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], fc: FunctionSection, where: str = "probes.pt") -> ProbeSet:
        try:
            inputs = {str(k): v.float() for k, v in state["inputs"].items()}
            probes = cls(inputs, state["mean"].float(), state["std"].float(), fc.source, fc.seed)
            ok = inputs and probes.mean.shape == probes.std.shape == (probes.classes,) \
                and all(len(v) == probes.count for v in inputs.values())
        except (KeyError, AttributeError, TypeError, StopIteration) as err:
            raise ConfigError(f"{where}: not a probe set ({err!r})") from err
        if not ok or probes.count != fc.probes:
            raise ConfigError(f"{where}: holds {probes.count if inputs else 0} probes of inconsistent shapes or "
                              f"count; the run's config says function.probes = {fc.probes}")
        return probes


class FunctionReader:
    """Standardised function tokens of flat weights: runs each model (one eval-mode net per
    spec, made on first use) on the probes."""

    def __init__(self, inputs: Mapping[str, torch.Tensor], device: torch.device,
                 mean: torch.Tensor | None = None, std: torch.Tensor | None = None) -> None:
        self.device = device
        self.inputs = {k: v.to(device) for k, v in inputs.items()}
        self.mean = None if mean is None else mean.to(device)
        self.std = None if std is None else std.to(device)
        self._nets: dict[str, nn.Module] = {}

    @classmethod
    def of(cls, probes: ProbeSet, device: torch.device) -> FunctionReader:
        return cls(probes.inputs, device, probes.mean, probes.std)

    def net(self, spec: ModelSpec, layout: Layout) -> nn.Module:
        from eo_tasks.models import build_model

        key = spec.to_json()
        if key not in self._nets:
            net = build_model(spec, seed=0).to(self.device).eval()
            if net.layout != layout:
                raise ValueError("a model spec does not give the layout of the weights it is to run")
            self._nets[key] = net
        return self._nets[key]

    @torch.no_grad()
    def raw(self, layout: Layout, flat: torch.Tensor, specs: Sequence[ModelSpec]) -> torch.Tensor:
        """Flat weights ``[B, P]`` (not standardised), the eval spec of each row -> logits ``[B, K, classes]``."""
        if len(specs) != len(flat):
            raise ValueError(f"{len(specs)} specs for {len(flat)} weight rows")
        groups: dict[str, list[int]] = {}
        for i, spec in enumerate(specs):  # one pass per spec (e.g. activation) in the batch
            groups.setdefault(spec.to_json(), []).append(i)
        out: torch.Tensor | None = None
        for rows in groups.values():
            idx = torch.tensor(rows, device=flat.device)
            part = run_models(self.net(specs[rows[0]], layout), layout, flat[idx].float(), self.inputs)
            if out is None:
                out = part.new_empty((len(flat), *part.shape[1:]))
            out[idx] = part.float()
        if out is None:
            raise ValueError("no weights to run")
        return out

    def __call__(self, layout: Layout, flat: torch.Tensor, specs: Sequence[ModelSpec]) -> torch.Tensor:
        """Standardised function tokens ``[B, K, classes]`` of flat (raw) weights ``[B, P]``."""
        if self.mean is None or self.std is None:
            raise ValueError("this reader has no response standardisation (use FunctionReader.of)")
        return (self.raw(layout, flat, specs) - self.mean) / self.std


def draw_inputs(data: ZooWeights, fc: FunctionSection) -> dict[str, torch.Tensor]:
    """The ``fc.probes`` probe inputs ``fc`` asks for, on the CPU; every architecture reads
    the modalities it uses."""
    specs = list(data.specs)
    if fc.source == "random":
        if not specs:
            raise ConfigError("function tokens need the model spec of every checkpoint "
                              "(load the weights with hyperrep.data.from_zoo)")
        inputs = {i.name: i for spec in specs for i in spec.inputs}  # every input any model reads
        return probe_inputs(replace(specs[0], inputs=tuple(inputs.values())), fc.probes, fc.seed,
                            torch.device("cpu"))
    if not data.source or not Path(data.source).is_file():
        raise ConfigError("function.source = \"data\" needs weights read from a zoo file (hyperrep.data.from_zoo); "
                          "use function.source = \"random\" otherwise")
    try:
        drawn = task_inputs(data.source, fc.probes, fc.seed, fc.root or None)
    except DataError as err:
        raise DataError(f"{err} (the function tokens' probe images; set function.root to the dataset's "
                        "folder, or function.source = \"random\")") from err
    got = len(next(iter(drawn.values())))
    if got < fc.probes:
        raise ConfigError(f"{data.source}: the task's training split has {got} inputs, fewer than "
                          f"function.probes = {fc.probes}")
    return {k: v.float().cpu() for k, v in drawn.items()}


def fit_probe_set(data: ZooWeights, train_rows: Mapping[int, np.ndarray], fc: FunctionSection,
                  device: torch.device) -> ProbeSet:
    """Draw the probes and fit the per-class standardisation of the logits on (up to
    :data:`FIT_ROWS` evenly spaced) training checkpoints of every architecture."""
    inputs = draw_inputs(data, fc)
    reader = FunctionReader(inputs, device)
    parts = []
    for ws in data.sets:
        rows = np.asarray(train_rows[ws.arch])
        rows = rows[np.unique(np.linspace(0, len(rows) - 1, min(FIT_ROWS, len(rows))).round().astype(np.int64))]
        for start in range(0, len(rows), FIT_BATCH):
            chunk = rows[start : start + FIT_BATCH]
            flat = torch.from_numpy(ws.weights[chunk]).to(device)
            parts.append(reader.raw(ws.layout, flat, [ws.specs[i] for i in ws.spec_id[chunk]]).cpu())
    logits = torch.cat(parts).flatten(0, 1)  # [rows * K, classes]
    std = logits.std(0, unbiased=False).clamp(min=1e-6)  # a constant class is only centred
    return ProbeSet(inputs, logits.mean(0), std, fc.source, fc.seed)


def check_specs(data: ZooWeights, rows: Mapping[int, np.ndarray]) -> None:
    """Function tokens run every model: each row must know its spec (ConfigError otherwise)."""
    for ws in data.sets:
        if len(rows[ws.arch]) and (not ws.specs or (ws.spec_id[rows[ws.arch]] < 0).any()):
            raise ConfigError("function tokens need the model spec of every checkpoint "
                              "(load the weights with hyperrep.data.from_zoo)")


def view_responses(rep: Any, arch: int, views: Sequence[Any], flat: torch.Tensor,
                   specs: Sequence[ModelSpec]) -> tuple[torch.Tensor, ...]:
    """A training step's function tokens (``rep``: the run's ``hyperrep.run.HyperRep``): of each
    augmented view (``hyperrep.augment.View``) from its own augmented weights, then of the clean
    standardised batch ``flat`` (the decoder's response target; a permuted view's clean model
    computes the same)."""
    tok, std = rep.tokenizers[arch], rep.standardizers[arch]
    wholes = [v.whole(tok) for v in views] + [flat]
    return tuple(rep.reader(tok.layout, std.inverse(w), specs) for w in wholes)
