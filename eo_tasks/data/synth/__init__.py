"""Synthetic Earth-observation datasets: the project's embedded default data and test fixture.

:func:`synthesize` writes a seeded, learnable stand-in for EuroSAT (RGB or 13-band MS) or
ben-ge (S1 + S2 + DEM + WorldCover + tables) in exactly the real on-disk layout, so the
real-data readers read it unchanged. Same ``(kind, n, seed)`` -> the same bytes.
:func:`describe` tells which layout a folder holds (real or synthetic).
"""

from __future__ import annotations

from pathlib import Path

from eo_tasks.config import ConfigError
from eo_tasks.data.synth.benge import write_benge
from eo_tasks.data.synth.eurosat import write_eurosat
from eo_tasks.data.synth.files import staged_folder
from eo_tasks.data.synth.info import describe, detect
from eo_tasks.data.synth.spectra import BENGE_S2_BANDS, EUROSAT_CLASSES, EUROSAT_MS_BANDS, WORLDCOVER

KINDS = ("eurosat-rgb", "eurosat-ms", "benge")
MIN_N = 10

__all__ = [
    "KINDS", "synthesize", "describe", "detect", "EUROSAT_CLASSES", "EUROSAT_MS_BANDS", "BENGE_S2_BANDS", "WORLDCOVER",
]  # fmt: skip


def synthesize(kind: str, out: Path, n: int, seed: int) -> Path:
    """Write ``n`` synthetic samples of ``kind`` ("eurosat-rgb", "eurosat-ms" or "benge") from
    ``seed`` into the new or empty folder ``out``; returns ``out``. The folder appears only
    once complete. EuroSAT kinds spread ``n`` evenly over the 10 classes."""
    if kind not in KINDS:
        raise ConfigError(f"unknown synthetic dataset kind {kind!r}; expected one of {', '.join(KINDS)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < MIN_N:
        raise ConfigError(f"n must be an integer >= {MIN_N}, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    out = Path(out)
    with staged_folder(out) as stage:
        if kind == "benge":
            write_benge(stage, n, seed)
        else:
            write_eurosat(stage, n, seed, multispectral=kind == "eurosat-ms")
    return out
