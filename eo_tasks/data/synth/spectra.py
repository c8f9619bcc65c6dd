"""Band lists, class lists and the physical look-up tables of the synthetic scene model.

Sentinel-2 surface reflectance is modelled as a per-pixel linear mix of *endmembers*
(pure materials such as green crop, bare soil, water, cloud). Values are reflectance
x 10,000, close to real class means: e.g. the real EuroSAT-MS Forest mean has NIR
B08 ~2760 against red B04 ~430, SeaLake has B08 ~315 and B12 ~52.
"""

from __future__ import annotations

import numpy as np

# On-disk band orders of the real datasets.
EUROSAT_MS_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A")
BENGE_S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
S1_BANDS = ("VV", "VH")
# Ground sampling distance (m) of each Sentinel-2 band.
BAND_GSD = {
    **dict.fromkeys(("B02", "B03", "B04", "B08"), 10),
    **dict.fromkeys(("B05", "B06", "B07", "B8A", "B11", "B12"), 20),
    **dict.fromkeys(("B01", "B09", "B10"), 60),
}

EUROSAT_CLASSES = (
    "AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial",
    "Pasture", "PermanentCrop", "Residential", "River", "SeaLake",
)  # fmt: skip

# ESA WorldCover 2020/2021 legend: (map code, column name in ben-ge's esaworldcover table).
WORLDCOVER = (
    (10, "tree_cover"), (20, "shrubland"), (30, "grassland"), (40, "cropland"), (50, "built-up"),
    (60, "bare/sparse_vegetation"), (70, "snow_and_ice"), (80, "permanent_water_bodies"),
    (90, "herbaceous_wetland"), (95, "mangroves"), (100, "moss_and_lichen"),
)  # fmt: skip
WORLDCOVER_CODES = tuple(code for code, _ in WORLDCOVER)
WORLDCOVER_NAMES = tuple(name for _, name in WORLDCOVER)

# The bands the mixing model works in; B09 (water vapour) and B10 (cirrus) are derived from them.
SURFACE_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")

# Surface (L2A-like) reflectance x 10,000 per endmember, in SURFACE_BANDS order.
_ENDMEMBERS: dict[str, tuple[int, ...]] = {
    #            B01   B02   B03   B04   B05   B06   B07   B08   B8A   B11   B12
    "tree":     (150,  160,  360,  200,  560, 2050, 2650, 2700, 2950, 1300,  520),
    "mangrove": (180,  190,  400,  230,  620, 2100, 2650, 2750, 2900, 1150,  480),
    "grass":    (300,  320,  580,  420, 1000, 2600, 3250, 3300, 3650, 2000,  970),
    "crop":     (290,  300,  620,  350, 1050, 2900, 3600, 3700, 4000, 2100,  950),
    "senesc":   (600,  650,  860, 1100, 1400, 1800, 2000, 2100, 2250, 3000, 2100),
    "shrub":    (400,  450,  700,  720, 1100, 1800, 2200, 2300, 2500, 2400, 1500),
    "soil":     (1000,  900, 1250, 1750, 1950, 2100, 2250, 2400, 2550, 3300, 2600),
    "bare":     (1300, 1500, 1900, 2300, 2500, 2700, 2850, 2950, 3050, 3800, 3200),
    "built":    (1000, 1150, 1250, 1350, 1450, 1600, 1700, 1750, 1800, 2300, 2000),
    "asphalt":  (700,  750,  800,  850,  900,  950, 1000, 1050, 1080, 1250, 1050),
    "water":    (200,  250,  350,  230,  250,  230,  250,  220,  200,   50,   25),
    "wetland":  (250,  280,  500,  350,  800, 1800, 2200, 2300, 2450, 1200,  600),
    "moss":     (600,  650,  850,  900, 1200, 1700, 1950, 2000, 2150, 2300, 1600),
    "snow":     (9000, 9200, 9000, 8700, 8500, 8000, 7700, 7500, 7300,  700,  500),
    "cloud":    (7500, 7600, 7600, 7700, 7800, 7800, 7800, 7800, 7700, 5200, 3600),
    "cloud_dim":(4300, 4400, 4500, 4600, 4600, 4600, 4600, 4600, 4500, 3300, 2300),  # self-shadowed cloud
}  # fmt: skip
ENDMEMBERS = tuple(_ENDMEMBERS)
EM = {name: i for i, name in enumerate(ENDMEMBERS)}
SPECTRA = np.array([_ENDMEMBERS[k] for k in ENDMEMBERS], dtype=np.float32)  # [E, 11]
# Sub-pixel shadowing makes canopies and roofs look textured; fields and water stay smooth.
_TEXTURE = {"tree": 0.18, "mangrove": 0.15, "built": 0.25, "shrub": 0.12, "bare": 0.1, "moss": 0.1, "cloud": 0.15,
            "cloud_dim": 0.15}  # fmt: skip
