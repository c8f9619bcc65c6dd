"""EuroSAT-like scenes: one recipe per class, composed from endmember fractions.

A recipe paints a 64 x 64 (10 m) scene from fields, parcels and lines: fields of crop
and soil for AnnualCrop, striped orchards for PermanentCrop, a road over farmland for
Highway, a winding river, a grid of small roofs and gardens for Residential, and so on.
Classes share materials and per-image conditions (season greenness, haze, illumination)
vary, so mean spectra overlap and spatial texture matters, and a few images are drawn
from a neighbouring class's recipe (label noise), as in real data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from eo_tasks.data.synth.fields import (
    Shape,
    coarsen_in_place,
    line,
    lowest,
    multiscale_field,
    parcels,
    rotated_coords,
    smooth_field,
    soften,
)
from eo_tasks.data.synth.spectra import (
    BAND_GSD,
    EM,
    ENDMEMBERS,
    EUROSAT_CLASSES,
    EUROSAT_MS_BANDS,
    SURFACE_BANDS,
    add_sensor_noise,
    mix,
    to_l1c,
)

Parts = dict[str, float | np.ndarray]
LABEL_NOISE = 0.08  # share of EuroSAT images drawn from a neighbouring class's recipe
NEIGHBOURS = {
    "AnnualCrop": ("PermanentCrop", "Pasture", "HerbaceousVegetation"),
    "Forest": ("HerbaceousVegetation", "River"),
    "HerbaceousVegetation": ("Pasture", "Forest", "PermanentCrop"),
    "Highway": ("Industrial", "AnnualCrop", "Residential"),
    "Industrial": ("Residential", "Highway"),
    "Pasture": ("HerbaceousVegetation", "AnnualCrop"),
    "PermanentCrop": ("AnnualCrop", "HerbaceousVegetation"),
    "Residential": ("Industrial", "Highway"),
    "River": ("SeaLake", "Highway", "Forest"),
    "SeaLake": ("River", "Forest"),
}


class Mix:
    """Endmember fractions ``[E, H, W]`` built up by adding and over-painting parts."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.a = np.zeros((len(ENDMEMBERS), *shape), dtype=np.float32)

    def add(self, parts: Parts, weight: float | np.ndarray = 1.0) -> Mix:
        for name, frac in parts.items():
            self.a[EM[name]] += weight * np.asarray(frac, dtype=np.float32)
        return self

    def paint(self, parts: Parts, cover: np.ndarray | float) -> Mix:
        """Replace the fraction ``cover`` (per pixel) of what is there by ``parts``."""
        cover = np.clip(np.asarray(cover, dtype=np.float32), 0.0, 1.0)
        self.a *= 1.0 - cover
        return self.add(parts, cover)

    def normalised(self) -> np.ndarray:
        return self.a / np.maximum(self.a.sum(axis=0, keepdims=True), 1e-6)


def veg(kind: str, greenness: float | np.ndarray) -> Parts:
    """A vegetation cover whose dormant share looks like dry, senescent plants
    (bare tree crowns keep some of the dark canopy signal)."""
    g = np.clip(greenness, 0.0, 1.0)
    if kind in ("tree", "mangrove"):
        return {kind: 0.6 + 0.4 * g, "senesc": 0.4 * (1.0 - g)}
    return {kind: g, "senesc": 1.0 - g}


def _annual_crop(rng: np.random.Generator, shape: Shape, g: float) -> Mix:
    m = Mix(shape)
    angle = rng.uniform(0, np.pi)
    ids, edge, k = parcels(rng, shape, (9, 26), angle=angle)
    state = rng.choice(3, size=k, p=[0.5, 0.3, 0.2])  # growing / bare soil / harvested stubble
    crop = np.where(state == 0, rng.uniform(0.45, 1.0, k) * min(1.0, g + 0.3), rng.uniform(0.0, 0.15, k))
    senesc = np.where(state == 2, rng.uniform(0.5, 0.9, k), rng.uniform(0.0, 0.2, k)) * (1 - crop)
    _, v = rotated_coords(shape, angle)
    rows = 1.0 + 0.12 * np.sin(2 * np.pi * v / rng.uniform(2.2, 3.5))  # sowing / tillage lines
    crop_px = np.clip(crop[ids] * rows * (1 + 0.1 * smooth_field(rng, shape, 3.0)), 0, 1)
    senesc_px = np.minimum(senesc[ids], 1 - crop_px)
    m.add({"crop": crop_px, "senesc": senesc_px, "soil": 1 - crop_px - senesc_px})
    if rng.random() < 0.5:
        m.paint(veg("grass", 0.3 + 0.7 * g), (edge < rng.uniform(0.5, 1.0)).astype(np.float32) * 0.8)
    return m


