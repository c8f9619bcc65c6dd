"""Byte-reproducible file writers and a staged (all-or-nothing) output folder."""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from eo_tasks.data.errors import DataError

JPEG_QUALITY = 95


def write_tif(path: Path, image: np.ndarray) -> None:
    """Uncompressed TIFF; no date, software or JSON description tags, so same array -> same bytes.
    A ``[H, W, C]`` array is stored pixel-interleaved, like EuroSAT-MS."""
    planar = "contig" if image.ndim == 3 else None
    tifffile.imwrite(path, image, photometric="minisblack", planarconfig=planar, metadata=None, software=False)


def write_jpeg(path: Path, rgb: np.ndarray) -> None:
    Image.fromarray(rgb, mode="RGB").save(path, format="JPEG", quality=JPEG_QUALITY, subsampling="4:2:0", optimize=False)


def write_csv(path: Path, header: Sequence[str] | None, rows: Sequence[Sequence[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yield a hidden sibling folder to write into; move it to ``out`` only when complete.

    A reader never sees a half-written dataset, and an existing non-empty ``out`` is never
    touched. If another process finished ``out`` meanwhile (same arguments give the same
    bytes), its copy is kept and ours discarded."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(
            f"{out}: already exists and is not an empty folder; synthetic data is only written to a new or empty folder"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        yield stage
        stage.chmod(0o755)
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    try:
        os.rename(stage, out)
    except OSError:
        shutil.rmtree(stage, ignore_errors=True)
        if not (out.is_dir() and any(out.iterdir())):
            raise
