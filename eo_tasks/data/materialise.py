"""Decode a dataset once into normalised in-memory tensors (:class:`TaskData`), cached on disk.

Every image modality is resized to ``cfg.image_size`` (bilinear, antialiased), every
modality is normalised per channel with mean/std of the TRAIN split, and the result is
saved with ``torch.save`` (loadable with ``weights_only=True``) under a key that hashes
the config, the resolved root and the root's file list with sizes and mtimes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from eo_tasks.config import to_dict
from eo_tasks.data.benge import BenGe
from eo_tasks.data.bigearthnet import BigEarthNet
from eo_tasks.data.config import DataConfig
from eo_tasks.data.errors import DataError
from eo_tasks.data.eurosat import EuroSATMS, EuroSATRGB
from eo_tasks.data.public import PUBLIC_KINDS, files_hint, public_task_data
from eo_tasks.data.splits import SPLITS
from eo_tasks.data.types import ModalityInfo, TaskData, TaskInfo, TensorSet

CACHE_FORMAT = "hyperzoo-taskdata-v1"  # bump when decoding/normalisation changes meaning
SYNTHETIC_KINDS = ("eurosat-rgb", "eurosat-ms", "benge")
DEFAULT_MODALITIES = {"eurosat-rgb": ("rgb",), "eurosat-ms": ("s2",), "benge": ("s2", "s1"), "bigearthnet": ("s2", "s1")}
_CHUNK = 512
# DataConfig fields only the public kinds read: left out of other kinds' cache keys, which
# therefore stay what they were before these fields existed
PUBLIC_FIELDS = ("recipe", "channels", "val_fraction")


def cache_dir(cfg: DataConfig) -> Path:
    base = cfg.cache_dir or os.environ.get("HYPERZOO_CACHE") or Path.home() / ".cache" / "hyperzoo"
    return Path(base).expanduser()


def dataset_for(cfg: DataConfig, root: str | Path, split: str) -> Dataset:
    """The reader for ``cfg.kind`` on ``root`` (one split), configured from ``cfg``."""
    if cfg.kind in PUBLIC_KINDS:
        raise DataError(f"data.kind {cfg.kind!r} has no per-sample reader; load_task_data reads its files whole")
    mods = cfg.modalities or DEFAULT_MODALITIES[cfg.kind]
    common = {"split": split, "bands": cfg.bands, "split_seed": cfg.split_seed, "fractions": cfg.fractions}
    if cfg.kind in ("eurosat-rgb", "eurosat-ms"):
        if tuple(mods) != DEFAULT_MODALITIES[cfg.kind]:
            raise DataError(f"data.modalities {list(mods)}: {cfg.kind} has only {list(DEFAULT_MODALITIES[cfg.kind])}")
        cls = EuroSATRGB if cfg.kind == "eurosat-rgb" else EuroSATMS
        return cls(root, **common)
    if cfg.kind == "benge":
        return BenGe(root, modalities=mods, target=cfg.target, threshold=cfg.multilabel_threshold,
                     s2_folder=cfg.s2_folder, s1_folder=cfg.s1_folder, **common)
    if cfg.kind == "bigearthnet":
        return BigEarthNet(root, modalities=mods, s2_folder=cfg.s2_folder, s1_folder=cfg.s1_folder, **common)
    raise DataError(f"data.kind {cfg.kind!r}: expected one of {list(DEFAULT_MODALITIES)}")


class ChannelStats:
    """Streaming per-channel mean/std of ``[N, C, ...]`` batches (float64, shifted sums)."""

    def __init__(self) -> None:
        self.shift: torch.Tensor | None = None
        self.count = 0
        self.sum: torch.Tensor | None = None
        self.sumsq: torch.Tensor | None = None

    def update(self, x: torch.Tensor) -> None:
        for start in range(0, x.shape[0], _CHUNK):  # bounded float64 copies for large splits
            self._update(x[start:start + _CHUNK])

    def _update(self, x: torch.Tensor) -> None:
        flat = x.transpose(0, 1).reshape(x.shape[1], -1).to(torch.float64)
        if self.shift is None:
            # Shifting by a first estimate keeps E[x^2] - E[x]^2 accurate for large offsets.
            self.shift = flat.mean(dim=1, keepdim=True)
            self.sum = torch.zeros(flat.shape[0], dtype=torch.float64)
            self.sumsq = torch.zeros_like(self.sum)
        d = flat - self.shift
        self.sum += d.sum(dim=1)
        self.sumsq += (d * d).sum(dim=1)
        self.count += flat.shape[1]

    def result(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        if self.count == 0:
            raise DataError("channel statistics of an empty set")
        mean_d = self.sum / self.count
        var = (self.sumsq / self.count - mean_d**2).clamp_min(0)
        std = var.sqrt()
        std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant channel: leave scale alone
        return tuple((mean_d + self.shift[:, 0]).tolist()), tuple(std.tolist())


def band_statistics(
    dataset: Dataset, modality: str, max_samples: int | None = None, seed: int = 0
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-band mean/std of ``modality`` over ``dataset`` (a seeded subset of ``max_samples``)
    at native resolution, e.g. ``band_statistics(EuroSATMS(root, "train"), "s2")``."""
    index = np.arange(len(dataset))
    if max_samples is not None and max_samples < len(index):
        index = np.sort(np.random.default_rng(seed).choice(len(index), size=max_samples, replace=False))
    stats = ChannelStats()
    for start in range(0, len(index), _CHUNK):
        stats.update(torch.stack([dataset[int(i)][modality] for i in index[start:start + _CHUNK]]))
    return stats.result()


