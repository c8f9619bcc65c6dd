"""ben-ge-like patches: a WorldCover map, and the S2, S1 and DEM images it implies.

Each 120 x 120 patch (10 m) gets a dominant WorldCover class over a random 35-92 % of
its area, one to three minority classes, and sometimes a road or a river. The map
drives every modality:

* Sentinel-2 L2A: class-specific endmember mixes, seasonal greenness, seasonal snow in
  winter, and in ~30 % of patches thick clouds over most of the patch (bright, flat
  spectra that hide the ground), in ~10 % small partial clouds.
* Sentinel-1: per-class backscatter (water very dark, built-up bright, forest with high
  VH), terrain tilt, and multiplicative gamma speckle. Clouds do not affect it, so on
  cloudy patches S1 still carries the land cover that S2 has lost.
* DEM: smooth terrain whose base height and relief depend on the class; water is flat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eo_tasks.data.synth.fields import Shape, block_mean, line, lowest, parcels, smooth_field, soften
from eo_tasks.data.synth.scenes import Mix, veg
from eo_tasks.data.synth.spectra import (
    BAND_GSD,
    BENGE_S2_BANDS,
    SAR_DB,
    SAR_LOOKS,
    SEASON_GREENNESS,
    SURFACE_BANDS,
    WORLDCOVER_CODES,
    WORLDCOVER_NAMES,
    add_sensor_noise,
    mix,
    to_l2a,
    to_uint16,
)

PATCH = 120
N_CLASSES = len(WORLDCOVER_NAMES)
_C = {name: i for i, name in enumerate(WORLDCOVER_NAMES)}
# How often each class dominates a patch (European landscapes: no mangroves).
DOMINANT_PRIOR = np.array([0.22, 0.08, 0.16, 0.20, 0.10, 0.05, 0.02, 0.09, 0.05, 0.0, 0.03])
MINORITY_PRIOR = np.array([0.22, 0.12, 0.22, 0.18, 0.10, 0.05, 0.01, 0.05, 0.04, 0.0, 0.01])
CLOUDY_SHARE = 0.30  # thick clouds over most of the patch
PARTLY_CLOUDY_SHARE = 0.10


@dataclass(frozen=True)
class Patch:
    worldcover: np.ndarray  # [120, 120] uint8 WorldCover codes
    s2: dict[str, np.ndarray]  # uint16 L2A reflectance x 10,000 at each band's own size
    s1: dict[str, np.ndarray]  # "VV", "VH": [120, 120] float32 dB
    dem: np.ndarray  # [120, 120] float32 metres
    cloud_fraction: float  # share of pixels under cloud of opacity > 0.5 (synthetic ground truth)


def class_map(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """``[H, W]`` class indices (into WORLDCOVER) with one dominant class and a few minor ones."""
    dominant = int(rng.choice(N_CLASSES, p=DOMINANT_PRIOR / DOMINANT_PRIOR.sum()))
    prior = MINORITY_PRIOR.copy()
    prior[dominant] = 0
    minors = rng.choice(N_CLASSES, size=int(rng.integers(1, 4)), replace=False, p=prior / prior.sum())
    out = np.full(shape, dominant, dtype=np.int64)
    rest = ~lowest(smooth_field(rng, shape, rng.uniform(7, 22)), rng.uniform(0.35, 0.92))
    split = smooth_field(rng, shape, rng.uniform(4, 12))[rest]
    bounds = np.quantile(split, np.cumsum(rng.dirichlet(np.full(len(minors), 1.5)))[:-1]) if split.size else []
    out[rest] = minors[np.searchsorted(bounds, split)]
    if rng.random() < 0.25:
        out[line(rng, shape, rng.uniform(1.0, 2.5)) > 0.5] = _C["built-up"]
    if rng.random() < 0.15:
        river = line(rng, shape, rng.uniform(2.0, 6.0), meander=rng.uniform(3, 12), wavelength=rng.uniform(50, 150))
        out[river > 0.5] = _C["permanent_water_bodies"]
    return out


def _class_parts(name: str, rng: np.random.Generator, shape: Shape, g: float) -> Mix:
    """What a patch of class ``name`` is made of, filled over the whole frame."""
    m = Mix(shape)
    var = 0.08 * smooth_field(rng, shape, rng.uniform(3, 10))
    if name == "tree_cover":
        conifer = rng.uniform(0.2, 1.0)
        m.add(veg("tree", conifer + (1 - conifer) * g + var)).paint({"shrub": 1.0}, 0.1)
    elif name == "shrubland":
        m.add({"shrub": 0.65}).add(veg("grass", 0.2 + 0.6 * g + var), 0.2).add({"soil": 0.15})
    elif name == "grassland":
        m.add(veg("grass", 0.25 + 0.7 * g + var))
    elif name == "cropland":
        ids, _, k = parcels(rng, shape, (12, 35))
        growing = rng.random(k) < 0.15 + 0.7 * g  # winter fields are mostly ploughed soil
        crop = np.where(growing, rng.uniform(0.5, 1.0, k) * (0.3 + 0.7 * g), rng.uniform(0, 0.15, k))[ids]
        senesc = rng.uniform(0.0, 0.5, k)[ids] * (1 - crop)
        m.add({"crop": crop, "senesc": senesc, "soil": 1 - crop - senesc})
    elif name == "built-up":
        ids, edge, k = parcels(rng, shape, (3, 8), wobble=0.5)
        kind = rng.choice(3, size=k, p=[0.55, 0.25, 0.2])
        m.add({"built": 0.85, "asphalt": 0.15}, (kind == 0)[ids]).add(veg("grass", 0.3 + 0.6 * g), (kind == 1)[ids])
        m.add(veg("tree", 0.5 + 0.5 * g), (kind == 2)[ids]).paint({"asphalt": 1.0}, np.clip(1.0 - edge, 0, 1))
    elif name == "bare/sparse_vegetation":
        sparse = np.clip(0.15 + 0.1 * smooth_field(rng, shape, 5.0), 0, 0.4)
        m.add({"bare": 0.6, "soil": 0.4}).paint(veg("grass", 0.2 + 0.4 * g), sparse)
    elif name == "snow_and_ice":
        m.add({"snow": 0.9, "bare": 0.1}).paint({"bare": 1.0}, np.clip(0.1 + 0.1 * smooth_field(rng, shape, 4.0), 0, 1))
    elif name == "permanent_water_bodies":
        turbid = rng.uniform(0.0, 0.12)
        m.add({"water": 1 - turbid, "soil": turbid * 0.6, "wetland": turbid * 0.4})
    elif name == "herbaceous_wetland":
        open_water = np.clip(0.25 + 0.2 * smooth_field(rng, shape, 4.0), 0, 0.8)
        m.add({"water": open_water}).add(veg("wetland", 0.25 + 0.7 * g + var), 1 - open_water)
    elif name == "mangroves":
        m.add({"mangrove": 0.85, "water": 0.15})
    else:  # moss_and_lichen
        m.add({"moss": 0.7, "bare": 0.2}).add(veg("grass", 0.3 * g), 0.1)
    return m


def _dem(rng: np.random.Generator, cmap: np.ndarray) -> np.ndarray:
    shape = cmap.shape
    counts = np.bincount(cmap.ravel(), minlength=N_CLASSES)
    main = WORLDCOVER_NAMES[int(counts.argmax())]
    if main in ("snow_and_ice", "moss_and_lichen"):
        base, relief = rng.uniform(1200, 2600), rng.uniform(40, 250)
    elif main in ("permanent_water_bodies", "herbaceous_wetland", "mangroves"):
        base, relief = rng.uniform(0, 300), rng.uniform(2, 20)
    elif main in ("tree_cover", "shrubland", "bare/sparse_vegetation"):
        base, relief = rng.uniform(50, 1400), rng.uniform(15, 180)
    else:
        base, relief = rng.uniform(10, 700), rng.uniform(3, 50)
    dem = base + relief * smooth_field(rng, shape, rng.uniform(20, 45)) + 0.1 * relief * smooth_field(rng, shape, 6.0)
    water = cmap == _C["permanent_water_bodies"]
    if water.any():  # a lake or river surface is level and lies low
        dem[water] = np.quantile(dem, 0.05)
    return dem.astype(np.float32)


def _sentinel1(
    rng: np.random.Generator, soft: np.ndarray, present: np.ndarray, dem: np.ndarray, season: str
) -> dict[str, np.ndarray]:
    shape = dem.shape
    incidence = rng.normal(0, 1.0)  # patch position in the swath shifts both polarisations
    power = {"VV": np.zeros(shape, np.float32), "VH": np.zeros(shape, np.float32)}
    for c in present:
        name = WORLDCOVER_NAMES[c]
        vv, vh, tex = SAR_DB[name]
        vv, vh = vv + rng.normal(0, 0.7), vh + rng.normal(0, 0.7)
        if name == "permanent_water_bodies":  # wind roughens open water
            wind = rng.uniform(0, 7)
            vv, vh = vv - 3 + wind, vh - 1 + 0.4 * wind
        elif name in ("cropland", "grassland", "herbaceous_wetland"):
            grow = SEASON_GREENNESS[season] - 0.5
            vv, vh = vv + 1.2 * grow, vh + 2.5 * grow
        field = smooth_field(rng, shape, 1.5)
        for pol, mean in (("VV", vv), ("VH", vh)):
            power[pol] += soft[c] * 10 ** ((mean + incidence + tex * field) / 10)
    slope = np.gradient(dem, axis=1)  # slopes facing the sensor look brighter
    tilt = np.clip(0.25 * slope, -4, 4)
    out = {}
    for pol in ("VV", "VH"):
        speckle = rng.gamma(SAR_LOOKS, 1.0 / SAR_LOOKS, size=shape)
        out[pol] = (10 * np.log10(np.maximum(power[pol] * speckle, 1e-6)) + tilt).astype(np.float32)
    return out


def _clouds(rng: np.random.Generator, shape: Shape, sky: str) -> np.ndarray:
    """Cloud opacity ``[H, W]`` in 0..1 (all zero for a clear patch)."""
    draw = {"random": rng.random(), "cloudy": 0.0, "clear": 1.0}[sky]
    if draw < CLOUDY_SHARE:  # thick: opaque where it covers
        fraction, opacity = min(1.0, rng.uniform(0.65, 1.15)), rng.uniform(0.97, 1.0)
    elif draw < CLOUDY_SHARE + PARTLY_CLOUDY_SHARE:
        fraction, opacity = rng.uniform(0.05, 0.35), rng.uniform(0.5, 0.95)
    else:
        return np.zeros(shape, np.float32)
    cover = soften(lowest(smooth_field(rng, shape, rng.uniform(10, 30)), fraction), 2.0)
    return np.clip(cover * opacity * (1 + 0.05 * smooth_field(rng, shape, 3.0)), 0, 1)


def benge_patch(
    rng: np.random.Generator, season_s2: str, season_s1: str, size: int = PATCH, sky: str = "random"
) -> Patch:
    """One patch; ``size`` must be a multiple of 6 (the 60 m bands). ``sky``: "random"
    (the cloud shares above), or "cloudy" / "clear" to force thick clouds or none."""
    if size % 6 or sky not in ("random", "cloudy", "clear"):
        raise ValueError(f"size must be a multiple of 6 and sky one of random/cloudy/clear, got {size}, {sky!r}")
    shape = (size, size)
    cmap = class_map(rng, shape)
    present = np.unique(cmap)
    soft = np.zeros((N_CLASSES, *shape), np.float32)
    for c in present:
        soft[c] = soften(cmap == c, 0.6)
    soft /= np.maximum(soft.sum(axis=0, keepdims=True), 1e-6)

    greenness = float(np.clip(SEASON_GREENNESS[season_s2] + rng.normal(0, 0.08), 0, 1))
    scene = Mix(shape)
    for c in present:
        scene.a += soft[c] * _class_parts(WORLDCOVER_NAMES[c], rng, shape, greenness).normalised()
    dem = _dem(rng, cmap)
    if season_s2 == "winter" and rng.random() < (0.7 if dem.mean() > 800 else 0.25):
        elevation = (dem - dem.mean()) / max(float(dem.std()), 1.0)
        snow = soften(lowest(-(elevation + 0.7 * smooth_field(rng, shape, 8.0)), rng.uniform(0.3, 1.0)), 1.5)
        scene.paint({"snow": 1.0}, snow * (cmap != _C["permanent_water_bodies"]))
    cloud = _clouds(rng, shape, sky)
    if cloud.any():
        lit = np.clip(rng.uniform(0.3, 1.0) + 0.3 * smooth_field(rng, shape, rng.uniform(4, 15)), 0, 1)
        scene.paint({"cloud": lit, "cloud_dim": 1 - lit}, cloud)

    # illumination, and band-to-band calibration / atmosphere differences between patches
    gain = rng.uniform(0.9, 1.1) * (1 + 0.05 * rng.standard_normal(len(SURFACE_BANDS)))
    surface = mix(scene.normalised(), smooth_field(rng, shape, 0.8)) * gain.astype(np.float32)[:, None, None]
    bands = to_l2a(add_sensor_noise(surface, rng))
    s2 = {b: to_uint16(block_mean(bands[b], BAND_GSD[b] // 10)) for b in BENGE_S2_BANDS}
    return Patch(
        worldcover=np.asarray(WORLDCOVER_CODES, dtype=np.uint8)[cmap],
        s2=s2,
        s1=_sentinel1(rng, soft, present, dem, season_s1),
        dem=dem,
        cloud_fraction=float((cloud > 0.5).mean()),
    )


def worldcover_fractions(codes: np.ndarray) -> np.ndarray:
    """Per-class share of a WorldCover map, in WORLDCOVER order (sums to 1)."""
    lookup = np.zeros(256, dtype=np.int64)
    lookup[list(WORLDCOVER_CODES)] = np.arange(N_CLASSES)
    return np.bincount(lookup[codes.ravel()], minlength=N_CLASSES) / codes.size

