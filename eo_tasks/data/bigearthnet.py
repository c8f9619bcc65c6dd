"""The BigEarthNet-MM v1 reader: Sentinel-2 and Sentinel-1 patch folders (the same
``<patch>/<patch>_<band>.tif`` layout as ben-ge, read by ``eo_tasks.data.tiff``) with
multi-hot CORINE labels from each patch's ``_labels_metadata.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from eo_tasks.data.errors import DataError
from eo_tasks.data.eurosat import select_bands
from eo_tasks.data.splits import DEFAULT_FRACTIONS, check_split, read_id_list, select, split_from_files, stratified_split
from eo_tasks.data.tiff import S1_BANDS, S2_BANDS, read_s1_patch, read_s2_patch
from eo_tasks.data.types import ModalityInfo, check_modalities

BIGEARTHNET_43 = (
    "Continuous urban fabric", "Discontinuous urban fabric", "Industrial or commercial units",
    "Road and rail networks and associated land", "Port areas", "Airports", "Mineral extraction sites",
    "Dump sites", "Construction sites", "Green urban areas", "Sport and leisure facilities",
    "Non-irrigated arable land", "Permanently irrigated land", "Rice fields", "Vineyards",
    "Fruit trees and berry plantations", "Olive groves", "Pastures", "Annual crops associated with permanent crops",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas", "Broad-leaved forest", "Coniferous forest", "Mixed forest", "Natural grassland",
    "Moors and heathland", "Sclerophyllous vegetation", "Transitional woodland/shrub", "Beaches, dunes, sands",
    "Bare rock", "Sparsely vegetated areas", "Burnt areas", "Inland marshes", "Peatbogs", "Salt marshes",
    "Salines", "Intertidal flats", "Water courses", "Water bodies", "Coastal lagoons", "Estuaries", "Sea and ocean",
)
# The 19-class nomenclature (Sumbul et al. 2020): each class and the CORINE classes merged into it;
# the 11 CORINE classes not listed (roads, ports, airports, ..., burnt areas, intertidal flats) are dropped.
BIGEARTHNET_19 = {
    "Urban fabric": ("Continuous urban fabric", "Discontinuous urban fabric"),
    "Industrial or commercial units": ("Industrial or commercial units",),
    "Arable land": ("Non-irrigated arable land", "Permanently irrigated land", "Rice fields"),
    "Permanent crops": ("Vineyards", "Fruit trees and berry plantations", "Olive groves",
                        "Annual crops associated with permanent crops"),
    "Pastures": ("Pastures",),
    "Complex cultivation patterns": ("Complex cultivation patterns",),
    "Land principally occupied by agriculture, with significant areas of natural vegetation": (
        "Land principally occupied by agriculture, with significant areas of natural vegetation",),
    "Agro-forestry areas": ("Agro-forestry areas",),
    "Broad-leaved forest": ("Broad-leaved forest",),
    "Coniferous forest": ("Coniferous forest",),
    "Mixed forest": ("Mixed forest",),
    "Natural grassland and sparsely vegetated areas": ("Natural grassland", "Sparsely vegetated areas"),
    "Moors, heathland and sclerophyllous vegetation": ("Moors and heathland", "Sclerophyllous vegetation"),
    "Transitional woodland, shrub": ("Transitional woodland/shrub",),
    "Beaches, dunes, sands": ("Beaches, dunes, sands",),
    "Inland wetlands": ("Inland marshes", "Peatbogs"),
    "Coastal wetlands": ("Salt marshes", "Salines"),
    "Inland waters": ("Water courses", "Water bodies"),
    "Marine waters": ("Coastal lagoons", "Estuaries", "Sea and ocean"),
}


def _find_folder(root: Path, given: str, fallbacks: Sequence[str], what: str) -> Path:
    for name in (given, *fallbacks):
        if (root / name).is_dir():
            return root / name
    raise DataError(f"{root}: {what} folder {given!r} not found (also tried {list(fallbacks)})")


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: labels metadata JSON not found")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: unreadable JSON ({err})") from err


def _patch_list(folders: Sequence[Path], pattern: str) -> set[str]:
    for folder in folders:
        for path in sorted(folder.glob(pattern)):
            return set(read_id_list(path))
    return set()


class BigEarthNet(Dataset):
    """BigEarthNet-MM v1: S2 ``<s2_folder>/<patch>/<patch>_<band>.tif`` and S1
    ``<s1_folder>/<patch>/<patch>_{VV,VH}.tif`` through the same readers as ben-ge.

    Labels (multi-hot) come from ``<patch>_labels_metadata.json``: the 43 CORINE classes,
    or the 19-class nomenclature with ``label_set="19"``. With S1 the pairs come from the
    S1 JSON's ``corresponding_s2_patch``. Splits: ``{train,val,test}.csv`` (S2 patch names)
    in ``root`` or ``root/splits`` when present, else seeded and stratified by first label.
    ``metadata`` gets 0/1 columns ``seasonal_snow`` / ``cloud_shadow`` when the official
    ``patches_with_*.csv`` lists are found in ``root`` or ``root/metadata``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        modalities: Sequence[str] = ("s2", "s1"),
        bands: Sequence[str] = (),
        s2_folder: str = "sentinel-2",
        s1_folder: str = "sentinel-1",
        label_set: str = "43",
        split_seed: int = 0,
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: BigEarthNet root folder not found")
        self.split = check_split(split)
        self.modality_names = check_modalities(modalities, ("s2", "s1"), "BigEarthNet")
        if label_set not in ("19", "43"):
            raise DataError(f"BigEarthNet label_set {label_set!r}: expected '19' or '43'")
        self.band_index = select_bands(tuple(bands), S2_BANDS, "BigEarthNet Sentinel-2 bands")
        self.bands = tuple(S2_BANDS[i] for i in self.band_index)
        use_s1, use_s2 = "s1" in self.modality_names, "s2" in self.modality_names
        self.s2_dir = _find_folder(self.root, s2_folder, ("BigEarthNet-v1.0", "BigEarthNet-S2-Example"), "Sentinel-2") if use_s2 else None
        self.s1_dir = _find_folder(self.root, s1_folder, ("BigEarthNet-S1-v1.0", "BigEarthNet-S1-Example"), "Sentinel-1") if use_s1 else None
        self.classes = tuple(BIGEARTHNET_19) if label_set == "19" else BIGEARTHNET_43
        to_class = (
            {src: i for i, srcs in enumerate(BIGEARTHNET_19.values()) for src in srcs}
            if label_set == "19" else {c: i for i, c in enumerate(BIGEARTHNET_43)}
        )

        rows = self._scan(use_s1, use_s2)
        if not rows:
            raise DataError(f"{self.s1_dir or self.s2_dir}: no BigEarthNet patch folders found")
        targets = np.zeros((len(rows), len(self.classes)), dtype=np.float32)
        for r, row in enumerate(rows):
            for label in row.pop("labels"):
                if label in to_class:
                    targets[r, to_class[label]] = 1
                elif label not in BIGEARTHNET_43:
                    raise DataError(f"{row.pop('json')}: unknown CORINE label {label!r}")
            row.pop("json", None)
        table = pd.DataFrame(rows)
        extra = [self.root, self.root / "metadata"]
        for column, pattern in (("seasonal_snow", "*patches_with_seasonal_snow*.csv"),
                                ("cloud_shadow", "*patches_with_cloud_and_shadow*.csv")):
            listed = _patch_list(extra, pattern)
            if listed:
                table[column] = table["patch_id"].isin(listed).astype(np.int64)
        ids = table["patch_id"].tolist()
        index = split_from_files([self.root, self.root / "splits"], "{split}.csv", ids, self.split)
        if index is None:
            first = np.where(targets.any(axis=1), targets.argmax(axis=1), -1)
            keys = ids if use_s2 else table["patch_id_s1"].tolist()
            index = stratified_split(keys, first, split_seed, fractions)[self.split]
        select(index, self.split, str(self.root))
        self.metadata = table.iloc[index].reset_index(drop=True)
        self.labels = torch.from_numpy(targets[index])
        mods = {"s2": ModalityInfo("s2", "image", len(self.bands), self.bands),
                "s1": ModalityInfo("s1", "image", 2, S1_BANDS)}
        self.modalities = tuple(mods[m] for m in self.modality_names)

    def _scan(self, use_s1: bool, use_s2: bool) -> list[dict]:
        rows = []
        if use_s1:
            for folder in sorted(p for p in self.s1_dir.iterdir() if p.is_dir()):
                path = folder / f"{folder.name}_labels_metadata.json"
                meta = _read_json(path)
                s2 = meta.get("corresponding_s2_patch")
                if use_s2 and not s2:
                    raise DataError(f"{path}: no 'corresponding_s2_patch' to pair it with a Sentinel-2 patch")
                if use_s2 and not (self.s2_dir / s2).is_dir():
                    raise DataError(f"{self.s2_dir / s2}: Sentinel-2 patch named by {path} not found")
                rows.append({"patch_id": s2 or "", "patch_id_s1": folder.name,
                             "labels": _labels(meta, path), "json": path})
        else:
            for folder in sorted(p for p in self.s2_dir.iterdir() if p.is_dir()):
                path = folder / f"{folder.name}_labels_metadata.json"
                rows.append({"patch_id": folder.name, "patch_id_s1": "",
                             "labels": _labels(_read_json(path), path), "json": path})
        return rows

    def __len__(self) -> int:
        return len(self.metadata)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample: dict[str, torch.Tensor] = {}
        for name in self.modality_names:
            if name == "s2":
                pid = self.metadata.at[index, "patch_id"]
                sample[name] = read_s2_patch(self.s2_dir / pid, pid, self.bands)
            else:
                pid = self.metadata.at[index, "patch_id_s1"]
                sample[name] = read_s1_patch(self.s1_dir / pid, pid)
        sample["label"] = self.labels[index]
        return sample


def _labels(meta: dict, path: Path) -> list[str]:
    labels = meta.get("labels")
    if not isinstance(labels, list):
        raise DataError(f"{path}: expected a 'labels' list")
    return labels
