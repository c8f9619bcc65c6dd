"""The synthetic EO datasets: byte determinism, the real on-disk layouts, describe(), learnability."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from eo_tasks.data import DataError
from eo_tasks.data.synth import describe, detect, synthesize
from eo_tasks.data.synth.landcover import benge_patch, worldcover_fractions
from eo_tasks.data.synth.spectra import (
    BENGE_S2_BANDS,
    EUROSAT_CLASSES,
    EUROSAT_MS_BANDS,
    WORLDCOVER_CODES,
    WORLDCOVER_NAMES,
    season_of_month,
)

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NAME = "ben-ge-synth"
S2_SIZE = {**dict.fromkeys(("B02", "B03", "B04", "B08"), 120), **dict.fromkeys(("B05", "B06", "B07", "B8A", "B11", "B12"), 60),
           **dict.fromkeys(("B01", "B09"), 20)}  # fmt: skip


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def benge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize("benge", tmp_path_factory.mktemp("synth") / "benge", 24, seed=3)


@pytest.mark.parametrize(("kind", "n"), [("eurosat-rgb", 20), ("eurosat-ms", 20), ("benge", 10)])
def test_same_seed_same_bytes(tmp_path: Path, kind: str, n: int) -> None:
    a = _hashes(synthesize(kind, tmp_path / "a", n, seed=5))
    b = _hashes(synthesize(kind, tmp_path / "b", n, seed=5))
    c = _hashes(synthesize(kind, tmp_path / "c", n, seed=6))
    assert a == b
    assert len(a) >= n
    assert set(a.values()) != set(c.values())  # and the seed matters


@pytest.mark.parametrize("kind", ["eurosat-rgb", "eurosat-ms"])
def test_eurosat_layout(tmp_path: Path, kind: str) -> None:
    root = synthesize(kind, tmp_path / kind, 23, seed=1)
    ext = ".jpg" if kind == "eurosat-rgb" else ".tif"
    assert sorted(p.name for p in root.iterdir()) == sorted(EUROSAT_CLASSES)
    for i, name in enumerate(EUROSAT_CLASSES):
        files = sorted((root / name).iterdir(), key=lambda p: int(p.stem.split("_")[1]))
        assert [p.name for p in files] == [f"{name}_{k}{ext}" for k in range(1, (3 if i < 3 else 2) + 1)]
        for path in files:
            if kind == "eurosat-rgb":
                with Image.open(path) as im:
                    assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (64, 64))
                    assert "exif" not in im.info
            else:
                with tifffile.TiffFile(path) as tif:
                    page = tif.pages[0]
                    assert (page.shape, page.dtype, page.planarconfig) == ((64, 64, 13), np.uint16, 1)
                    assert "DateTime" not in page.tags


def test_eurosat_ms_band_physics(tmp_path: Path) -> None:
    root = synthesize("eurosat-ms", tmp_path / "ms", 40, seed=2)
    means = {c: np.mean([tifffile.imread(p).reshape(-1, 13).mean(0) for p in (root / c).iterdir()], axis=0) for c in EUROSAT_CLASSES}
    band = {b: i for i, b in enumerate(EUROSAT_MS_BANDS)}
    assert band["B8A"] == 12 and band["B10"] == 9
    for c, m in means.items():
        assert 3 <= m[band["B10"]] <= 40, c  # cirrus: nearly empty over clear sky
        assert 0.8 < m[band["B8A"]] / m[band["B08"]] < 1.4, c  # B8A (last) follows B08
        assert m[band["B09"]] < m[band["B8A"]], c  # water-vapour absorption
    forest, sea = means["Forest"], means["SeaLake"]
    assert forest[band["B08"]] > 2.5 * forest[band["B04"]]  # vegetation: NIR >> red
    assert sea[band["B08"]] < 0.5 * forest[band["B08"]] and sea[band["B12"]] < 400  # water: dark NIR / SWIR


def test_rgb_is_the_ms_scene_in_official_scaling(tmp_path: Path) -> None:
    ms = synthesize("eurosat-ms", tmp_path / "ms", 10, seed=4)
    rgb = synthesize("eurosat-rgb", tmp_path / "rgb", 10, seed=4)
    for c in EUROSAT_CLASSES:
        cube = tifffile.imread(ms / c / f"{c}_1.tif").astype(np.float64)
        expect = np.clip(1 + cube[..., [3, 2, 1]] * 254 / 2750, 1, 255)
        got = np.asarray(Image.open(rgb / c / f"{c}_1.jpg"), dtype=np.float64)
        assert np.abs(got - expect).mean() < 4.0, c


def test_benge_files(benge: Path) -> None:
    meta = _rows(benge / f"{NAME}_meta.csv")
    assert len(meta) == 24
    s2_id = re.compile(r"S2[AB]_MSIL2A_\d{8}T\d{6}_\d+_\d+$")
    s1_id = re.compile(r"S1[AB]_IW_GRDH_1SDV_\d{8}T\d{6}_\d{2}[A-Z]{3}_\d+_\d+$")
    assert sorted(p.name for p in (benge / "sentinel-2").iterdir()) == sorted(r["patch_id"] for r in meta)
    assert sorted(p.name for p in (benge / "sentinel-1").iterdir()) == sorted(r["patch_id_s1"] for r in meta)
    for r in meta:
        pid, sid = r["patch_id"], r["patch_id_s1"]
        assert s2_id.match(pid) and s1_id.match(sid), (pid, sid)
        assert pid.rsplit("_", 2)[1:] == sid.rsplit("_", 2)[1:]  # same grid position
        assert sorted(p.name for p in (benge / "sentinel-2" / pid).iterdir()) == sorted(f"{pid}_{b}.tif" for b in BENGE_S2_BANDS)
        for b in BENGE_S2_BANDS:
            img = tifffile.imread(benge / "sentinel-2" / pid / f"{pid}_{b}.tif")
            assert img.dtype == np.uint16 and img.shape == (S2_SIZE[b],) * 2, (pid, b)
        vv, vh = (tifffile.imread(benge / "sentinel-1" / sid / f"{sid}_{p}.tif") for p in ("VV", "VH"))
        assert vv.dtype == vh.dtype == np.float32 and vv.shape == vh.shape == (120, 120)
        assert -24 < vv.mean() < 0 and vh.mean() < vv.mean()
        dem = tifffile.imread(benge / "dem" / f"{pid}_dem.tif")
        assert dem.dtype == np.float32 and dem.shape == (120, 120) and -50 < dem.mean() < 4000
        wc = tifffile.imread(benge / "esaworldcover" / f"{pid}_esaworldcover.tif")
        assert wc.dtype == np.uint8 and wc.shape == (120, 120) and set(np.unique(wc)) <= set(WORLDCOVER_CODES)


def test_benge_tables(benge: Path) -> None:
    meta = _rows(benge / f"{NAME}_meta.csv")
    assert list(meta[0]) == ["patch_id", "patch_id_s1", "season_s2", "season_s1", "lon", "lat", "date_s2", "date_s1", "cloud_fraction"]
    ids = [r["patch_id"] for r in meta]
    for r in meta:
        for s in ("s2", "s1"):
            assert r[f"season_{s}"] == season_of_month(dt.date.fromisoformat(r[f"date_{s}"]).month)
        assert 0.0 <= float(r["cloud_fraction"]) <= 1.0 and -180 < float(r["lon"]) < 180 and -90 < float(r["lat"]) < 90

    fractions = _rows(benge / f"{NAME}_esaworldcover.csv")
    assert list(fractions[0]) == ["patch_id", *WORLDCOVER_NAMES] and [r["patch_id"] for r in fractions] == ids
    for r in fractions:
        frac = np.array([float(r[c]) for c in WORLDCOVER_NAMES])
        assert frac.sum() == pytest.approx(1.0, abs=1e-9)
        wc = tifffile.imread(benge / "esaworldcover" / f"{r['patch_id']}_esaworldcover.tif")
        np.testing.assert_allclose(frac, worldcover_fractions(wc))
        codes, counts = np.unique(wc, return_counts=True)
        assert WORLDCOVER_CODES[int(frac.argmax())] == codes[counts.argmax()]

    era5 = _rows(benge / f"{NAME}_era-5.csv")
    assert list(era5[0])[0] == "patch_id" and len(era5[0]) >= 4 and [r["patch_id"] for r in era5] == ids
    assert all(np.isfinite(float(v)) for r in era5 for k, v in r.items() if k != "patch_id")
    zones = _rows(benge / f"{NAME}_climatezones.csv")
    assert list(zones[0]) == ["patch_id", "climatezone"] and all(int(r["climatezone"]) > 0 for r in zones)

    splits = {s: (benge / f"{NAME}_{s}.csv").read_text().split() for s in ("train", "val", "test")}
    assert [len(v) for v in splits.values()] == [17, 4, 3]  # 70/15/15 of 24 (header-less)
    assert sorted(sum(splits.values(), [])) == sorted(ids)


def test_benge_seasons_and_clouds_vary(tmp_path: Path) -> None:
    root = synthesize("benge", tmp_path / "b", 40, seed=11)
    meta = _rows(root / f"{NAME}_meta.csv")
    cloudy = [r for r in meta if float(r["cloud_fraction"]) > 0.5]
    assert 3 <= len(cloudy) <= 25  # ~30 % of the patches
    assert len({r["season_s2"] for r in meta}) >= 2
    # a thick cloud makes S2 bright and flat
    pid = cloudy[0]["patch_id"]
    b02, b12 = (tifffile.imread(root / "sentinel-2" / pid / f"{pid}_{b}.tif").mean() for b in ("B02", "B12"))
    assert b02 > 3000 and b12 > 1500


def test_describe_each_kind(tmp_path: Path, benge: Path) -> None:
    for kind in ("eurosat-rgb", "eurosat-ms"):
        root = synthesize(kind, tmp_path / kind, 20, seed=0)
        text = describe(root)
        assert f"kind: {kind}" in text and "samples: 20 in 10 classes" in text and "AnnualCrop: 2" in text
        assert ("64x64x13 uint16" if kind == "eurosat-ms" else "64x64x3 uint8") in text
    text = describe(benge)
    assert "kind: benge" in text and "patches: 24" in text and "splits: train 17, val 4, test 3" in text
    assert "B02 B03 B04 B08: 120x120 uint16" in text and "VV VH: 120x120 float32" in text and "files:" in text


def test_describe_rejects_unknown_folder(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("hello")
    (tmp_path / "stuff" / "Forest").mkdir()  # a class name alone is not a dataset
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "stuff"))):
        describe(tmp_path / "stuff")
    with pytest.raises(DataError, match="not a folder"):
        describe(tmp_path / "missing")


def test_synthesize_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(DataError, match="not an empty folder"):
        synthesize("eurosat-ms", out, 10, seed=0)
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]  # no staging folder left behind
    with pytest.raises(ValueError, match="unknown synthetic dataset kind"):
        synthesize("sen12ms", tmp_path / "x", 10, seed=0)
    with pytest.raises(ValueError, match="n must be"):
        synthesize("benge", tmp_path / "x", 3, seed=0)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert synthesize("eurosat-rgb", empty, 10, seed=0) == empty and detect(empty) == "eurosat-rgb"


def test_eurosat_ms_is_learnable_from_band_statistics(tmp_path: Path) -> None:
    root = synthesize("eurosat-ms", tmp_path / "ms", 200, seed=8)
    x, y = [], []
    for label, c in enumerate(EUROSAT_CLASSES):
        for p in (root / c).iterdir():
            pixels = tifffile.imread(p).reshape(-1, 13).astype(np.float64)
            x.append(np.concatenate([pixels.mean(0), pixels.std(0)]))
            y.append(label)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    acc = cross_val_score(model, np.array(x), np.array(y), cv=KFold(5, shuffle=True, random_state=0)).mean()
    assert acc > 0.4  # chance is 0.1
    assert acc < 0.99  # not trivially separable


def _s1_s2_accuracy(sky: str, n: int = 100) -> tuple[float, float, float]:
    """Cross-validated accuracy of a linear classifier on S1 and on S2 patch statistics,
    and the majority-class rate, for ``n`` small patches under a forced sky."""
    s1, s2, y = [], [], []
    for i in range(n):
        p = benge_patch(np.random.default_rng([21, i]), "summer", "summer", size=60, sky=sky)
        s1.append([f(p.s1[k]) for k in ("VV", "VH") for f in (np.mean, np.std)])
        s2.append([img.mean() for img in p.s2.values()])
        y.append(worldcover_fractions(p.worldcover).argmax())
    y_arr = np.array(y)
    folds = KFold(5, shuffle=True, random_state=0)
    acc = [cross_val_score(make_pipeline(StandardScaler(), LinearDiscriminantAnalysis()), np.array(x), y_arr, cv=folds).mean()
           for x in (s1, s2)]  # fmt: skip
    return acc[0], acc[1], np.bincount(y_arr).max() / n


def test_benge_s1_sees_through_clouds_and_s2_does_not() -> None:
    s1_cloudy, s2_cloudy, majority = _s1_s2_accuracy("cloudy")
    assert s1_cloudy > majority + 0.08
    assert s1_cloudy > s2_cloudy + 0.1
    _, s2_clear, majority = _s1_s2_accuracy("clear")
    assert s2_clear > majority + 0.2


@pytest.mark.realdata
def test_formats_match_real_files(tmp_path: Path) -> None:
    if not REAL.is_dir():
        pytest.skip(f"real data not found at {REAL}")
    real_ms = next((REAL / "eurosat-ms" / "Forest").glob("*.tif"))
    ours = synthesize("eurosat-ms", tmp_path / "ms", 10, seed=0) / "Forest" / "Forest_1.tif"
    with tifffile.TiffFile(real_ms) as a, tifffile.TiffFile(ours) as b:
        pa, pb = a.pages[0], b.pages[0]
        assert (pa.shape, pa.dtype, pa.planarconfig) == (pb.shape, pb.dtype, pb.planarconfig)
    with Image.open(next((REAL / "eurosat-rgb" / "Forest").glob("*.jpg"))) as real_jpg:
        rgb = synthesize("eurosat-rgb", tmp_path / "rgb", 10, seed=0) / "Forest" / "Forest_1.jpg"
        with Image.open(rgb) as im:
            assert (real_jpg.format, real_jpg.mode, real_jpg.size) == (im.format, im.mode, im.size)
    real_patch = next((REAL / "ben-ge-sample" / "BigEarthNet-S2-Example").iterdir())
    ours_b = synthesize("benge", tmp_path / "benge", 10, seed=0)
    ours_patch = next((ours_b / "sentinel-2").iterdir())
    for b in BENGE_S2_BANDS:
        ra = tifffile.imread(real_patch / f"{real_patch.name}_{b}.tif")
        oa = tifffile.imread(ours_patch / f"{ours_patch.name}_{b}.tif")
        assert (ra.shape, ra.dtype) == (oa.shape, oa.dtype), b
    real_s1 = next((REAL / "ben-ge-sample" / "BigEarthNet-S1-Example").iterdir())
    ours_s1 = next((ours_b / "sentinel-1").iterdir())
    for pol in ("VV", "VH"):
        ra, oa = tifffile.imread(real_s1 / f"{real_s1.name}_{pol}.tif"), tifffile.imread(ours_s1 / f"{ours_s1.name}_{pol}.tif")
        assert (ra.shape, ra.dtype) == (oa.shape, oa.dtype)


@pytest.mark.realdata
def test_describe_real_folders() -> None:
    if not REAL.is_dir():
        pytest.skip(f"real data not found at {REAL}")
    text = describe(REAL / "eurosat-ms")
    assert "kind: eurosat-ms" in text and "samples: 270 in 10 classes" in text and "64x64x13 uint16" in text
    text = describe(REAL / "ben-ge-sample")
    assert "kind: bigearthnet" in text and "sentinel-2: 6 patches in BigEarthNet-S2-Example/" in text
    assert "sentinel-1: 6 patches" in text
