"""Which dataset a training run or zoo uses, as written in a TOML ``[data]`` table."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from eo_tasks.config import ConfigError
from eo_tasks.data.splits import DEFAULT_FRACTIONS

DatasetKind = Literal["eurosat-rgb", "eurosat-ms", "benge", "bigearthnet",
                      # the public zoos' datasets (eo_tasks.data.public): standard files, no synthetic stand-in
                      "mnist", "fashion-mnist", "cifar10", "svhn", "stl10"]


@dataclass(frozen=True)
class DataConfig:
    kind: DatasetKind = "eurosat-rgb"
    # Folder of the real (or previously synthesised) dataset. None: synthesise one
    # (``synthetic_n`` samples from ``synthetic_seed``) into the cache and read that.
    root: str | None = None
    # Modalities to load; () = the dataset's default ("rgb" / "s2" / "s2"+"s1").
    modalities: tuple[str, ...] = ()
    # Sentinel-2 bands by name, in the order wanted; () = all the dataset has.
    bands: tuple[str, ...] = ()
    image_size: int = 32  # every image modality is resized to this at materialisation
    split_seed: int = 0  # for the seeded stratified split when no split files exist
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    synthetic_n: int = 600
    synthetic_seed: int = 0
    # ben-ge targets: "single" = most frequent WorldCover class, "multi" = fraction >= threshold
    target: Literal["single", "multi"] = "single"
    multilabel_threshold: float = 0.1
    # BigEarthNet-MM top-level folders (the same S1/S2 readers serve ben-ge and BigEarthNet)
    s2_folder: str = "sentinel-2"
    s1_folder: str = "sentinel-1"
    cache_dir: str | None = None  # default: $HYPERZOO_CACHE or ~/.cache/hyperzoo
    # The public kinds only (eo_tasks.data.public). recipe: whose preprocessing, "standard"
    # (train-split mean/std), "unterthiner" or "modelzoos" (each paper's own); channels: 0 =
    # the images' own, 1 = grayscale; val_fraction: the seeded (split_seed) hold-out of the
    # train files that is the val split (``fractions`` is not used: train/test are the files').
    recipe: Literal["standard", "unterthiner", "modelzoos"] = "standard"
    channels: int = 0
    val_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.image_size < 8:
            raise ConfigError(f"image_size must be >= 8, got {self.image_size}")
        if len(self.fractions) != 3 or any(f < 0 for f in self.fractions) or abs(sum(self.fractions) - 1) > 1e-6:
            raise ConfigError(f"fractions must be three non-negative numbers summing to 1, got {self.fractions}")
        if self.channels not in (0, 1, 3):
            raise ConfigError(f"channels must be 0 (the images' own), 1 (grayscale) or 3, got {self.channels}")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.synthetic_n < 10:
            raise ConfigError(f"synthetic_n must be >= 10, got {self.synthetic_n}")

    def root_path(self, root: str | Path | None = None) -> Path | None:
        """The data folder as an absolute path: ``root`` when given, else ``self.root``, with
        ``~`` and ``$VARS`` expanded and a relative folder taken from the current directory
        (under ``ray job submit``: the uploaded working directory). None: no folder (synthetic)."""
        given = root if root is not None else self.root
        if given is None:
            return None
        return Path(os.path.expandvars(os.path.expanduser(str(given)))).resolve()

    def resolved(self, root: str | Path | None = None) -> DataConfig:
        """This config with :meth:`root_path` as its root, so it names the same folder from
        any process and working directory."""
        path = self.root_path(root)
        return self if path is None else dataclasses.replace(self, root=str(path))
