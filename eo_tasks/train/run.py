"""One training run from a TOML file: ``[data]``, ``[model]`` and ``[train]`` tables."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

from eo_tasks import config as cfgio
from eo_tasks.data.config import DataConfig
from eo_tasks.models.spec import ArchConfig
from eo_tasks.train.config import TrainConfig


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
    from eo_tasks.models.family import spec_for
    from eo_tasks.train.loop import train_model

    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else None
    t0 = time.perf_counter()
    data = load_task_data(cfg.data, progress=progress)
    t_data = time.perf_counter() - t0
    spec = spec_for(cfg.model, data.info.modalities, len(data.info.classes), data.info.image_size,
                    multilabel=data.info.multilabel)
    result = train_model(spec, data, cfg.train, progress=say)
    out = dict(result.final)
    out.update(_by_sky(result.model, data, cfg))
    out.update(
        dataset=data.info.dataset,
        synthetic=data.info.synthetic,
        params=result.model.layout.num_params,
        data_seconds=round(t_data, 2),
        train_seconds=round(result.wall_time, 2),
    )
    return out


def cloudy_mask(meta: dict) -> "np.ndarray | None":
    """Which samples are cloudy: synthetic ``cloud_fraction >= 0.5`` or BigEarthNet's cloud/shadow flag."""
    import numpy as np

    if "cloud_fraction" in meta:
        return np.asarray(meta["cloud_fraction"]) >= 0.5
    if "cloud_shadow" in meta:
        return np.asarray(meta["cloud_shadow"]) > 0
    return None


def _by_sky(model, data, cfg: RunConfig) -> dict[str, float]:
    """Test accuracy on cloudy and on clear patches, where the dataset says which are which."""
    from eo_tasks.train.loop import evaluate

    test = data.splits["test"]
    cloudy = cloudy_mask(test.meta)
    if cloudy is None:
        return {}
    out = {"test_n_cloudy": int(cloudy.sum())}
    for name, mask in (("cloudy", cloudy), ("clear", ~cloudy)):
        if mask.any():
            out[f"test_acc_{name}"] = evaluate(model, test.subset(mask), data.info.multilabel)["acc"]
    return out