def _forest(rng: np.random.Generator, shape: Shape, g: float) -> Mix:
    m = Mix(shape)
    conifer = rng.uniform(0.3, 1.0)  # evergreen share keeps winter forest dark and green
    m.add(veg("tree", conifer + (1 - conifer) * g))
    m.paint({"shrub": 0.6, "tree": 0.4}, soften(lowest(smooth_field(rng, shape, 4.0), rng.uniform(0, 0.12)), 1.0))
    clearing = rng.uniform(0.0, 0.1)
    m.paint(veg("grass", 0.3 + 0.7 * g), soften(lowest(smooth_field(rng, shape, 6.0), clearing), 1.0))
    return m


def _herbaceous(rng: np.random.Generator, shape: Shape, g: float) -> Mix:
    m = Mix(shape)
    logits = np.stack([smooth_field(rng, shape, rng.uniform(3, 8)) for _ in range(4)])
    bias = np.array([0.6, 0.3, 0.0, -0.9], dtype=np.float32)[:, None, None]
    w = np.exp(1.8 * logits + bias)
    w /= w.sum(axis=0)
    m.add(veg("grass", 0.2 + 0.6 * g), w[0]).add({"shrub": 1.0}, w[1]).add({"senesc": 0.7, "soil": 0.3}, w[2])
    m.add(veg("tree", 0.5 + 0.5 * g), w[3])
    return m


def _pasture(rng: np.random.Generator, shape: Shape, g: float) -> Mix:
    m = Mix(shape)
    green = 0.55 + 0.45 * g + 0.08 * smooth_field(rng, shape, 10.0)
    m.add(veg("grass", green))
    if rng.random() < 0.6:  # hedgerows
        for _ in range(rng.integers(1, 3)):
            m.paint(veg("tree", 0.6 + 0.4 * g), line(rng, shape, rng.uniform(1.0, 2.5)) * 0.9)
    m.paint(veg("tree", 0.6 + 0.4 * g), soften(lowest(smooth_field(rng, shape, 3.0), rng.uniform(0, 0.06)), 0.7))
    return m


def _permanent_crop(rng: np.random.Generator, shape: Shape, g: float) -> Mix:
    m = Mix(shape)
    angle = rng.uniform(0, np.pi)
    ids, edge, k = parcels(rng, shape, (12, 30), angle=angle, wobble=0.8)
    _, v = rotated_coords(shape, angle + rng.normal(0, 0.05))
    period = rng.uniform(2.2, 4.5, k)[ids]
    rows = 0.5 + 0.5 * np.sin(2 * np.pi * v / period)  # vine / orchard rows
    cover = np.clip(rng.uniform(0.3, 0.75, k)[ids] * (0.5 + rows), 0, 1)
    woody = rng.random(k)[ids] < 0.4  # orchards (tree) vs vineyards (crop-like)
    plant = np.where(woody, 1.0, 0.0)
    inter = rng.uniform(0.0, 0.6, k)[ids]  # grassy inter-rows in some parcels
    green = 0.4 + 0.6 * g
    m.add({"tree": cover * plant * green, "crop": cover * (1 - plant) * green, "senesc": cover * (1 - green)})
    m.add({"grass": inter * 0.7, "senesc": inter * 0.3}, 1 - cover)
    m.add({"soil": 1.0}, (1 - cover) * (1 - inter))
    m.paint({"soil": 0.5, "senesc": 0.5}, (edge < 0.7).astype(np.float32) * 0.6)
    return m


