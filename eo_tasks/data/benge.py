"""ben-ge and BigEarthNet-MM v1 readers (Sentinel-1/2 patches shared, plus ben-ge's extra modalities).

ben-ge layout under ``root``::

    sentinel-2/<patch_id>/<patch_id>_<band>.tif        12 bands, 120/60/20 px -> 120x120
    sentinel-1/<patch_id_s1>/<patch_id_s1>_{VV,VH}.tif  float32 dB, 120x120
    dem/<patch_id>_dem.tif                              elevation, 1 channel
    esaworldcover/<patch_id>_esaworldcover.tif          WorldCover codes -> 11-channel one-hot
    <name>_meta.csv  <name>_esaworldcover.csv  <name>_era-5.csv  <name>_climatezones.csv
    <name>_{train,val,test}.csv                         optional header-less patch-id lists

Vector modalities: ``season`` is a 4-dim one-hot (spring, summer, autumn, winter) of the
S2 acquisition; ``era5`` the numeric ERA-5 columns (missing values -> column mean);
``climatezone`` a one-hot over the zone codes present in the climate-zone table (the
vector length is the same for every split; zone 0, "water, no zone", is a zone of its own).
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
from eo_tasks.data.splits import check_split, find_split_files, read_id_list, select, stratified_split
from eo_tasks.data.tiff import PATCH_SIZE, S1_BANDS, read_band, read_s1_patch, read_s2_patch
from eo_tasks.data.types import ModalityInfo

S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")  # no B10
WORLDCOVER_CODES = (10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)
WORLDCOVER_CLASSES = (
    "tree_cover", "shrubland", "grassland", "cropland", "built-up", "bare/sparse_vegetation",
    "snow_and_ice", "permanent_water_bodies", "herbaceous_wetland", "mangroves", "moss_and_lichen",
)
SEASONS = ("spring", "summer", "autumn", "winter")
BENGE_MODALITIES = ("s2", "s1", "dem", "worldcover", "season", "era5", "climatezone")
_SEASON_NAMES = {"spring": 0, "summer": 1, "autumn": 2, "fall": 2, "winter": 3}

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


def read_table(path: Path, required: Sequence[str]) -> pd.DataFrame:
    """A CSV with its id columns kept as strings; missing file or column -> DataError."""
    if not path.is_file():
        raise DataError(f"{path}: table not found")
    try:
        table = pd.read_csv(path, dtype={"patch_id": str, "patch_id_s1": str})
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: unreadable CSV ({err})") from err
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; has {list(table.columns)}")
    return table


def align(table: pd.DataFrame, ids: Sequence[str], path: Path) -> pd.DataFrame:
    """Rows of ``table`` in the order of ``ids`` (matched on ``patch_id``)."""
    if table["patch_id"].duplicated().any():
        dup = table.loc[table["patch_id"].duplicated(), "patch_id"].iloc[0]
        raise DataError(f"{path}: patch_id {dup!r} appears more than once")
    indexed = table.set_index("patch_id")
    missing = [i for i in ids if i not in indexed.index]
    if missing:
        raise DataError(f"{path}: no row for {len(missing)} patch id(s), e.g. {missing[0]!r}")
    return indexed.loc[list(ids)].reset_index()


def encode_season(values: pd.Series, timestamps: pd.Series | None, where: str) -> np.ndarray:
    """``[N, 4]`` one-hot over :data:`SEASONS` (meteorological, northern hemisphere).

    Accepts names (spring/summer/autumn|fall/winter), integer codes 0-3 in that order,
    or ben-ge's continuous encoding in [0, 1] (0 = winter, 1 = summer solstice). That
    encoding cannot tell spring from autumn, so the month of a ``timestamp_s2`` column is
    used when there is one; without it mid values get 0.5 spring + 0.5 autumn.
    """
    out = np.zeros((len(values), len(SEASONS)), dtype=np.float32)
    if not pd.api.types.is_numeric_dtype(values):
        codes = values.astype(str).str.strip().str.lower().map(_SEASON_NAMES)
        if codes.isna().any():
            bad = values[codes.isna()].iloc[0]
            raise DataError(f"{where}: season {bad!r} is not one of {sorted(_SEASON_NAMES)} or a number")
        out[np.arange(len(values)), codes.to_numpy(int)] = 1
        return out
    v = values.to_numpy(dtype=float)
    if np.isnan(v).any() or (v < 0).any() or (v > 3).any():
        raise DataError(f"{where}: season values must be names, integer codes 0-3 or ben-ge encodings in [0, 1]")
    if np.all(v == np.round(v)):
        out[np.arange(len(v)), v.astype(int)] = 1
        return out
    if (v > 1).any():
        raise DataError(f"{where}: season values mix integer codes and fractions")
    months = pd.to_datetime(timestamps, errors="coerce").dt.month if timestamps is not None else None
    if months is not None and not months.isna().any():
        out[np.arange(len(v)), ((months.to_numpy(int) % 12) // 3 + 3) % 4] = 1  # Mar-May -> 0 ... Dec-Feb -> 3
        return out
    out[v >= 0.75, 1] = 1
    out[v <= 0.25, 3] = 1
    mid = (v > 0.25) & (v < 0.75)
    out[mid, 0] = out[mid, 2] = 0.5
    return out


def _numeric_columns(table: pd.DataFrame, path: Path) -> tuple[list[str], np.ndarray]:
    cols = [c for c in table.columns if c not in ("patch_id", "patch_id_s1") and pd.api.types.is_numeric_dtype(table[c])]
    if not cols:
        raise DataError(f"{path}: no numeric columns besides patch ids")
    values = table[cols].to_numpy(dtype=np.float64)
    missing = np.isnan(values)
    if missing.any():  # fill gaps with the column mean (0 for a column with no values at all)
        counts = (~missing).sum(axis=0)
        means = np.where(counts > 0, np.nansum(values, axis=0) / np.maximum(counts, 1), 0.0)
        values = np.where(missing, means[None, :], values)
    return cols, values.astype(np.float32)


def _onehot_worldcover(codes: torch.Tensor) -> torch.Tensor:
    return torch.stack([(codes[0] == c) for c in WORLDCOVER_CODES]).to(torch.float32)


def _split_from_files(
    folders: Sequence[Path], pattern: str, ids: Sequence[str], split: str
) -> np.ndarray | None:
    files = find_split_files(folders, pattern)
    if files is None:
        return None
    wanted = set(read_id_list(files[split])) - {"patch_id"}
    return np.array([i for i, pid in enumerate(ids) if pid in wanted], dtype=np.int64)


class BenGe(Dataset):
    """ben-ge (or its synthetic stand-in): image and vector modalities per S2 ``patch_id``,
    target from the WorldCover class fractions (``single``: argmax, 11-way; ``multi``:
    fraction >= ``threshold``, 11-way multi-hot)."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        modalities: Sequence[str] = ("s2", "s1"),
        bands: Sequence[str] = (),
        target: str = "single",
        threshold: float = 0.1,
        name: str | None = None,
        split_seed: int = 0,
        fractions: Sequence[float] = (0.7, 0.15, 0.15),
        s2_folder: str = "sentinel-2",
        s1_folder: str = "sentinel-1",
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: ben-ge root folder not found")
        self.split = check_split(split)
        self.modality_names = _check_modalities(modalities, BENGE_MODALITIES, "ben-ge")
        if target not in ("single", "multi"):
            raise DataError(f"ben-ge target {target!r}: expected 'single' or 'multi'")
        self.target, self.threshold = target, float(threshold)
        self.band_index = select_bands(tuple(bands), S2_BANDS, "ben-ge Sentinel-2 bands")
        self.bands = tuple(S2_BANDS[i] for i in self.band_index)
        self.s2_dir, self.s1_dir = self.root / s2_folder, self.root / s1_folder
        self.name = name or _discover_name(self.root)
        self.classes = WORLDCOVER_CLASSES

        meta_path = self.root / f"{self.name}_meta.csv"
        required = ["patch_id"] + (["patch_id_s1"] if "s1" in self.modality_names else [])
        required += ["season_s2"] if "season" in self.modality_names else []
        meta = read_table(meta_path, required)
        if meta["patch_id"].duplicated().any():
            raise DataError(f"{meta_path}: patch_id {meta.loc[meta['patch_id'].duplicated(), 'patch_id'].iloc[0]!r} repeats")
        ids = meta["patch_id"].tolist()
        wc_path = self.root / f"{self.name}_esaworldcover.csv"
        fractions_all = align(read_table(wc_path, ["patch_id", *WORLDCOVER_CLASSES]), ids, wc_path)
        fractions_all = fractions_all[list(WORLDCOVER_CLASSES)].to_numpy(dtype=np.float32)
        dominant = fractions_all.argmax(axis=1)

        index = _split_from_files([self.root, self.root / "splits"], f"{self.name}_{{split}}.csv", ids, self.split)
        if index is None:
            index = stratified_split(ids, dominant, split_seed, fractions)[self.split]
        select(index, self.split, str(self.root))
        self.metadata = meta.iloc[index].reset_index(drop=True)
        self.patch_ids = self.metadata["patch_id"].tolist()
        frac = fractions_all[index]
        self.labels = (
            torch.from_numpy(dominant[index].astype(np.int64)) if target == "single"
            else torch.from_numpy((frac >= self.threshold).astype(np.float32))
        )
        self.vectors: dict[str, np.ndarray] = {}
        self.vector_names: dict[str, tuple[str, ...]] = {}
        self._load_vectors(meta, ids, index)
        self.modalities = tuple(self._info(m) for m in self.modality_names)

    def _load_vectors(self, meta: pd.DataFrame, ids: list[str], index: np.ndarray) -> None:
        names = self.modality_names
        if "season" in names:
            stamps = meta["timestamp_s2"] if "timestamp_s2" in meta.columns else None
            where = f"{self.root / f'{self.name}_meta.csv'}: column 'season_s2'"
            self.vectors["season"] = encode_season(meta["season_s2"], stamps, where)[index]
            self.vector_names["season"] = SEASONS
        if "era5" in names:
            path = self.root / f"{self.name}_era-5.csv"
            cols, values = _numeric_columns(align(read_table(path, ["patch_id"]), ids, path), path)
            self.vectors["era5"], self.vector_names["era5"] = values[index], tuple(cols)
        if "climatezone" in names:
            path = self.root / f"{self.name}_climatezones.csv"
            table = read_table(path, ["patch_id", "climatezone"])
            zones = table["climatezone"]
            if not pd.api.types.is_numeric_dtype(zones) or zones.isna().any():
                raise DataError(f"{path}: column 'climatezone' must hold integer zone codes")
            codes = sorted(int(z) for z in zones.unique())
            aligned = align(table, ids, path)["climatezone"].to_numpy(int)[index]
            onehot = np.zeros((len(index), len(codes)), dtype=np.float32)
            onehot[np.arange(len(index)), np.searchsorted(codes, aligned)] = 1
            self.vectors["climatezone"] = onehot
            self.vector_names["climatezone"] = tuple(f"zone_{c}" for c in codes)

    def _info(self, name: str) -> ModalityInfo:
        if name == "s2":
            return ModalityInfo("s2", "image", len(self.bands), self.bands)
        if name == "s1":
            return ModalityInfo("s1", "image", 2, S1_BANDS)
        if name == "dem":
            return ModalityInfo("dem", "image", 1, ("elevation",))
        if name == "worldcover":
            return ModalityInfo("worldcover", "image", len(WORLDCOVER_CLASSES), WORLDCOVER_CLASSES)
        cols = self.vector_names[name]
        return ModalityInfo(name, "vector", len(cols), cols)

    def __len__(self) -> int:
        return len(self.patch_ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        pid = self.patch_ids[index]
        sample: dict[str, torch.Tensor] = {}
        for name in self.modality_names:
            if name == "s2":
                sample[name] = read_s2_patch(self.s2_dir / pid, pid, self.bands)
            elif name == "s1":
                pid_s1 = str(self.metadata.at[index, "patch_id_s1"])
                sample[name] = read_s1_patch(self.s1_dir / pid_s1, pid_s1)
            elif name == "dem":
                sample[name] = read_band(self.root / "dem" / f"{pid}_dem.tif")
            elif name == "worldcover":
                codes = read_band(self.root / "esaworldcover" / f"{pid}_esaworldcover.tif", PATCH_SIZE, "nearest")
                sample[name] = _onehot_worldcover(codes)
            else:
                sample[name] = torch.from_numpy(self.vectors[name][index])
        sample["label"] = self.labels[index]
        return sample


def _check_modalities(modalities: Sequence[str], valid: Sequence[str], what: str) -> tuple[str, ...]:
    mods = tuple(modalities)
    unknown = [m for m in mods if m not in valid]
    if not mods or unknown or len(set(mods)) != len(mods):
        raise DataError(f"{what} modalities {list(mods)}: expected distinct names from {list(valid)}")
    return mods


def _discover_name(root: Path) -> str:
    found = sorted(root.glob("*_meta.csv"))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} ({[p.name for p in found]})"
        raise DataError(f"{root}: found {what} <name>_meta.csv files; expected exactly one (or pass name=)")
    return found[0].name.removesuffix("_meta.csv")


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
        fractions: Sequence[float] = (0.7, 0.15, 0.15),
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: BigEarthNet root folder not found")
        self.split = check_split(split)
        self.modality_names = _check_modalities(modalities, ("s2", "s1"), "BigEarthNet")
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
        index = _split_from_files([self.root, self.root / "splits"], "{split}.csv", ids, self.split)
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

