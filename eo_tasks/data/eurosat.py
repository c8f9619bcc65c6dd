"""EuroSAT readers: RGB JPEGs (Pillow) and 13-band Sentinel-2 GeoTIFFs (tifffile).

Both versions come as one folder per class (``<Class>/<Class>_<n>.<ext>``), possibly
below a wrapper folder from the official archives. Splits come from the published
``eurosat-{train,val,test}.txt`` lists when present, else from a seeded stratified split.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset

from eo_tasks.data.errors import DataError
from eo_tasks.data.splits import DEFAULT_FRACTIONS, check_split, find_split_files, read_id_list, select, stratified_split
from eo_tasks.data.tiff import read_multiband
from eo_tasks.data.types import ModalityInfo

# EuroSAT-MS channel order: B8A is stored LAST (not after B08), see the data README.
EUROSAT_MS_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A")
EUROSAT_RGB_BANDS = ("B04", "B03", "B02")
RGB_LAYOUTS = (".", "2750", "EuroSAT_RGB", "EuroSAT/2750")
MS_LAYOUTS = (".", "EuroSAT_MS", "EuroSATallBands", "2750", "ds/images/remote_sensing/otherDatasets/sentinel_2/tif")


def select_bands(wanted: Sequence[str], available: Sequence[str], where: str) -> list[int]:
    """Channel indices of ``wanted`` band names (all when empty); unknown names -> DataError."""
    if not wanted:
        return list(range(len(available)))
    unknown = [b for b in wanted if b not in available]
    if unknown:
        raise DataError(f"{where}: unknown band name(s) {unknown}; valid names are {list(available)}")
    if len(set(wanted)) != len(wanted):
        raise DataError(f"{where}: band list {list(wanted)} repeats a band")
    return [available.index(b) for b in wanted]


def _class_folders(folder: Path, suffixes: tuple[str, ...]) -> dict[str, list[Path]]:
    classes: dict[str, list[Path]] = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(p for p in sub.iterdir() if p.suffix.lower() in suffixes and p.is_file())
        if files:
            classes[sub.name] = files
    return classes


def find_class_folders(root: Path, layouts: Sequence[str], suffixes: tuple[str, ...], what: str) -> tuple[Path, dict[str, list[Path]]]:
    """The first of ``root/<layout>`` holding class folders of ``suffixes`` files."""
    if not root.is_dir():
        raise DataError(f"{root}: {what} root folder not found")
    for layout in layouts:
        folder = (root / layout) if layout != "." else root
        if folder.is_dir():
            classes = _class_folders(folder, suffixes)
            if classes:
                return folder, classes
    raise DataError(
        f"{root}: no {what} layout found; expected class folders of {'/'.join(suffixes)} files directly "
        f"under it or under one of {[l for l in layouts if l != '.']}"
    )


class _EuroSAT(Dataset):
    """Shared listing and splitting; subclasses decode one file into ``[C, H, W]``."""

    layouts: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    what = ""
    modality = ""
    all_bands: tuple[str, ...] = ()

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        bands: Sequence[str] = (),
        split_seed: int = 0,
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
    ) -> None:
        self.root = Path(root)
        self.split = check_split(split)
        self.band_index = select_bands(tuple(bands), self.all_bands, f"{self.what} bands")
        self.bands = tuple(self.all_bands[i] for i in self.band_index)
        self.folder, by_class = find_class_folders(self.root, self.layouts, self.suffixes, self.what)
        self.classes = tuple(by_class)
        paths = [p for files in by_class.values() for p in files]
        labels = np.array([i for i, files in enumerate(by_class.values()) for _ in files], dtype=np.int64)
        keys = [f"{p.parent.name}/{p.name}" for p in paths]
        index = select(self._split_indices(paths, keys, labels, split_seed, fractions), self.split, str(self.root))
        self.paths = [paths[i] for i in index]
        self.labels = labels[index]
        self.metadata = pd.DataFrame(
            {
                "file": [p.name for p in self.paths],
                "path": [str(p) for p in self.paths],
                "class": [self.classes[i] for i in self.labels],
                "label": self.labels,
            }
        )
        self.modalities = (ModalityInfo(self.modality, "image", len(self.bands), self.bands),)

    def _split_indices(
        self, paths: list[Path], keys: list[str], labels: np.ndarray, seed: int, fractions: Sequence[float]
    ) -> np.ndarray:
        files = find_split_files(dict.fromkeys([self.root, self.folder]), "eurosat-{split}.txt")
        if files is None:
            return stratified_split(keys, labels, seed, fractions)[self.split]
        # Published lists name the .jpg files; the MS .tif files match them by stem.
        wanted = {Path(name).stem for name in read_id_list(files[self.split])}
        return np.array([i for i, p in enumerate(paths) if p.stem in wanted], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, path: Path) -> torch.Tensor:
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image = self.read(self.paths[index])
        if len(self.band_index) != image.shape[0]:
            image = image[self.band_index]
        return {self.modality: image, "label": torch.tensor(self.labels[index], dtype=torch.int64)}


class EuroSATRGB(_EuroSAT):
    """EuroSAT RGB: ``<Class>/<Class>_<n>.jpg``, 64x64 8-bit; modality ``rgb`` in 0..255."""

    layouts = RGB_LAYOUTS
    suffixes = (".jpg", ".jpeg")
    what = "EuroSAT RGB"
    modality = "rgb"
    all_bands = EUROSAT_RGB_BANDS

    def read(self, path: Path) -> torch.Tensor:
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("RGB"))
        except (OSError, ValueError, SyntaxError) as err:  # Pillow's errors for truncated/invalid images
            raise DataError(f"{path}: unreadable JPEG ({err})") from err
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32))


class EuroSATMS(_EuroSAT):
    """EuroSAT MS: ``<Class>/<Class>_<n>.tif``, 13-band uint16 L1C reflectance x 10,000;
    modality ``s2`` with channels in :data:`EUROSAT_MS_BANDS` order (or the selected bands)."""

    layouts = MS_LAYOUTS
    suffixes = (".tif", ".tiff")
    what = "EuroSAT MS"
    modality = "s2"
    all_bands = EUROSAT_MS_BANDS

    def read(self, path: Path) -> torch.Tensor:
        return read_multiband(path, len(EUROSAT_MS_BANDS))
