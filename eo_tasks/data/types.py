"""In-memory task data: what the trainer and the zoo workers consume.

A dataset on disk (EuroSAT RGB/MS, ben-ge, BigEarthNet, or their synthetic stand-ins)
is decoded once into a :class:`TaskData`: per split a :class:`TensorSet` of normalised
float tensors, plus a :class:`TaskInfo` describing classes, modalities and normalisation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from eo_tasks.data.errors import DataError


@dataclass(frozen=True)
class ModalityInfo:
    name: str  # key in sample dicts, e.g. "rgb", "s2", "s1", "season"
    kind: str  # "image" | "vector"
    channels: int
    bands: tuple[str, ...] = ()  # band names in channel order, where they exist
    mean: tuple[float, ...] = ()  # per-channel normalisation applied at materialisation
    std: tuple[float, ...] = ()


@dataclass(frozen=True)
class TaskInfo:
    dataset: str  # "eurosat-rgb" | "eurosat-ms" | "benge" | "bigearthnet"
    classes: tuple[str, ...]
    multilabel: bool
    modalities: tuple[ModalityInfo, ...]
    image_size: int
    source: str = ""  # root folder, or "synthetic(seed=..)"
    synthetic: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @staticmethod
    def from_json(text: str) -> TaskInfo:
        raw = json.loads(text)
        mods = tuple(
            ModalityInfo(**{k: tuple(v) if isinstance(v, list) else v for k, v in m.items()})
            for m in raw.pop("modalities")
        )
        raw["classes"] = tuple(raw["classes"])
        return TaskInfo(modalities=mods, **raw)


@dataclass
class TensorSet:
    """One split in memory: ``inputs[name]`` is ``[N, C, H, W]`` or ``[N, C]`` float32;
    ``labels`` is ``[N]`` int64 (single label) or ``[N, K]`` float32 (multi-label);
    ``meta`` holds optional per-sample numpy columns (e.g. ``cloudy``)."""

    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: np.ndarray | torch.Tensor) -> TensorSet:
        index_t = torch.as_tensor(np.asarray(index))
        if index_t.dtype == torch.bool:
            index_t = index_t.nonzero().flatten()
        index_np = index_t.numpy()
        return TensorSet(
            inputs={k: v[index_t] for k, v in self.inputs.items()},
            labels=self.labels[index_t],
            meta={k: v[index_np] for k, v in self.meta.items()},
        )

    def sample(self, n: int, seed: int) -> TensorSet:
        """A seeded random subset of ``n`` samples (all of them if ``n >= len``)."""
        if n >= len(self):
            return self
        rng = np.random.default_rng(seed)
        return self.subset(np.sort(rng.choice(len(self), size=n, replace=False)))


@dataclass
class TaskData:
    info: TaskInfo
    splits: dict[str, TensorSet]  # by name, eo_tasks.data.splits.SPLITS

    def to_dict(self, numpy: bool = False) -> dict:
        """``{"info": json, "splits": {name: {"inputs", "labels", "meta"}}}`` of tensors (what
        ``torch.save`` stores with ``weights_only``), or with ``numpy`` of numpy arrays (what
        Ray's object store shares between processes without a copy)."""
        def convert(x: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
            if numpy:
                return x.numpy() if isinstance(x, torch.Tensor) else x
            return x if isinstance(x, torch.Tensor) else torch.from_numpy(x)

        return {
            "info": self.info.to_json(),
            "splits": {
                name: {"inputs": {k: convert(v) for k, v in ts.inputs.items()}, "labels": convert(ts.labels),
                       "meta": {k: convert(v) for k, v in ts.meta.items()}}
                for name, ts in self.splits.items()
            },
        }

    @staticmethod
    def from_dict(raw: dict) -> TaskData:
        """The inverse of :meth:`to_dict` (either kind), sharing the arrays' memory: the trainer
        only indexes these tensors (which copies the batch) and never writes them."""
        def tensor(x: torch.Tensor | np.ndarray) -> torch.Tensor:
            return x if isinstance(x, torch.Tensor) else torch.from_numpy(x)

        splits = {
            name: TensorSet(inputs={k: tensor(v) for k, v in s["inputs"].items()}, labels=tensor(s["labels"]),
                            meta={k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in s["meta"].items()})
            for name, s in raw["splits"].items()
        }
        return TaskData(info=TaskInfo.from_json(raw["info"]), splits=splits)


def check_modalities(modalities: Sequence[str], valid: Sequence[str], what: str) -> tuple[str, ...]:
    """``modalities`` as a tuple of distinct names from ``valid``; else a DataError naming ``what``."""
    mods = tuple(modalities)
    unknown = [m for m in mods if m not in valid]
    if not mods or unknown or len(set(mods)) != len(mods):
        raise DataError(f"{what} modalities {list(mods)}: expected distinct names from {list(valid)}")
    return mods
