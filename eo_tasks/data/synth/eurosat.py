"""Synthetic EuroSAT in the real folder layouts.

* ``eurosat-rgb``: ``<out>/<Class>/<Class>_<k>.jpg``, 64 x 64 RGB JPEG (k from 1 per class),
  made from B04/B03/B02 with EuroSAT's official 0..2750 -> 1..255 scaling.
* ``eurosat-ms``: ``<out>/<Class>/<Class>_<k>.tif``, ``(64, 64, 13)`` uint16 pixel-interleaved
  TIFF, L1C reflectance x 10,000, bands B01..B12 with **B8A last** (the real file order).

Image ``k`` of a class is the same scene in both kinds for the same seed, so the RGB set
is exactly the RGB rendering of the MS set (up to JPEG compression).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from einops import rearrange

from eo_tasks.data.synth.files import write_jpeg, write_tif
from eo_tasks.data.synth.scenes import eurosat_scene
from eo_tasks.data.synth.spectra import EUROSAT_CLASSES, EUROSAT_MS_BANDS, to_rgb8, to_uint16

_STREAM = 1  # seed-sequence branch of EuroSAT scenes (ben-ge uses another)


def per_class_counts(n: int) -> list[int]:
    """``n`` images spread evenly over the 10 classes; the first classes take the remainder."""
    base, extra = divmod(n, len(EUROSAT_CLASSES))
    return [base + (i < extra) for i in range(len(EUROSAT_CLASSES))]


def write_eurosat(out: Path, n: int, seed: int, *, multispectral: bool) -> None:
    for ci, (name, count) in enumerate(zip(EUROSAT_CLASSES, per_class_counts(n), strict=True)):
        folder = out / name
        folder.mkdir()
        for k in range(1, count + 1):
            scene = eurosat_scene(np.random.default_rng([seed, _STREAM, ci, k]), name)
            if multispectral:
                cube = rearrange(np.stack([scene.bands[b] for b in EUROSAT_MS_BANDS]), "c h w -> h w c")
                write_tif(folder / f"{name}_{k}.tif", to_uint16(cube))
            else:
                # The official RGB was made from the stored integer reflectances.
                red, green, blue = (to_uint16(scene.bands[b]).astype(np.float32) for b in ("B04", "B03", "B02"))
                write_jpeg(folder / f"{name}_{k}.jpg", to_rgb8(red, green, blue))
