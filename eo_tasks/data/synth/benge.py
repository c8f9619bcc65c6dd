"""Synthetic ben-ge in the ben-ge-8k layout (dataset name ``ben-ge-synth``).

Files, for each patch (S2 id ``S2A_MSIL2A_<date>T<time>_<i>_<j>``, S1 id
``S1A_IW_GRDH_1SDV_<date>T<time>_<tile>_<i>_<j>``)::

    sentinel-2/<id>/<id>_<band>.tif        12 bands B01..B12 with B8A after B08, uint16 L2A x 10,000;
                                           120x120 (B02 B03 B04 B08), 60x60 (B05 B06 B07 B8A B11 B12),
                                           20x20 (B01 B09)
    sentinel-1/<s1 id>/<s1 id>_VV.tif      120x120 float32 dB (and _VH.tif)
    dem/<id>_dem.tif                       120x120 float32 metres
    esaworldcover/<id>_esaworldcover.tif   120x120 uint8 ESA WorldCover codes 10..100

and tables ``ben-ge-synth_meta.csv`` (patch_id, patch_id_s1, season_s2, season_s1, lon, lat,
date_s2, date_s1, cloud_fraction; dates ``YYYY-MM-DD``), ``_esaworldcover.csv`` (patch_id + the
11 class fractions of the map, which sum to 1), ``_era-5.csv`` (temperature_s2 in K,
precipitation_s2 in mm, wind_speed_s2 in m/s, relative_humidity_s2 in %), ``_climatezones.csv``
(Koeppen-Geiger index) and header-less ``_train/_val/_test.csv`` patch-id lists
(``eo_tasks.data.splits.DEFAULT_FRACTIONS``, stratified by dominant class).

``cloud_fraction`` exists only in the synthetic data: it is the generator's ground truth (share
of the patch under cloud of opacity > 0.5), for evaluating on cloudy patches. The real ben-ge
meta table has no such column.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eo_tasks.data.splits import DEFAULT_FRACTIONS, SPLITS
from eo_tasks.data.synth.files import write_csv, write_tif
from eo_tasks.data.synth.landcover import benge_patch, worldcover_fractions
from eo_tasks.data.synth.spectra import WORLDCOVER_NAMES, season_of_month

NAME = "ben-ge-synth"
ERA5_COLUMNS = ("temperature_s2", "precipitation_s2", "wind_speed_s2", "relative_humidity_s2")
_STREAM = 2
# (MGRS tile, lon, lat) of the acquisitions; the patches scatter around them.
_TILES = (
    ("29SND", -8.4, 38.7), ("29UPU", -7.6, 53.2), ("30TVK", -3.2, 43.1), ("31UFU", 5.1, 52.0),
    ("32TMT", 8.6, 46.6), ("32UNU", 9.6, 50.6), ("33UUP", 13.9, 48.1), ("33TWN", 15.9, 45.6),
    ("34VFN", 24.1, 59.6), ("35VPK", 27.2, 61.2), ("34UDC", 21.0, 54.2), ("33VWH", 15.5, 62.5),
)  # fmt: skip
_FIRST_DAY = dt.date(2017, 6, 1)  # BigEarthNet covers June 2017 to May 2018


@dataclass(frozen=True)
class _Acquisition:
    tile: str
    lon: float
    lat: float
    s2: str  # "S2A_MSIL2A_20170613T101031"
    s1: str  # "S1A_IW_GRDH_1SDV_20170613T165043"
    date_s2: dt.date
    date_s1: dt.date


def _acquisitions(rng: np.random.Generator, count: int) -> list[_Acquisition]:
    out, seen = [], set()
    while len(out) < count:
        tile, lon, lat = _TILES[rng.integers(len(_TILES))]
        d2 = _FIRST_DAY + dt.timedelta(days=int(rng.integers(365)))
        d1 = d2 + dt.timedelta(days=int(rng.integers(-2, 3)))
        t2 = f"{rng.integers(9, 12):02d}{rng.integers(60):02d}{rng.integers(60):02d}"
        t1 = f"{rng.choice([5, 6, 16, 17]):02d}{rng.integers(60):02d}{rng.integers(60):02d}"
        s2 = f"S2{'AB'[rng.integers(2)]}_MSIL2A_{d2:%Y%m%d}T{t2}"
        if s2 in seen:
            continue
        seen.add(s2)
        s1 = f"S1{'AB'[rng.integers(2)]}_IW_GRDH_1SDV_{d1:%Y%m%d}T{t1}"
        out.append(_Acquisition(tile, lon, lat, s2, s1, d2, d1))
    return out


# 14 train, 3 val, 3 test in every 20 patches (DEFAULT_FRACTIONS), interleaved so that any
# run of patches gets its share; written out because the synthetic files' bytes depend on it
_SPLIT_PATTERN = np.array([0, 0, 1, 0, 0, 2, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 1, 0, 0, 2])
assert np.allclose(np.bincount(_SPLIT_PATTERN) / _SPLIT_PATTERN.size, DEFAULT_FRACTIONS)


def _split_of(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Index into SPLITS per patch, stratified by walking the patches sorted by label
    through :data:`_SPLIT_PATTERN`."""
    order = np.lexsort((rng.random(labels.size), labels))
    split = np.empty(labels.size, dtype=np.int64)
    split[order] = _SPLIT_PATTERN[np.arange(labels.size) % _SPLIT_PATTERN.size]
    return split


