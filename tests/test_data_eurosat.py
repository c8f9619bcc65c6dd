from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from eo_tasks.data import EUROSAT_MS_BANDS, DataError, EuroSATMS, EuroSATRGB, band_statistics, stratified_split
from eo_tasks.data.splits import split_sizes

SPLITS = ("train", "val", "test")


# --- real data -------------------------------------------------------------------------------

@pytest.mark.realdata
def test_real_ms_reads_13_bands_with_b8a_last(real_data: Path) -> None:
    ds = EuroSATMS(real_data / "eurosat-ms", "train")
    assert ds.modalities[0].bands == EUROSAT_MS_BANDS and EUROSAT_MS_BANDS[-1] == "B8A"
    assert ds.modalities[0].channels == 13 and len(ds.classes) == 10
    forest = [i for i, c in enumerate(ds.metadata["class"]) if c == "Forest"][:5]
    for i in forest:
        x = ds[i]["s2"]
        assert x.shape == (13, 64, 64) and x.dtype == torch.float32
        raw = tifffile.imread(ds.metadata.at[i, "path"])  # (64, 64, 13) pixel-interleaved
        assert torch.equal(x, torch.from_numpy(raw.transpose(2, 0, 1).astype(np.float32)))
        b08, b8a, b04, b10 = x[7].flatten(), x[12].flatten(), x[3], x[9]
        # B8A (narrow NIR) tracks B08 on vegetation; B10 (cirrus) is near zero; NIR >> red.
        assert torch.corrcoef(torch.stack([b08, b8a]))[0, 1] > 0.8
        assert b10.mean() < 50 and b08.mean() > 3 * b04.mean()
    assert ds[0]["label"].dtype == torch.int64 and ds[0]["label"].ndim == 0


@pytest.mark.realdata
def test_real_ms_band_selection(real_data: Path) -> None:
    full = EuroSATMS(real_data / "eurosat-ms", "test")
    sel = EuroSATMS(real_data / "eurosat-ms", "test", bands=("B8A", "B04", "B10"))
    assert sel.modalities[0].bands == ("B8A", "B04", "B10") and sel.modalities[0].channels == 3
    assert torch.equal(sel[3]["s2"], full[3]["s2"][[12, 3, 9]])


@pytest.mark.realdata
def test_real_rgb_has_27000_files_in_10_classes(real_data: Path) -> None:
    parts = {s: EuroSATRGB(real_data / "eurosat-rgb", s) for s in SPLITS}
    assert sum(len(d) for d in parts.values()) == 27_000
    assert parts["train"].classes[0] == "AnnualCrop" and len(parts["train"].classes) == 10
    files = [set(d.metadata["path"]) for d in parts.values()]
    assert not (files[0] & files[1]) and not (files[0] & files[2]) and not (files[1] & files[2])
    assert len(parts["train"]) == 18_900 and len(parts["val"]) == len(parts["test"]) == 4_050
    # Stratified: every class gets 70 % of its files in train, to within one.
    counts = Counter(parts["train"].metadata["class"])
    totals = {"AnnualCrop": 3000, "Pasture": 2000, "Highway": 2500}
    for cls, total in totals.items():
        assert abs(counts[cls] - 0.7 * total) <= 1
    x = parts["val"][0]["rgb"]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 255 and x.max() > 1


# --- tiny fixtures -------------------------------------------------------------------------

@pytest.mark.parametrize("layout", [".", "2750", "EuroSAT_RGB", "EuroSAT/2750"])
def test_rgb_layouts(tmp_path: Path, make_eurosat_rgb, layout: str) -> None:
    make_eurosat_rgb(tmp_path / layout, per_class=5)
    ds = EuroSATRGB(tmp_path, "train")
    assert ds.classes == ("Forest", "Highway", "River", "SeaLake")
    assert len(ds) + len(EuroSATRGB(tmp_path, "val")) + len(EuroSATRGB(tmp_path, "test")) == 20
    sample = ds[0]
    assert sample["rgb"].shape == (3, 64, 64) and int(sample["label"]) == ds.classes.index(ds.metadata.at[0, "class"])


@pytest.mark.parametrize("layout", ["EuroSAT_MS", "2750", "ds/images/remote_sensing/otherDatasets/sentinel_2/tif"])
def test_ms_layouts_and_planar_tiff(tmp_path: Path, make_eurosat_ms, layout: str) -> None:
    make_eurosat_ms(tmp_path / "a" / layout, seed=3)
    make_eurosat_ms(tmp_path / "b", seed=3, planar=True)  # (13, 64, 64) band-interleaved
    a, b = EuroSATMS(tmp_path / "a", "train"), EuroSATMS(tmp_path / "b", "train")
    assert list(a.metadata["file"]) == list(b.metadata["file"])
    assert torch.equal(a[0]["s2"], b[0]["s2"]) and a[0]["s2"].shape == (13, 64, 64)
    # The fixture offsets band k by 100*k: channel order is the file's band order.
    means = a[0]["s2"].mean(dim=(1, 2))
    assert torch.all(means[1:] > means[:-1])


def test_published_split_files_are_honoured(tmp_path: Path, make_eurosat_ms) -> None:
    root = make_eurosat_ms(tmp_path)
    names = sorted(p.name for p in root.rglob("*.tif"))
    lists = {"train": names[:10], "val": names[10:14], "test": names[14:]}
    for split, files in lists.items():  # published lists name the .jpg files
        (root / f"eurosat-{split}.txt").write_text("\n".join(Path(f).stem + ".jpg" for f in files) + "\n")
    for split, files in lists.items():
        ds = EuroSATMS(root, split)
        assert sorted(ds.metadata["file"]) == files


