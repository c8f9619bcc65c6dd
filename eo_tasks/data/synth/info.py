"""Recognise which dataset layout a folder holds and summarise it (``hyperzoo data info``)."""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from eo_tasks.data.errors import DataError
from eo_tasks.data.splits import SPLITS
from eo_tasks.data.synth.spectra import BENGE_S2_BANDS, EUROSAT_CLASSES, EUROSAT_MS_BANDS, S1_BANDS, WORLDCOVER_NAMES

_EUROSAT_EXT = {".jpg": "eurosat-rgb", ".tif": "eurosat-ms"}
_BAND_ORDER = {b: i for i, b in enumerate((*BENGE_S2_BANDS, *S1_BANDS))}


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _eurosat_files(root: Path) -> dict[str, list[Path]]:
    """Class folder -> its ``<Class>_<n>.<ext>`` files, for the EuroSAT classes present."""
    found = {}
    for sub in _subdirs(root):
        if sub.name in EUROSAT_CLASSES:
            pattern = re.compile(rf"{re.escape(sub.name)}_\d+\.(jpg|tif)$")
            found[sub.name] = sorted(p for p in sub.iterdir() if pattern.match(p.name))
    return {k: v for k, v in found.items() if v}


def _patch_folders(folder: Path, suffix: str) -> list[Path]:
    """BigEarthNet-style patch folders ``<id>/<id>_<suffix>.tif`` directly under ``folder``."""
    if not folder.is_dir():
        return []
    return [p for p in _subdirs(folder) if (p / f"{p.name}_{suffix}.tif").is_file()]


def _has_patches(folder: Path, suffix: str, probe: int = 20) -> bool:
    """Whether one of the first ``probe`` sub-folders is a patch folder (cheap on huge archives)."""
    with os.scandir(folder) as entries:
        for k, entry in enumerate(e for e in entries if e.is_dir() and not e.name.startswith(".")):
            if k >= probe:
                return False
            if (Path(entry.path) / f"{entry.name}_{suffix}.tif").is_file():
                return True
    return False


def _bigearthnet_folders(root: Path) -> tuple[Path | None, Path | None]:
    """The S2 and S1 patch-folder parents: ``root`` itself or one of its sub-folders."""
    found: dict[str, Path | None] = {"B02": None, "VV": None}
    for suffix in found:
        if _has_patches(root, suffix):
            found[suffix] = root
    if found["B02"] is None and found["VV"] is None:
        for cand in _subdirs(root):
            for suffix in found:
                if found[suffix] is None and _has_patches(cand, suffix):
                    found[suffix] = cand
    return found["B02"], found["VV"]


def _benge_name(root: Path) -> str | None:
    metas = sorted(root.glob("*_meta.csv"))
    if metas and (root / "sentinel-2").is_dir():
        return metas[0].name.removesuffix("_meta.csv")
    return None