TEXTURE = np.array([_TEXTURE.get(k, 0.05) for k in ENDMEMBERS], dtype=np.float32)

# Top-of-atmosphere path radiance added by L1C (x 10,000), SURFACE_BANDS order, at haze = 1.
_L1C_OFFSET = np.array([900, 580, 380, 250, 200, 150, 120, 80, 90, 40, 30], dtype=np.float32)

# Sentinel-1 backscatter (dB) per WorldCover class: (VV, VH, per-pixel texture std in dB).
SAR_DB = {
    "tree_cover": (-7.5, -13.0, 1.0),
    "shrubland": (-9.0, -15.5, 1.0),
    "grassland": (-10.5, -17.5, 0.7),
    "cropland": (-10.0, -17.0, 1.2),
    "built-up": (-3.0, -10.5, 3.0),
    "bare/sparse_vegetation": (-13.0, -21.5, 1.2),
    "snow_and_ice": (-14.0, -22.5, 1.0),
    "permanent_water_bodies": (-20.0, -26.0, 0.8),
    "herbaceous_wetland": (-8.5, -16.5, 1.2),
    "mangroves": (-7.0, -12.5, 1.0),
    "moss_and_lichen": (-12.0, -19.5, 0.8),
}
SAR_LOOKS = 4.5  # equivalent number of looks of S1 IW GRDH: sets the speckle strength

SEASONS = ("spring", "summer", "autumn", "winter")
# Vegetation greenness per season (1 = full summer canopy, 0 = dormant / senescent).
SEASON_GREENNESS = {"spring": 0.75, "summer": 1.0, "autumn": 0.5, "winter": 0.2}


def season_of_month(month: int) -> str:
    return SEASONS[((month - 3) % 12) // 3]


def mix(abundance: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """Surface reflectance ``[11, H, W]`` from endmember fractions ``[E, H, W]`` and a
    zero-mean texture field ``[H, W]`` that modulates each endmember by its own strength."""
    weights = abundance * (1.0 + TEXTURE[:, None, None] * texture[None])
    # einsum's own loop: a BLAS matmul stalls on thread contention when other jobs share the cores
    return np.einsum("ehw,eb->bhw", weights, SPECTRA)


def add_sensor_noise(refl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return refl + rng.standard_normal(refl.shape, dtype=np.float32) * (0.02 * refl + 15.0)


def to_l2a(surface: np.ndarray) -> dict[str, np.ndarray]:
    """Per-band L2A images (bands by name); B09 (no L2A meaning) tracks B8A as in BigEarthNet."""
    out = {b: surface[i] for i, b in enumerate(SURFACE_BANDS)}
    out["B09"] = 0.95 * surface[SURFACE_BANDS.index("B8A")]
    return out


def to_l1c(surface: np.ndarray, haze: float, cirrus: np.ndarray | float = 0.0) -> dict[str, np.ndarray]:
    """Per-band L1C (top of atmosphere) images: surface plus path radiance, water-vapour
    absorption in B09, and a near-empty cirrus band B10 (~5-20 over clear sky)."""
    toa = 0.96 * surface + haze * _L1C_OFFSET[:, None, None]
    out = {b: toa[i] for i, b in enumerate(SURFACE_BANDS)}
    out["B09"] = 0.28 * out["B8A"]
    out["B10"] = 6.0 + 4.0 * haze + 0.002 * surface[SURFACE_BANDS.index("B8A")] + cirrus
    return out


def to_uint16(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 1, 65535).astype(np.uint16)


def to_rgb8(red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> np.ndarray:
    """EuroSAT's official RGB: reflectance 0..2750 mapped linearly to 1..255, clipped."""
    rgb = np.stack([red, green, blue], axis=-1)
    return np.clip(np.rint(1.0 + rgb * (254.0 / 2750.0)), 1, 255).astype(np.uint8)
