"""GeoTIFF reading without GDAL: tifffile for the pixels, torch for resampling.

The Sentinel-1/2 readers here are shared by ben-ge and BigEarthNet-MM, whose
patch folders have the same layout (``<patch>/<patch>_<band>.tif``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tifffile
import torch
import torch.nn.functional as F

from eo_tasks.data.errors import DataError

PATCH_SIZE = 120  # BigEarthNet / ben-ge patches: 120 x 120 px at 10 m
S1_BANDS = ("VV", "VH")
S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")  # no B10


def read_tiff(path: Path) -> np.ndarray:
    """All pixels of a TIFF; a missing or undecodable file becomes a DataError naming it."""
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected a GeoTIFF)")
    try:
        return tifffile.imread(path)
    except Exception as err:  # tifffile raises many types for a damaged file
        raise DataError(f"{path}: unreadable TIFF ({type(err).__name__}: {err})") from err


def resample(image: np.ndarray | torch.Tensor, size: int, mode: str = "bilinear") -> torch.Tensor:
    """``[C, H, W]`` -> ``[C, size, size]`` float32; antialiased when shrinking."""
    x = torch.as_tensor(image, dtype=torch.float32)
    if tuple(x.shape[-2:]) == (size, size):
        return x.contiguous()
    if mode == "nearest":
        return F.interpolate(x[None], size=(size, size), mode="nearest-exact")[0]
    shrink = x.shape[-1] > size or x.shape[-2] > size
    return F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)[0]


def read_band(path: Path, size: int | None = PATCH_SIZE, mode: str = "bilinear") -> torch.Tensor:
    """A single-band TIFF as ``[1, size, size]`` float32 (``size=None`` keeps its own size)."""
    arr = read_tiff(path)
    if arr.ndim == 3 and 1 in (arr.shape[0], arr.shape[-1]):
        arr = arr.reshape(arr.shape[:2] if arr.shape[-1] == 1 else arr.shape[1:])
    if arr.ndim != 2:
        raise DataError(f"{path}: expected a single-band 2-D image, got array of shape {arr.shape}")
    band = torch.from_numpy(arr.astype(np.float32))[None]
    return band if size is None else resample(band, size, mode)


def read_multiband(path: Path, bands: int) -> torch.Tensor:
    """A pixel- or band-interleaved multi-band TIFF as ``[bands, H, W]`` float32."""
    arr = read_tiff(path)
    if arr.ndim == 3 and arr.shape[-1] == bands:
        arr = np.moveaxis(arr, -1, 0)
    elif not (arr.ndim == 3 and arr.shape[0] == bands):
        raise DataError(f"{path}: expected {bands} bands as (H, W, {bands}) or ({bands}, H, W), got shape {arr.shape}")
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def read_s2_patch(folder: Path, patch_id: str, bands: Sequence[str], size: int = PATCH_SIZE) -> torch.Tensor:
    """Sentinel-2 bands ``<folder>/<patch_id>_<band>.tif`` resampled to one grid: ``[len(bands), size, size]``.

    The 20 m and 60 m bands come as 60x60 / 20x20 files; bilinear upsampling puts
    them on the 10 m grid so that all bands stack into one image.
    """
    if not folder.is_dir():
        raise DataError(f"{folder}: Sentinel-2 patch folder not found")
    return torch.cat([read_band(folder / f"{patch_id}_{band}.tif", size) for band in bands])


def read_s1_patch(folder: Path, patch_id: str, size: int = PATCH_SIZE) -> torch.Tensor:
    """Sentinel-1 backscatter (dB) ``<folder>/<patch_id>_{VV,VH}.tif`` as ``[2, size, size]``."""
    if not folder.is_dir():
        raise DataError(f"{folder}: Sentinel-1 patch folder not found")
    return torch.cat([read_band(folder / f"{patch_id}_{pol}.tif", size) for pol in S1_BANDS])
