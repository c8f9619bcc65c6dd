"""The ben-ge reader: Sentinel-1/2 patches (shared with BigEarthNet, ``eo_tasks.data.bigearthnet``)
plus ben-ge's extra modalities.

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

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from eo_tasks.data.errors import DataError
from eo_tasks.data.eurosat import select_bands
from eo_tasks.data.splits import DEFAULT_FRACTIONS, check_split, select, split_from_files, stratified_split
from eo_tasks.data.tiff import PATCH_SIZE, S1_BANDS, S2_BANDS, read_band, read_s1_patch, read_s2_patch
from eo_tasks.data.types import ModalityInfo, check_modalities

WORLDCOVER_CODES = (10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)
WORLDCOVER_CLASSES = (
    "tree_cover", "shrubland", "grassland", "cropland", "built-up", "bare/sparse_vegetation",
    "snow_and_ice", "permanent_water_bodies", "herbaceous_wetland", "mangroves", "moss_and_lichen",
)
SEASONS = ("spring", "summer", "autumn", "winter")
BENGE_MODALITIES = ("s2", "s1", "dem", "worldcover", "season", "era5", "climatezone")
_SEASON_NAMES = {"spring": 0, "summer": 1, "autumn": 2, "fall": 2, "winter": 3}


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


def _class_fractions(table: pd.DataFrame, path: Path) -> np.ndarray:
    """``[N, 11]`` WorldCover class fractions; a non-numeric or missing value -> DataError."""
    values = table[list(WORLDCOVER_CLASSES)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float32)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"{path}: column {WORLDCOVER_CLASSES[col]!r} of patch {table['patch_id'].iloc[row]!r} "
                        "is not a number (expected class fractions)")
    return values


def _onehot_worldcover(codes: torch.Tensor) -> torch.Tensor:
    return torch.stack([(codes[0] == c) for c in WORLDCOVER_CODES]).to(torch.float32)


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
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
        s2_folder: str = "sentinel-2",
        s1_folder: str = "sentinel-1",
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: ben-ge root folder not found")
        self.split = check_split(split)
        self.modality_names = check_modalities(modalities, BENGE_MODALITIES, "ben-ge")
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
        table = align(read_table(wc_path, ["patch_id", *WORLDCOVER_CLASSES]), ids, wc_path)
        fractions_all = _class_fractions(table, wc_path)
        dominant = fractions_all.argmax(axis=1)

        index = split_from_files([self.root, self.root / "splits"], f"{self.name}_{{split}}.csv", ids, self.split)
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


def _discover_name(root: Path) -> str:
    found = sorted(root.glob("*_meta.csv"))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} ({[p.name for p in found]})"
        raise DataError(f"{root}: found {what} <name>_meta.csv files; expected exactly one (or pass name=)")
    return found[0].name.removesuffix("_meta.csv")