def _resize(images: list[torch.Tensor], size: int) -> torch.Tensor:
    def shrink_or_grow(x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) == (size, size):
            return x
        antialias = x.shape[-1] > size or x.shape[-2] > size
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=antialias)

    if len({tuple(im.shape) for im in images}) == 1:
        return shrink_or_grow(torch.stack(images))
    return torch.cat([shrink_or_grow(im[None]) for im in images])


class _Progress:
    def __init__(self, label: str, total: int, enabled: bool) -> None:
        self.label, self.total, self.enabled, self.next_pct = label, total, enabled, 10

    def update(self, done: int) -> None:
        if not self.enabled or self.total == 0:
            return
        pct = 100 * done // self.total
        if pct >= self.next_pct or done == self.total:
            print(f"[hyperzoo] {self.label}: {done}/{self.total} ({pct}%)", file=sys.stderr, flush=True)
            self.next_pct = (pct // 10 + 1) * 10


def decode(dataset: Dataset, modalities: Sequence[ModalityInfo], size: int, progress: bool = False,
           label: str = "decoding") -> TensorSet:
    """Every sample of ``dataset`` into one :class:`TensorSet`, images resized to ``size`` (not normalised)."""
    n = len(dataset)
    parts: dict[str, list[torch.Tensor]] = {m.name: [] for m in modalities}
    labels: list[torch.Tensor] = []
    bar = _Progress(label, n, progress)
    for start in range(0, n, _CHUNK):
        samples = [dataset[i] for i in range(start, min(n, start + _CHUNK))]
        for m in modalities:
            values = [s[m.name] for s in samples]
            parts[m.name].append(_resize(values, size) if m.kind == "image" else torch.stack(values))
        labels.append(torch.stack([s["label"] for s in samples]))
        bar.update(start + len(samples))
    meta = {}
    table = getattr(dataset, "metadata", None)
    if table is not None:
        for col in table.columns:
            if col != "label" and (table[col].dtype.kind in "biuf"):
                kind = table[col].dtype.kind
                dtype = bool if kind == "b" else np.float64 if kind == "f" else np.int64
                meta[str(col)] = np.array(table[col].to_numpy(dtype=dtype), copy=True)  # pandas may hand out read-only views
    return TensorSet(inputs={k: torch.cat(v).to(torch.float32) for k, v in parts.items()},
                     labels=torch.cat(labels), meta=meta)


def _fingerprint(cfg: DataConfig, root: Path, skip: Path, synthetic: bool) -> str:
    fields = to_dict(cfg)
    drop = ("cache_dir", "root") + (() if synthetic else ("synthetic_n", "synthetic_seed"))
    for key in drop + (() if cfg.kind in PUBLIC_KINDS else PUBLIC_FIELDS):
        fields.pop(key)
    h = hashlib.sha256(json.dumps({"format": CACHE_FORMAT, "config": fields, "root": str(root)}, sort_keys=True).encode())
    skip = skip.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if Path(dirpath, d).resolve() != skip)
        for name in sorted(filenames):
            path = Path(dirpath, name)
            st = path.stat()
            h.update(f"{path.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _synthetic_root(cfg: DataConfig, cache: Path) -> Path:
    """The synthetic stand-in for ``cfg.kind`` under the cache, generated once (atomically)."""
    if cfg.kind in PUBLIC_KINDS:
        raise DataError(f"data.kind {cfg.kind!r} is read from its standard files, never downloaded or synthesised: "
                        f"set data.root (or pass --data-root) to the folder holding {files_hint(cfg.kind)}")
    if cfg.kind not in SYNTHETIC_KINDS:
        raise DataError(f"data.kind {cfg.kind!r} has no synthetic stand-in (one of {list(SYNTHETIC_KINDS)}); set data.root")
    final = cache / "synthetic" / f"{cfg.kind}-n{cfg.synthetic_n}-seed{cfg.synthetic_seed}"
    marker = final / ".hyperzoo-synthetic-root"
    if not marker.is_file():
        from eo_tasks.data.synth import synthesize  # lazy: the generator is only needed without real data

        tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        try:
            out = Path(synthesize(cfg.kind, tmp, cfg.synthetic_n, cfg.synthetic_seed)).resolve()
            if not out.is_relative_to(tmp.resolve()):
                raise DataError(f"synthesize({cfg.kind!r}) returned {out}, outside its output folder {tmp}")
            (tmp / marker.name).write_text(str(out.relative_to(tmp.resolve())))
            try:
                tmp.rename(final)
            except OSError as err:
                if not marker.is_file():  # not a concurrent writer that got there first
                    raise DataError(f"{final}: exists but is not a complete synthetic dataset; delete it") from err
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    return final / marker.read_text().strip()


def _to_payload(data: TaskData) -> dict:
    return {"format": CACHE_FORMAT, **data.to_dict()}


def _from_payload(payload: dict) -> TaskData:
    if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT:
        raise ValueError("not a task-data cache file of this version")
    return TaskData.from_dict(payload)


def _save_atomic(data: TaskData, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        torch.save(_to_payload(data), tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def build_task_data(cfg: DataConfig, root: Path, source: str, synthetic: bool, progress: bool = False) -> TaskData:
    """Decode, resize and train-normalise all three splits (no caching)."""
    if cfg.kind in PUBLIC_KINDS:  # whole files in one read, preprocessed by cfg.recipe
        return public_task_data(cfg, root, source)
    datasets = {split: dataset_for(cfg, root, split) for split in SPLITS}
    train = datasets["train"]
    splits = {
        split: decode(ds, train.modalities, cfg.image_size, progress, f"decoding {cfg.kind} {split}")
        for split, ds in datasets.items()
    }
    normalised: list[ModalityInfo] = []
    for m in train.modalities:
        stats = ChannelStats()
        stats.update(splits["train"].inputs[m.name])
        mean, std = stats.result()
        shape = (1, -1, 1, 1) if m.kind == "image" else (1, -1)
        mean_t, std_t = torch.tensor(mean).view(shape).float(), torch.tensor(std).view(shape).float()
        for ts in splits.values():
            ts.inputs[m.name].sub_(mean_t).div_(std_t)
        normalised.append(ModalityInfo(m.name, m.kind, m.channels, m.bands, mean, std))
    multilabel = splits["train"].labels.dtype.is_floating_point
    info = TaskInfo(dataset=cfg.kind, classes=tuple(train.classes), multilabel=multilabel,
                    modalities=tuple(normalised), image_size=cfg.image_size, source=source, synthetic=synthetic)
    return TaskData(info=info, splits=splits)


def load_task_data(cfg: DataConfig, root: str | Path | None = None, progress: bool = False) -> TaskData:
    """The dataset of ``cfg`` as normalised tensors, from the cache when nothing changed.

    ``root`` overrides ``cfg.root``; with neither, ``cfg.synthetic_n`` samples are
    synthesised from ``cfg.synthetic_seed`` into the cache and read with the real reader.
    """
    cache = cache_dir(cfg)
    data_root = cfg.root_path(root)
    synthetic = data_root is None
    if synthetic:
        data_root = _synthetic_root(cfg, cache).resolve()
        source = f"synthetic(kind={cfg.kind},n={cfg.synthetic_n},seed={cfg.synthetic_seed})"
    else:
        if not data_root.is_dir():
            raise DataError(f"{data_root}: data root folder not found (data.root for {cfg.kind})")
        source = str(data_root)
    tasks = cache / "tasks"
    path = tasks / f"{cfg.kind}-{_fingerprint(cfg, data_root, tasks, synthetic)[:24]}.pt"
    if path.is_file():
        try:
            return _from_payload(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as err:  # damaged or foreign file: rebuild and overwrite it
            if progress:
                print(f"[hyperzoo] ignoring unreadable cache {path} ({err})", file=sys.stderr)
    elif progress:
        print(f"[hyperzoo] building {cfg.kind} task data from {source}", file=sys.stderr)
    data = build_task_data(cfg, data_root, source, synthetic, progress)
    _save_atomic(data, path)
    return data
