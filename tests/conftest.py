"""Shared fixtures: the real sample data beside the project, a private cache dir, and
writers for tiny datasets in the real on-disk layouts (files made with Pillow/tifffile)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """``../shared/data`` beside the project root; the test is skipped when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data folder {REAL_DATA} not present")
    return REAL_DATA


@pytest.fixture(scope="session")
def tiny_fusion_zoo(tmp_path_factory: pytest.TempPathFactory, _private_cache: Path) -> Path:
    """configs/zoos/tiny_fusion.toml generated once with Ray (20 models, every fusion mode):
    read-only for the tests that share it."""
    from zoo import generate

    out = tmp_path_factory.mktemp("tiny-fusion") / "tiny_fusion.h5"
    config = Path(__file__).resolve().parents[1] / "configs" / "zoos" / "tiny_fusion.toml"
    report = generate(config, out, max_workers=2, progress=None)
    assert report.status == {"done": 20, "failed": 0, "diverged": 0}, report.status
    return out


@pytest.fixture(scope="session")
def tiny_wildpark_zoo(tmp_path_factory: pytest.TempPathFactory, _private_cache: Path) -> Path:
    """configs/zoos/tiny_wildpark.toml generated once with Ray (3 architectures of different
    depths, 9 models): read-only for the tests that share it."""
    from zoo import generate

    out = tmp_path_factory.mktemp("tiny-wildpark") / "tiny_wildpark.h5"
    config = Path(__file__).resolve().parents[1] / "configs" / "zoos" / "tiny_wildpark.toml"
    report = generate(config, out, max_workers=2, progress=None)
    assert report.status.get("done", 0) == 9, report.status
    return out


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep every test's task-data cache out of the user's ~/.cache/hyperzoo."""
    old = os.environ.get("HYPERZOO_CACHE")
    path = tmp_path_factory.mktemp("hyperzoo-cache")
    os.environ["HYPERZOO_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("HYPERZOO_CACHE", None)
    else:
        os.environ["HYPERZOO_CACHE"] = old


def _class_images(rng: np.random.Generator, cls: int, n: int, size: int, bands: int) -> np.ndarray:
    """Class-dependent brightness so that classes differ, plus noise."""
    base = 30 + 40 * cls
    return np.clip(base + rng.normal(0, 12, size=(n, size, size, bands)), 0, 255)


@pytest.fixture
def make_eurosat_rgb() -> Callable[..., Path]:
    def make(root: Path, classes: Sequence[str] = ("Forest", "River", "SeaLake", "Highway"),
             per_class: int = 10, size: int = 64, seed: int = 0) -> Path:
        rng = np.random.default_rng(seed)
        for c, name in enumerate(classes):
            (root / name).mkdir(parents=True, exist_ok=True)
            for i, img in enumerate(_class_images(rng, c, per_class, size, 3)):
                Image.fromarray(img.astype(np.uint8)).save(root / name / f"{name}_{i + 1}.jpg", quality=95)
        return root

    return make


@pytest.fixture
def make_eurosat_ms() -> Callable[..., Path]:
    def make(root: Path, classes: Sequence[str] = ("Forest", "River", "SeaLake"),
             per_class: int = 6, seed: int = 0, planar: bool = False) -> Path:
        rng = np.random.default_rng(seed)
        for c, name in enumerate(classes):
            (root / name).mkdir(parents=True, exist_ok=True)
            for i, img in enumerate(_class_images(rng, c, per_class, 64, 13)):
                arr = (img * 20 + np.arange(13) * 100).astype(np.uint16)  # band k offset by 100*k
                if planar:
                    arr = np.ascontiguousarray(arr.transpose(2, 0, 1))
                tifffile.imwrite(root / name / f"{name}_{i + 1}.tif", arr)
        return root

    return make


BENGE_SIZES = {"B01": 20, "B02": 120, "B03": 120, "B04": 120, "B05": 60, "B06": 60, "B07": 60,
               "B08": 120, "B8A": 60, "B09": 20, "B11": 60, "B12": 60}
WC_CODES = (10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)
WC_COLUMNS = ("tree_cover", "shrubland", "grassland", "cropland", "built-up", "bare/sparse_vegetation",
              "snow_and_ice", "permanent_water_bodies", "herbaceous_wetland", "mangroves", "moss_and_lichen")


@pytest.fixture
def make_benge() -> Callable[..., Path]:
    """A tiny ben-ge in the real layout: ``n`` patches, every modality and table."""

    def make(root: Path, n: int = 12, name: str = "ben-ge-tiny", seed: int = 0,
             seasons: Sequence | None = None) -> Path:
        rng = np.random.default_rng(seed)
        rows, wc_rows, era_rows, cz_rows = [], [], [], []
        for i in range(n):
            pid = f"S2A_MSIL2A_20170613T101031_{i}_{i + 7}"
            pid_s1 = f"S1A_IW_GRDH_1SDV_20170613T165043_33UUP_{i}_{i + 7}"
            s2 = root / "sentinel-2" / pid
            s2.mkdir(parents=True)
            for band, size in BENGE_SIZES.items():
                tifffile.imwrite(s2 / f"{pid}_{band}.tif", rng.integers(100, 4000, (size, size)).astype(np.uint16))
            s1 = root / "sentinel-1" / pid_s1
            s1.mkdir(parents=True)
            for pol in ("VV", "VH"):
                tifffile.imwrite(s1 / f"{pid_s1}_{pol}.tif", rng.normal(-12, 3, (120, 120)).astype(np.float32))
            (root / "dem").mkdir(exist_ok=True)
            tifffile.imwrite(root / "dem" / f"{pid}_dem.tif", rng.normal(300, 50, (120, 120)).astype(np.float32))
            main = i % 4  # dominant WorldCover class cycles over tree/shrub/grass/crop
            codes = np.where(rng.random((120, 120)) < 0.7, WC_CODES[main], WC_CODES[(main + 5) % 11]).astype(np.uint8)
            (root / "esaworldcover").mkdir(exist_ok=True)
            tifffile.imwrite(root / "esaworldcover" / f"{pid}_esaworldcover.tif", codes)
            fractions = {c: float((codes == code).mean()) for c, code in zip(WC_COLUMNS, WC_CODES)}
            season = seasons[i] if seasons is not None else ("spring", "summer", "autumn", "winter")[i % 4]
            rows.append({"patch_id": pid, "patch_id_s1": pid_s1, "season_s2": season, "season_s1": season,
                         "lon": 10 + 0.1 * i, "lat": 50 - 0.1 * i, "cloud_fraction": i / n})
            wc_rows.append({"patch_id": pid, **fractions})
            era_rows.append({"patch_id": pid, "patch_id_s1": pid_s1, "temperature_s2": 280.0 + i,
                             "relhumidity_s2": 50.0 - i})
            cz_rows.append({"patch_id": pid, "climatezone": (14, 15, 26)[i % 3]})
        pd.DataFrame(rows).to_csv(root / f"{name}_meta.csv", index=False)
        pd.DataFrame(wc_rows).to_csv(root / f"{name}_esaworldcover.csv", index=False)
        pd.DataFrame(era_rows).to_csv(root / f"{name}_era-5.csv", index=False)
        pd.DataFrame(cz_rows).to_csv(root / f"{name}_climatezones.csv", index=False)
        return root

    return make


@pytest.fixture
def make_bigearthnet() -> Callable[..., Path]:
    """A tiny BigEarthNet-MM v1 (``sentinel-2``/``sentinel-1`` folders with label JSONs)."""

    def make(root: Path, n: int = 6, seed: int = 0) -> Path:
        rng = np.random.default_rng(seed)
        labels = (["Pastures"], ["Coniferous forest", "Peatbogs"], ["Non-irrigated arable land", "Rice fields"])
        for i in range(n):
            pid, pid_s1 = f"S2A_MSIL2A_20170617T113321_{i}_1", f"S1A_IW_GRDH_1SDV_20170617T064724_29UPU_{i}_1"
            s2, s1 = root / "sentinel-2" / pid, root / "sentinel-1" / pid_s1
            s2.mkdir(parents=True)
            s1.mkdir(parents=True)
            for band, size in BENGE_SIZES.items():
                tifffile.imwrite(s2 / f"{pid}_{band}.tif", rng.integers(100, 4000, (size, size)).astype(np.uint16))
            for pol in ("VV", "VH"):
                tifffile.imwrite(s1 / f"{pid_s1}_{pol}.tif", rng.normal(-12, 3, (120, 120)).astype(np.float32))
            meta = {"labels": labels[i % 3]}
            (s2 / f"{pid}_labels_metadata.json").write_text(json.dumps(meta))
            (s1 / f"{pid_s1}_labels_metadata.json").write_text(json.dumps({**meta, "corresponding_s2_patch": pid}))
        return root

    return make
