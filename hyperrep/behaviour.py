"""What the behavioural loss needs: the zoo's CNNs in eval mode and a pool of probe inputs.

The loss (``hyperrep.losses.behaviour_mse``) compares what a reconstructed model and the
original compute on the same probe inputs; this module builds those inputs, either images
of the zoo's own task or standard-normal noise of the same shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from eo_tasks import ConfigError
from eo_tasks.data import DataError
from eo_tasks.models import Layout, ModelSpec
from hyperrep.config import LossSection
from hyperrep.data import WeightSet, task_inputs
from hyperrep.probes import load_probe_inputs


@dataclass
class Behaviour:
    """What the behavioural loss runs: one eval-mode CNN per spec, a fixed pool of probe
    inputs (each step draws ``size`` of them), and the spec index of every training row."""

    nets: list[nn.Module]
    pool: dict[str, torch.Tensor]
    spec_ids: torch.Tensor  # [N_train] int64
    size: int

    def probe(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        n = len(next(iter(self.pool.values())))
        pick = torch.randperm(n, generator=generator, device=generator.device)[: self.size]
        return {k: v[pick.to(v.device)] for k, v in self.pool.items()}


def probe_inputs(spec: ModelSpec, n: int, seed: int, device: torch.device) -> dict[str, torch.Tensor]:
    """A fixed batch of standard-normal inputs shaped like the task's (normalised) modalities."""
    gen = torch.Generator().manual_seed(seed + 104729)
    s = spec.image_size
    out = {}
    for inp in spec.inputs:
        shape = (n, inp.channels, s, s) if inp.kind == "image" else (n, inp.channels)
        out[inp.name] = torch.randn(shape, generator=gen).to(device)
    return out


def behaviour_pool(data: WeightSet, lc: LossSection, seed: int, device: torch.device,
                   specs: Sequence[ModelSpec] | None = None) -> dict[str, torch.Tensor]:
    """The probe inputs ``lc`` (the [loss] table) asks for; every architecture of a zoo shares
    them (they are the task's inputs, and each model reads the modalities it uses).
    ``specs``: the models' specs, of every architecture (default ``data.specs``): random
    probes cover every input any of them reads."""
    specs = list(data.specs if specs is None else specs)
    if lc.probe == "random":
        if not specs:
            raise ConfigError("loss.behaviour > 0 needs the model spec of every training checkpoint "
                              "(load the weights with hyperrep.data.from_zoo)")
        inputs = {i.name: i for spec in specs for i in spec.inputs}  # the first spec's first, in its order
        return probe_inputs(replace(specs[0], inputs=tuple(inputs.values())), lc.probe_pool, seed, device)
    if not data.source or not Path(data.source).is_file():
        raise ConfigError("loss.probe = \"data\" needs weights read from a zoo file (hyperrep.data.from_zoo); "
                          "use loss.probe = \"random\" otherwise")
    if lc.probe_file:
        inputs = load_probe_inputs(lc.probe_file, data.source, lc.probe_pool, seed)
        return {k: v.to(device) for k, v in inputs.items()}
    try:
        inputs = task_inputs(data.source, lc.probe_pool, seed, lc.probe_root or None)
    except DataError as err:
        raise DataError(f"{err} (the behavioural loss's probe images; set loss.probe_root to the "
                        "dataset's folder, or loss.probe = \"random\")") from err
    return {k: v.to(device) for k, v in inputs.items()}


def behaviour_setup(data: WeightSet, train_rows: np.ndarray, layout: Layout, lc: LossSection, seed: int,
                    device: torch.device, pool: dict[str, torch.Tensor] | None = None) -> Behaviour:
    """The nets and the probe pool for ``data``'s training rows, as ``lc`` (the [loss] table)
    asks; ``pool``: probe inputs already made (:func:`behaviour_pool`) for another architecture."""
    from eo_tasks.models import build_model

    ids = data.spec_id[train_rows]
    if not data.specs or (ids < 0).any():
        raise ConfigError("loss.behaviour > 0 needs the model spec of every training checkpoint "
                          "(load the weights with hyperrep.data.from_zoo)")
    nets = []
    for spec in data.specs:
        net = build_model(spec, seed=0).to(device).eval()
        if net.layout != layout:
            raise ValueError("a model spec of the zoo does not give the zoo's layout")
        nets.append(net)
    if pool is None:
        pool = behaviour_pool(data, lc, seed, device)
    return Behaviour(nets, pool, torch.from_numpy(ids), lc.probe_size)
