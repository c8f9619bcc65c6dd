"""Spatial building blocks: smooth random fields, thresholded regions, lines and parcels.

Everything takes an explicit ``np.random.Generator`` and returns float32 / int arrays,
so a scene is a pure function of its seed.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

Shape = tuple[int, int]


@lru_cache(maxsize=8)
def _squared_frequency(shape: Shape) -> np.ndarray:
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    return (kx**2 + ky**2).astype(np.float32)


def smooth_field(rng: np.random.Generator, shape: Shape, scale: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian random field with correlation length ``scale`` px
    (white noise low-passed in Fourier space; periodic, which does not matter here)."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    kernel = np.exp(np.float32(-2.0 * (np.pi * scale) ** 2) * _squared_frequency(shape))
    field = np.fft.irfft2(np.fft.rfft2(noise) * kernel, s=shape).astype(np.float32)
    field -= field.mean()
    std = field.std()
    return field / std if std > 0 else field


def multiscale_field(rng: np.random.Generator, shape: Shape, scales: tuple[float, ...]) -> np.ndarray:
    weights = np.linspace(1.0, 0.4, len(scales))
    total = sum(w * smooth_field(rng, shape, s) for w, s in zip(weights, scales, strict=True))
    return (total / total.std()).astype(np.float32)


def lowest(field: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean mask of the ``fraction`` of pixels where ``field`` is lowest (exact share)."""
    flat = field.ravel()
    k = int(round(np.clip(fraction, 0.0, 1.0) * flat.size))
    mask = np.zeros(flat.size, dtype=bool)
    if k > 0:
        mask[np.argpartition(flat, k - 1)[:k]] = True
    return mask.reshape(field.shape)


def soften(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Blurred 0/1 mask: mixed pixels along region borders, as a 10 m sensor sees them."""
    return ndimage.gaussian_filter(mask.astype(np.float32), sigma, mode="reflect")


def rotated_coords(shape: Shape, angle: float, centre: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``(u, v)`` along / across direction ``angle`` (radians)."""
    h, w = shape
    cy, cx = centre if centre is not None else ((h - 1) / 2, (w - 1) / 2)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    y -= cy
    x -= cx
    c, s = np.cos(angle), np.sin(angle)
    return x * c + y * s, -x * s + y * c


def line(
    rng: np.random.Generator,
    shape: Shape,
    width: float,
    *,
    meander: float = 0.0,
    wavelength: float = 60.0,
    offset: float | None = None,
    angle: float | None = None,
) -> np.ndarray:
    """Anti-aliased coverage ``[H, W]`` of a band of ``width`` px crossing the image:
    straight (a road) or, with ``meander`` px amplitude, winding (a river)."""
    h, w = shape
    angle = rng.uniform(0, np.pi) if angle is None else angle
    offset = rng.uniform(-0.25, 0.25) * min(h, w) if offset is None else offset
    u, v = rotated_coords(shape, angle)
    centre = np.full_like(u, offset)
    if meander > 0:
        phase = rng.uniform(0, 2 * np.pi)
        centre += meander * np.sin(2 * np.pi * u / wavelength + phase)
        centre += 0.3 * meander * np.sin(2 * np.pi * u / (0.37 * wavelength) + rng.uniform(0, 2 * np.pi))
    distance = np.abs(v - centre)
    return np.clip(width / 2 + 0.5 - distance, 0.0, 1.0).astype(np.float32)


def parcels(
    rng: np.random.Generator, shape: Shape, size: tuple[float, float], *, angle: float | None = None, wobble: float = 1.5
) -> tuple[np.ndarray, np.ndarray, int]:
    """A rotated, slightly irregular grid of fields or blocks.

    Returns ``(ids, edge, count)``: compact parcel index per pixel, distance (px) to the
    nearest parcel border (for hedges, paths, streets) and the number of parcels."""
    angle = rng.uniform(0, np.pi) if angle is None else angle
    u, v = rotated_coords(shape, angle)
    if wobble > 0:
        u = u + wobble * smooth_field(rng, shape, 6.0)
        v = v + wobble * smooth_field(rng, shape, 6.0)
    su, sv = rng.uniform(*size), rng.uniform(*size)
    gu, gv = (u + rng.uniform(0, su)) / su, (v + rng.uniform(0, sv)) / sv
    cell_u, cell_v = np.floor(gu).astype(np.int64), np.floor(gv).astype(np.int64)
    _, ids = np.unique(cell_u * 100_003 + cell_v, return_inverse=True)
    ids = ids.reshape(shape)
    fu, fv = gu - cell_u, gv - cell_v
    edge = np.minimum(np.minimum(fu, 1 - fu) * su, np.minimum(fv, 1 - fv) * sv).astype(np.float32)
    return ids, edge, int(ids.max()) + 1


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor x factor`` blocks of the last two axes (a coarser Sentinel-2 band)."""
    *lead, h, w = image.shape
    return image.reshape(*lead, h // factor, factor, w // factor, factor).mean(axis=(-3, -1))


def coarsen_in_place(image: np.ndarray, factor: int) -> np.ndarray:
    """Block-average then repeat: a coarse band resampled back to the 10 m grid, as in EuroSAT-MS."""
    h, w = image.shape[-2:]
    if h % factor or w % factor:
        return ndimage.gaussian_filter(image, sigma=factor / 2.0, mode="reflect")
    small = block_mean(image, factor)
    return np.repeat(np.repeat(small, factor, axis=-2), factor, axis=-1)