def test_partial_split_files_are_an_error(tmp_path: Path, make_eurosat_rgb) -> None:
    root = make_eurosat_rgb(tmp_path, per_class=3)
    (root / "eurosat-train.txt").write_text("Forest_1.jpg\n")
    with pytest.raises(DataError, match="eurosat-val.txt"):
        EuroSATRGB(root, "train")


def test_seeded_split_is_deterministic_and_stratified(tmp_path: Path, make_eurosat_rgb) -> None:
    root = make_eurosat_rgb(tmp_path, per_class=10)
    first = [set(EuroSATRGB(root, s, split_seed=7).metadata["file"]) for s in SPLITS]
    again = [set(EuroSATRGB(root, s, split_seed=7).metadata["file"]) for s in SPLITS]
    other = [set(EuroSATRGB(root, s, split_seed=8).metadata["file"]) for s in SPLITS]
    assert first == again and first != other
    assert [len(f) for f in first] == [28, 6, 6]
    train = EuroSATRGB(root, "train", split_seed=7)
    assert set(Counter(train.metadata["class"]).values()) == {7}


def test_stratified_split_ignores_listing_order() -> None:
    rng = np.random.default_rng(0)
    keys = [f"k{i:03d}" for i in range(200)]
    strata = rng.integers(0, 5, 200)
    base = stratified_split(keys, strata, seed=3, fractions=(0.6, 0.2, 0.2))
    perm = rng.permutation(200)
    shuffled = stratified_split([keys[i] for i in perm], strata[perm], seed=3, fractions=(0.6, 0.2, 0.2))
    for split in SPLITS:
        assert {keys[i] for i in base[split]} == {keys[perm[i]] for i in shuffled[split]}
    assert sorted(np.concatenate(list(base.values())).tolist()) == list(range(200))
    for s in range(5):
        members = int((strata == s).sum())
        assert abs(int((strata[base["train"]] == s).sum()) - 0.6 * members) <= 1.5


def test_split_sizes_keep_every_positive_split() -> None:
    assert split_sizes(6, (0.7, 0.15, 0.15)) == [4, 1, 1]
    assert split_sizes(3, (0.7, 0.15, 0.15)) == [1, 1, 1]
    assert split_sizes(100, (0.8, 0.2, 0.0)) == [80, 20, 0]


def test_band_statistics_match_numpy(tmp_path: Path, make_eurosat_ms) -> None:
    ds = EuroSATMS(make_eurosat_ms(tmp_path), "train")
    mean, std = band_statistics(ds, "s2")
    stack = np.stack([ds[i]["s2"].numpy() for i in range(len(ds))]).astype(np.float64)
    np.testing.assert_allclose(mean, stack.mean(axis=(0, 2, 3)), rtol=1e-9)
    np.testing.assert_allclose(std, stack.std(axis=(0, 2, 3)), rtol=1e-6)


# --- bad input ------------------------------------------------------------------------------

def test_missing_root_and_wrong_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        EuroSATRGB(tmp_path / "nope")
    (tmp_path / "Forest").mkdir()
    (tmp_path / "Forest" / "Forest_1.png").write_bytes(b"x")
    with pytest.raises(DataError, match=r"no EuroSAT RGB layout.*\.jpg"):
        EuroSATRGB(tmp_path)


def test_corrupt_jpeg_names_the_file(tmp_path: Path, make_eurosat_rgb) -> None:
    root = make_eurosat_rgb(tmp_path, per_class=2)
    bad = root / "Forest" / "Forest_1.jpg"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated
    ds = EuroSATRGB(root, "train", fractions=(1.0, 0.0, 0.0))
    i = list(ds.metadata["file"]).index("Forest_1.jpg")
    with pytest.raises(DataError, match="Forest_1.jpg"):
        ds[i]


def test_wrong_shaped_and_unreadable_tiff(tmp_path: Path, make_eurosat_ms) -> None:
    root = make_eurosat_ms(tmp_path, per_class=2)
    tifffile.imwrite(root / "Forest" / "Forest_1.tif", np.zeros((64, 64, 12), np.uint16))
    (root / "River" / "River_1.tif").write_bytes(b"not a tiff at all")
    ds = EuroSATMS(root, "train", fractions=(1.0, 0.0, 0.0))
    files = list(ds.metadata["file"])
    with pytest.raises(DataError, match=r"Forest_1.tif.*13 bands"):
        ds[files.index("Forest_1.tif")]
    with pytest.raises(DataError, match=r"River_1.tif: unreadable TIFF"):
        ds[files.index("River_1.tif")]


def test_unknown_band_and_empty_split(tmp_path: Path, make_eurosat_ms) -> None:
    root = make_eurosat_ms(tmp_path, per_class=2)
    with pytest.raises(DataError, match=r"B13.*B8A"):
        EuroSATMS(root, bands=("B04", "B13"))
    with pytest.raises(DataError, match="'test'"):
        EuroSATMS(root, "test", fractions=(0.8, 0.2, 0.0))
    with pytest.raises(DataError, match="split 'dev'"):
        EuroSATMS(root, "dev")