def _road(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    width = rng.uniform(1.0, 4.0)
    angle, offset = rng.uniform(0, np.pi), rng.uniform(-14, 14)
    road = line(rng, shape, width, angle=angle, offset=offset)
    if rng.random() < 0.35:  # dual carriageway
        road = np.maximum(road, line(rng, shape, width, angle=angle, offset=offset + width + rng.uniform(1.0, 2.5)))
    return road


def _highway(rng: np.random.Generator, shape: Shape, g: float) -> Mix:
    base = rng.choice(3, p=[0.5, 0.3, 0.2])
    m = (_annual_crop, _herbaceous, _pasture)[base](rng, shape, g)
    road = _road(rng, shape)
    verge = soften(road > 0.1, 1.5)
    m.paint({"soil": 0.4, "grass": 0.3, "senesc": 0.3}, verge * 0.7)
    m.paint({"asphalt": 0.85, "built": 0.15}, road)
    if rng.random() < 0.25:  # a crossing road
        m.paint({"asphalt": 1.0}, line(rng, shape, rng.uniform(1.0, 2.0)))
    return m


def _industrial(rng: np.random.Generator, shape: Shape, g: float) -> Mix:
    m = Mix(shape)
    ids, edge, k = parcels(rng, shape, (9, 22), wobble=0.3)
    kind = rng.choice(4, size=k, p=[0.55, 0.25, 0.1, 0.1])  # hall / yard / bare / green
    bright = rng.uniform(0.8, 1.35, k)
    hall = (kind == 0)[ids] * bright[ids]
    m.add({"built": hall}).add({"asphalt": 1.0}, (kind == 1)[ids]).add({"soil": 0.7, "bare": 0.3}, (kind == 2)[ids])
    m.add(veg("grass", 0.3 + 0.6 * g), (kind == 3)[ids])
    m.paint({"asphalt": 1.0}, np.clip(1.6 - edge, 0, 1))
    return m


def _residential(rng: np.random.Generator, shape: Shape, g: float) -> Mix:
    m = Mix(shape)
    angle = rng.uniform(0, np.pi)
    ids, _, k = parcels(rng, shape, (3.0, 6.0), angle=angle, wobble=0.4)
    kind = rng.choice(3, size=k, p=[0.45, 0.33, 0.22])  # house / lawn / garden trees
    m.add({"built": 0.8, "asphalt": 0.2}, (kind == 0)[ids]).add(veg("grass", 0.4 + 0.6 * g), (kind == 1)[ids])
    m.add(veg("tree", 0.6 + 0.4 * g), (kind == 2)[ids])
    _, streets, _ = parcels(rng, shape, (14.0, 24.0), angle=angle, wobble=0.4)
    m.paint({"asphalt": 1.0}, np.clip(1.2 - streets, 0, 1))
    return m


def _river(rng: np.random.Generator, shape: Shape, g: float) -> Mix:
    base = rng.choice(4, p=[0.3, 0.3, 0.25, 0.15])
    m = (_forest, _herbaceous, _annual_crop, _pasture)[base](rng, shape, g)
    width = rng.uniform(2.0, 12.0)
    args = {"meander": rng.uniform(2, 10), "wavelength": rng.uniform(30, 90), "angle": rng.uniform(0, np.pi),
            "offset": rng.uniform(-12, 12)}  # fmt: skip
    course = int(rng.integers(2**32))  # bank and channel share one meander
    bank = line(np.random.default_rng(course), shape, width + rng.uniform(2, 5), **args)
    m.paint(veg("tree", 0.6 + 0.4 * g) if rng.random() < 0.6 else {"bare": 0.5, "soil": 0.5}, bank * 0.8)
    m.paint({"water": 0.92, "soil": 0.08}, line(np.random.default_rng(course), shape, width, **args))
    return m


def _sealake(rng: np.random.Generator, shape: Shape, g: float) -> Mix:
    land = rng.choice(4, p=[0.35, 0.3, 0.2, 0.15])
    m = (_forest, _herbaceous, _annual_crop, _pasture)[land](rng, shape, g)
    u, _ = rotated_coords(shape, rng.uniform(0, 2 * np.pi))
    shore = u / shape[0] * rng.uniform(1, 4) + 0.5 * smooth_field(rng, shape, 10.0)
    water = soften(lowest(-shore, 1.0 if rng.random() < 0.5 else rng.uniform(0.75, 1.0)), 0.8)
    turbid = np.clip(rng.uniform(0.0, 0.12) + 0.04 * smooth_field(rng, shape, 12.0), 0, 0.3)
    m.paint({"water": 1 - turbid, "soil": turbid * 0.6, "wetland": turbid * 0.4}, water)
    return m


RECIPES: dict[str, Callable[[np.random.Generator, Shape, float], Mix]] = {
    "AnnualCrop": _annual_crop,
    "Forest": _forest,
    "HerbaceousVegetation": _herbaceous,
    "Highway": _highway,
    "Industrial": _industrial,
    "Pasture": _pasture,
    "PermanentCrop": _permanent_crop,
    "Residential": _residential,
    "River": _river,
    "SeaLake": _sealake,
}
assert tuple(RECIPES) == EUROSAT_CLASSES


@dataclass(frozen=True)
class EuroSATScene:
    label: str  # the class written to disk
    drawn_as: str  # the recipe actually used (differs for label-noise images)
    bands: dict[str, np.ndarray]  # L1C reflectance x 10,000 on the 64 x 64 grid, by band name


def eurosat_scene(rng: np.random.Generator, label: str, size: int = 64) -> EuroSATScene:
    """One EuroSAT-MS-like image: a class recipe, a random season, haze and illumination."""
    drawn_as = label
    if rng.random() < LABEL_NOISE:
        drawn_as = str(rng.choice(NEIGHBOURS[label]))
    shape = (size, size)
    greenness = rng.uniform(0.4, 1.0)
    abundance = RECIPES[drawn_as](rng, shape, greenness).normalised()
    texture = multiscale_field(rng, shape, (0.7, 2.0))
    # illumination, and band-to-band calibration / atmosphere differences between images
    gain = rng.uniform(0.85, 1.15) * (1 + 0.06 * rng.standard_normal(len(SURFACE_BANDS)))
    surface = mix(abundance, texture) * gain.astype(np.float32)[:, None, None]
    surface = add_sensor_noise(surface, rng)
    bands = to_l1c(surface, haze=rng.uniform(0.7, 1.2), cirrus=np.abs(rng.normal(0, 2.0)))
    # EuroSAT-MS resampled every band to 10 m: coarse bands look blocky / blurred.
    for name in EUROSAT_MS_BANDS:
        factor = BAND_GSD[name] // 10
        if factor > 1:
            bands[name] = coarsen_in_place(bands[name], factor)
    return EuroSATScene(label=label, drawn_as=drawn_as, bands=bands)
