"""One training run from a TOML file: ``[data]``, ``[model]`` and ``[train]`` tables."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from eo_tasks import config as cfgio
from eo_tasks.data.config import DataConfig
from eo_tasks.models.spec import ArchConfig
from eo_tasks.train.config import TrainConfig

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ArchConfig = field(default_factory=ArchConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def load_run_config(path: str | Path, data_root: str | None = None) -> RunConfig:
    cfg = cfgio.load(RunConfig, path)
    if data_root is not None:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=str(data_root)))
    return cfg


def run_training(cfg: RunConfig, progress: bool = True) -> dict[str, float]:
    """Materialise the data, train one model, and return its final metrics (plus timings)."""
    import time

    from eo_tasks.data.materialise import load_task_data
    from eo_tasks.models.family import fusion_inputs, spec_for
    from eo_tasks.train.loop import train_model

    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else None
    t0 = time.perf_counter()
    data = load_task_data(cfg.data, progress=progress)
    t_data = time.perf_counter() - t0
    spec = spec_for(cfg.model, fusion_inputs(cfg.model, data.info.modalities), len(data.info.classes),
                    data.info.image_size, multilabel=data.info.multilabel)
    result = train_model(spec, data, cfg.train, progress=say)
    out = dict(result.final)  # test_acc_cloudy / test_acc_clear where the dataset flags cloudy patches
    cloudy = cloudy_mask(data.splits["test"].meta)
    if cloudy is not None:
        out["test_n_cloudy"] = int(cloudy.sum())
    out.update(
        dataset=data.info.dataset,
        synthetic=data.info.synthetic,
        params=result.model.layout.num_params,
        data_seconds=round(t_data, 2),
        train_seconds=round(result.wall_time, 2),
    )
    return out


def cloudy_mask(meta: dict) -> np.ndarray | None:
    """Which samples are cloudy (see :func:`eo_tasks.train.loop.cloudy_mask`)."""
    from eo_tasks.train.loop import cloudy_mask as mask

    return mask(meta)