def _era5(rng: np.random.Generator, lat: float, season: str, elevation: float) -> list[str]:
    swing = {"winter": -9.0, "spring": 0.0, "summer": 9.0, "autumn": 1.0}[season]
    temperature = 19.0 - 0.55 * (lat - 38.0) + swing - 6.5 * elevation / 1000 + rng.normal(0, 2.0)
    precipitation = rng.gamma(0.8, 3.0)
    wind = rng.gamma(3.0, 1.2)
    humidity = np.clip(72 + 0.4 * (lat - 45) - 0.5 * swing + rng.normal(0, 10), 15, 100)
    return [f"{v:.3f}" for v in (temperature + 273.15, precipitation, wind, humidity)]


def _climatezone(lat: float, lon: float, elevation: float) -> int:
    """A Koeppen-Geiger class index (Beck et al. 2018 legend) from position and height."""
    if elevation > 1800:
        return 29  # ET, tundra
    if lat < 42.5:
        return 8 if lon > -8 else 9  # Csa / Csb
    if lat < 56:
        return 26 if lon > 16 else 15  # Dfb / Cfb
    return 27 if lon > 12 else 16  # Dfc / Cfc


def write_benge(out: Path, n: int, seed: int, name: str = NAME) -> None:
    rng = np.random.default_rng([seed, _STREAM, 0])
    acqs = _acquisitions(rng, max(4, -(-n // 12)))  # enough dates that every season occurs
    which = rng.integers(len(acqs), size=n)
    for sub in ("sentinel-2", "sentinel-1", "dem", "esaworldcover"):
        (out / sub).mkdir()

    meta, fractions, era5, zones, ids = [], [], [], [], []
    used: set[str] = set()
    for i in range(n):
        acq = acqs[which[i]]
        while True:  # grid position of the patch in its tile, unique per acquisition
            row, col = int(rng.integers(100)), int(rng.integers(100))
            pid = f"{acq.s2}_{row}_{col}"
            if pid not in used:
                used.add(pid)
                break
        sid = f"{acq.s1}_{acq.tile}_{row}_{col}"
        season_s2, season_s1 = season_of_month(acq.date_s2.month), season_of_month(acq.date_s1.month)
        patch = benge_patch(np.random.default_rng([seed, _STREAM, 1, i]), season_s2, season_s1)

        (out / "sentinel-2" / pid).mkdir()
        for band, image in patch.s2.items():
            write_tif(out / "sentinel-2" / pid / f"{pid}_{band}.tif", image)
        (out / "sentinel-1" / sid).mkdir()
        for pol, image in patch.s1.items():
            write_tif(out / "sentinel-1" / sid / f"{sid}_{pol}.tif", image)
        write_tif(out / "dem" / f"{pid}_dem.tif", patch.dem)
        write_tif(out / "esaworldcover" / f"{pid}_esaworldcover.tif", patch.worldcover)

        lon = acq.lon + rng.uniform(-0.5, 0.5)
        lat = acq.lat + rng.uniform(-0.4, 0.4)
        elevation = float(patch.dem.mean())
        frac = worldcover_fractions(patch.worldcover)
        ids.append(pid)
        fractions.append(frac)
        meta.append([pid, sid, season_s2, season_s1, f"{lon:.5f}", f"{lat:.5f}", f"{acq.date_s2:%Y-%m-%d}",
                     f"{acq.date_s1:%Y-%m-%d}", f"{patch.cloud_fraction:.4f}"])  # fmt: skip
        era5.append([pid, *_era5(rng, lat, season_s2, elevation)])
        zones.append([pid, _climatezone(lat, lon, elevation)])

    write_csv(out / f"{name}_meta.csv", ("patch_id", "patch_id_s1", "season_s2", "season_s1", "lon", "lat",
                                         "date_s2", "date_s1", "cloud_fraction"), meta)  # fmt: skip
    write_csv(out / f"{name}_esaworldcover.csv", ("patch_id", *WORLDCOVER_NAMES),
              [[pid, *(repr(float(x)) for x in f)] for pid, f in zip(ids, fractions, strict=True)])  # fmt: skip
    write_csv(out / f"{name}_era-5.csv", ("patch_id", *ERA5_COLUMNS), era5)
    write_csv(out / f"{name}_climatezones.csv", ("patch_id", "climatezone"), zones)
    split = _split_of(np.array([f.argmax() for f in fractions]), rng)
    for s, part in enumerate(SPLITS):
        write_csv(out / f"{name}_{part}.csv", None, [[pid] for pid, k in zip(ids, split, strict=True) if k == s])