def detect(root: Path) -> str:
    """"eurosat-rgb" | "eurosat-ms" | "benge" | "bigearthnet" for the layout in ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected a dataset folder)")
    if _benge_name(root) is not None:
        return "benge"
    files = _eurosat_files(root)
    if files:
        ext = Counter(p.suffix for v in files.values() for p in v).most_common(1)[0][0]
        return _EUROSAT_EXT[ext]
    if any(_bigearthnet_folders(root)):
        return "bigearthnet"
    raise DataError(
        f"{root}: no known dataset layout (expected EuroSAT class folders <Class>/<Class>_<n>.jpg|.tif, "
        "a ben-ge folder with sentinel-2/ and <name>_meta.csv, or BigEarthNet patch folders <id>/<id>_B02.tif)"
    )


def _shape(path: Path) -> str:
    if path.suffix == ".jpg":
        with Image.open(path) as im:
            return f"{im.size[1]}x{im.size[0]}x{len(im.getbands())} uint8 ({im.format})"
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        return f"{'x'.join(map(str, page.shape))} {np.dtype(page.dtype).name}"


def _band_sizes(patch: Path) -> str:
    groups: dict[str, list[str]] = {}
    names = [f.stem.removeprefix(f"{patch.name}_") for f in patch.glob(f"{patch.name}_*.tif")]
    for band in sorted(names, key=lambda b: (_BAND_ORDER.get(b, len(_BAND_ORDER)), b)):
        groups.setdefault(_shape(patch / f"{patch.name}_{band}.tif"), []).append(band)
    return "; ".join(f"{' '.join(bands)}: {shape}" for shape, bands in groups.items())


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _describe_eurosat(root: Path, kind: str) -> list[str]:
    files = _eurosat_files(root)
    total = sum(map(len, files.values()))
    first = next(iter(files.values()))[0]
    bands = "R G B (from B04 B03 B02)" if kind == "eurosat-rgb" else " ".join(EUROSAT_MS_BANDS) + " (B8A last)"
    return [
        f"samples: {total} in {len(files)} classes",
        *(f"  {name}: {len(v)}" for name, v in files.items()),
        f"bands: {bands}",
        f"image: {_shape(first)}, e.g. {first.relative_to(root)}",
    ]


def _describe_benge(root: Path) -> list[str]:
    name = _benge_name(root)
    assert name is not None
    meta = _read_csv(root / f"{name}_meta.csv")
    lines = [f"tables: {', '.join(sorted(p.name for p in root.glob(f'{name}_*.csv')))}", f"patches: {len(meta)}"]
    splits = [(s, root / f"{name}_{s}.csv") for s in SPLITS]
    if all(p.is_file() for _, p in splits):
        counts = [f"{s} {sum(1 for line in p.read_text().splitlines() if line.strip())}" for s, p in splits]
        lines.append(f"splits: {', '.join(counts)}")
    s2 = _patch_folders(root / "sentinel-2", "B02")
    s1 = _patch_folders(root / "sentinel-1", "VV")
    lines.append(f"sentinel-2: {len(s2)} patches; {_band_sizes(s2[0]) if s2 else 'none'}")
    lines.append(f"sentinel-1: {len(s1)} patches; {_band_sizes(s1[0]) if s1 else 'none'}")
    for sub in ("dem", "esaworldcover"):
        tifs = sorted((root / sub).glob("*.tif")) if (root / sub).is_dir() else []
        lines.append(f"{sub}: {len(tifs)} files; {_shape(tifs[0]) if tifs else 'none'}")
    wc = root / f"{name}_esaworldcover.csv"
    if wc.is_file():
        rows = _read_csv(wc)
        cols = [c for c in WORLDCOVER_NAMES if rows and c in rows[0]]
        if cols:
            top = Counter(max(cols, key=lambda c: float(r[c])) for r in rows)
            lines.append("dominant WorldCover class: " + ", ".join(f"{c} {top[c]}" for c in cols if top[c]))
    if meta and "cloud_fraction" in meta[0]:
        cloudy = sum(float(r["cloud_fraction"]) > 0.5 for r in meta)
        lines.append(f"cloudy (cloud_fraction > 0.5, synthetic ground truth): {cloudy}")
    if meta and "season_s2" in meta[0]:
        seasons = Counter(r["season_s2"] for r in meta)
        lines.append("season_s2: " + ", ".join(f"{s} {c}" for s, c in sorted(seasons.items())))
    return lines


def _describe_bigearthnet(root: Path) -> list[str]:
    s2, s1 = _bigearthnet_folders(root)
    lines = []
    for label, folder, suffix in (("sentinel-2", s2, "B02"), ("sentinel-1", s1, "VV")):
        if folder is None:
            lines.append(f"{label}: none")
            continue
        patches = _patch_folders(folder, suffix)
        where = "." if folder == root else folder.name
        lines.append(f"{label}: {len(patches)} patches in {where}/; {_band_sizes(patches[0])}")
    return lines


def describe(root: Path) -> str:
    """A short human description of the dataset in ``root``: kind, samples per class or
    split, bands / modalities, image sizes and dtypes, file count. DataError if unrecognised."""
    root = Path(root)
    kind = detect(root)
    body = {
        "eurosat-rgb": lambda: _describe_eurosat(root, kind),
        "eurosat-ms": lambda: _describe_eurosat(root, kind),
        "benge": lambda: _describe_benge(root),
        "bigearthnet": lambda: _describe_bigearthnet(root),
    }[kind]()
    files = sum(1 for p in root.rglob("*") if p.is_file())
    return "\n".join([f"kind: {kind}", f"root: {root}", *body, f"files: {files}"])
