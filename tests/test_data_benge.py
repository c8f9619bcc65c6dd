from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch
import torch.nn.functional as F

from eo_tasks.data import BIGEARTHNET_19, BIGEARTHNET_43, S2_BANDS, WORLDCOVER_CLASSES, BenGe, BigEarthNet, DataError
from eo_tasks.data.benge import encode_season

SPLITS = ("train", "val", "test")
REAL_FOLDERS = {"s2_folder": "BigEarthNet-S2-Example", "s1_folder": "BigEarthNet-S1-Example"}


# --- BigEarthNet-MM, real pairs ----------------------------------------------------------------

@pytest.mark.realdata
def test_real_bigearthnet_pairs(real_data: Path) -> None:
    root = real_data / "ben-ge-sample"
    parts = {s: BigEarthNet(root, s, **REAL_FOLDERS) for s in SPLITS}
    assert [len(parts[s]) for s in SPLITS] == [4, 1, 1]
    table = pd.read_csv(root / "patches.csv").set_index("s2_patch")
    seen = set()
    for ds in parts.values():
        assert ds.classes == BIGEARTHNET_43 and [m.name for m in ds.modalities] == ["s2", "s1"]
        for i in range(len(ds)):
            pid, pid_s1 = ds.metadata.at[i, "patch_id"], ds.metadata.at[i, "patch_id_s1"]
            seen.add(pid)
            assert table.at[pid, "s1_patch"] == pid_s1  # pairing from corresponding_s2_patch
            sample = ds[i]
            assert sample["s2"].shape == (12, 120, 120) and sample["s1"].shape == (2, 120, 120)
            names = {ds.classes[j] for j in sample["label"].nonzero().flatten().tolist()}
            assert sample["label"].dtype == torch.float32
            # patches.csv joins labels with "; " (one label itself contains ", ").
            assert names == set(table.at[pid, "labels_43"].split("; "))
            s2_dir, s1_dir = root / REAL_FOLDERS["s2_folder"] / pid, root / REAL_FOLDERS["s1_folder"] / pid_s1
            b02 = tifffile.imread(s2_dir / f"{pid}_B02.tif").astype(np.float32)
            assert torch.equal(sample["s2"][S2_BANDS.index("B02")], torch.from_numpy(b02))  # 10 m: untouched
            b01 = tifffile.imread(s2_dir / f"{pid}_B01.tif").astype(np.float32)  # 20x20 -> 120x120
            up = sample["s2"][0]
            assert abs(float(up.mean()) - float(b01.mean())) < 0.02 * float(b01.mean())
            back = F.avg_pool2d(up[None, None], 6)[0, 0]
            assert torch.corrcoef(torch.stack([back.flatten(), torch.from_numpy(b01).flatten()]))[0, 1] > 0.9
            vh = tifffile.imread(s1_dir / f"{pid_s1}_VH.tif")
            assert torch.equal(sample["s1"][1], torch.from_numpy(vh))
            assert -25 < float(sample["s1"][0].mean()) < -5  # VV backscatter in dB
    assert len(seen) == 6
    snow = pd.concat([d.metadata for d in parts.values()]).set_index("patch_id")["seasonal_snow"]
    assert snow.to_dict() == table["seasonal_snow"].to_dict()


@pytest.mark.realdata
def test_real_bigearthnet_19_classes_and_single_modality(real_data: Path) -> None:
    root = real_data / "ben-ge-sample"
    s2_only = BigEarthNet(root, "train", modalities=("s2",), label_set="19", **REAL_FOLDERS)
    assert s2_only.classes == tuple(BIGEARTHNET_19) and len(s2_only.classes) == 19
    sample = s2_only[0]
    assert set(sample) == {"s2", "label"} and sample["label"].shape == (19,)
    pid = s2_only.metadata.at[0, "patch_id"]
    labels43 = json.loads((root / REAL_FOLDERS["s2_folder"] / pid / f"{pid}_labels_metadata.json").read_text())["labels"]
    expected = {c for c, srcs in BIGEARTHNET_19.items() if set(srcs) & set(labels43)}
    assert {s2_only.classes[j] for j in sample["label"].nonzero().flatten().tolist()} == expected
    s1_only = BigEarthNet(root, "test", modalities=("s1",), bands=(), **REAL_FOLDERS)
    assert set(s1_only[0]) == {"s1", "label"} and s1_only[0]["s1"].shape == (2, 120, 120)


# --- BigEarthNet, tiny fixture ------------------------------------------------------------------

def test_bigearthnet_bad_pairing_and_bands(tmp_path: Path, make_bigearthnet) -> None:
    root = make_bigearthnet(tmp_path)
    ds = BigEarthNet(root, "train", bands=("B04", "B8A"))
    assert ds[0]["s2"].shape == (2, 120, 120) and ds.modalities[0].bands == ("B04", "B8A")
    with pytest.raises(DataError, match="B10"):
        BigEarthNet(root, bands=("B10",))
    s1 = next((root / "sentinel-1").iterdir())
    meta = s1 / f"{s1.name}_labels_metadata.json"
    meta.write_text(json.dumps({"labels": ["Pastures"], "corresponding_s2_patch": "S2_missing"}))
    with pytest.raises(DataError, match="S2_missing"):
        BigEarthNet(root)
    meta.write_text(json.dumps({"labels": ["Not a CORINE class"], "corresponding_s2_patch": "x"}))
    with pytest.raises(DataError, match="Not a CORINE class"):
        BigEarthNet(root, modalities=("s1",))


# --- ben-ge, tiny fixture -------------------------------------------------------------------------

ALL = ("s2", "s1", "dem", "worldcover", "season", "era5", "climatezone")


def test_benge_all_modalities(tmp_path: Path, make_benge) -> None:
    root = make_benge(tmp_path, n=12)
    parts = {s: BenGe(root, s, modalities=ALL) for s in SPLITS}
    assert sum(len(d) for d in parts.values()) == 12
    ds = parts["train"]
    assert ds.name == "ben-ge-tiny" and ds.classes == WORLDCOVER_CLASSES
    info = {m.name: m for m in ds.modalities}
    assert info["s2"].bands == S2_BANDS and info["season"].kind == "vector"
    assert info["climatezone"].bands == ("zone_14", "zone_15", "zone_26")
    assert info["era5"].bands == ("temperature_s2", "relhumidity_s2")
    wc = pd.read_csv(root / "ben-ge-tiny_esaworldcover.csv").set_index("patch_id")
    cz = pd.read_csv(root / "ben-ge-tiny_climatezones.csv").set_index("patch_id")
    for i in range(len(ds)):
        s = ds[i]
        pid = ds.metadata.at[i, "patch_id"]
        assert s["s2"].shape == (12, 120, 120) and s["s1"].shape == (2, 120, 120) and s["dem"].shape == (1, 120, 120)
        assert s["worldcover"].shape == (11, 120, 120) and torch.all(s["worldcover"].sum(0) == 1)
        codes = tifffile.imread(root / "esaworldcover" / f"{pid}_esaworldcover.tif")
        assert torch.equal(s["worldcover"][0], torch.from_numpy(codes == 10).float())
        np.testing.assert_allclose(s["worldcover"].mean(dim=(1, 2)).numpy(), wc.loc[pid].to_numpy(), atol=1e-6)
        assert int(s["label"]) == int(np.argmax(wc.loc[pid].to_numpy()))
        season = ds.metadata.at[i, "season_s2"]
        assert s["season"].tolist() == [float(season == x) for x in ("spring", "summer", "autumn", "winter")]
        assert s["climatezone"].tolist() == [float(cz.at[pid, "climatezone"] == z) for z in (14, 15, 26)]
        assert s["era5"][0] == 280.0 + int(pid.split("_")[-2])
    assert "cloud_fraction" in ds.metadata.columns


def test_benge_multilabel_target_and_band_choice(tmp_path: Path, make_benge) -> None:
    root = make_benge(tmp_path, n=8)
    ds = BenGe(root, "train", modalities=("s2",), bands=("B08", "B01"), target="multi", threshold=0.25)
    wc = pd.read_csv(root / "ben-ge-tiny_esaworldcover.csv").set_index("patch_id")
    s = ds[0]
    assert s["s2"].shape == (2, 120, 120) and s["label"].dtype == torch.float32 and s["label"].shape == (11,)
    pid = ds.metadata.at[0, "patch_id"]
    assert s["label"].tolist() == (wc.loc[pid].to_numpy() >= 0.25).astype(float).tolist()
    assert s["label"].sum() == 2  # the fixture's two classes cover ~70 % and ~30 %
    raw = tifffile.imread(root / "sentinel-2" / pid / f"{pid}_B08.tif").astype(np.float32)
    assert torch.equal(s["s2"][0], torch.from_numpy(raw))


def test_benge_split_files_and_name(tmp_path: Path, make_benge) -> None:
    root = make_benge(tmp_path, n=9)
    ids = pd.read_csv(root / "ben-ge-tiny_meta.csv")["patch_id"].tolist()
    for split, part in zip(SPLITS, (ids[:5], ids[5:7], ids[7:])):
        pd.Series(part).to_csv(root / f"ben-ge-tiny_{split}.csv", index=False, header=False)
    assert BenGe(root, "val", name="ben-ge-tiny").patch_ids == ids[5:7]
    assert BenGe(root, "test").patch_ids == ids[7:]


def test_benge_seeded_split_deterministic(tmp_path: Path, make_benge) -> None:
    root = make_benge(tmp_path, n=20)
    a = [BenGe(root, s, split_seed=1).patch_ids for s in SPLITS]
    b = [BenGe(root, s, split_seed=1).patch_ids for s in SPLITS]
    assert a == b and sorted(sum(a, [])) == sorted(pd.read_csv(root / "ben-ge-tiny_meta.csv")["patch_id"])
    assert [len(x) for x in a] == [14, 3, 3]


def test_encode_season_variants() -> None:
    names = encode_season(pd.Series(["Spring", "fall", "winter", "summer"]), None, "t")
    assert names.argmax(1).tolist() == [0, 2, 3, 1]
    codes = encode_season(pd.Series([3, 0, 1]), None, "t")
    assert codes.argmax(1).tolist() == [3, 0, 1]
    stamps = pd.Series(["2017-04-02", "2017-07-01", "2017-10-10", "2018-01-20"])
    benge = encode_season(pd.Series([0.5, 0.98, 0.45, 0.05]), stamps, "t")
    assert benge.argmax(1).tolist() == [0, 1, 2, 3] and benge.sum(1).tolist() == [1, 1, 1, 1]
    soft = encode_season(pd.Series([0.9, 0.5, 0.1]), None, "t")
    assert soft.tolist() == [[0, 1, 0, 0], [0.5, 0, 0.5, 0], [0, 0, 0, 1]]
    with pytest.raises(DataError, match="monsoon"):
        encode_season(pd.Series(["monsoon"]), None, "t")


# --- ben-ge bad input -----------------------------------------------------------------------------

def test_benge_bad_input(tmp_path: Path, make_benge) -> None:
    root = make_benge(tmp_path / "a", n=6)
    with pytest.raises(DataError, match="modalities"):
        BenGe(root, modalities=("s2", "lidar"))
    with pytest.raises(DataError, match="target"):
        BenGe(root, target="regression")
    meta = pd.read_csv(root / "ben-ge-tiny_meta.csv")
    meta.drop(columns=["season_s2"]).to_csv(root / "ben-ge-tiny_meta.csv", index=False)
    with pytest.raises(DataError, match=r"ben-ge-tiny_meta.csv: missing column.*season_s2"):
        BenGe(root, modalities=("season",))
    BenGe(root, modalities=("s2",))  # season not asked for: the column is not needed
    meta.to_csv(root / "other_meta.csv", index=False)
    with pytest.raises(DataError, match="exactly one"):
        BenGe(root)
    (root / "other_meta.csv").unlink()
    ds = BenGe(root, "train", modalities=("s1",), fractions=(1.0, 0.0, 0.0))
    pid_s1 = ds.metadata.at[0, "patch_id_s1"]
    (root / "sentinel-1" / pid_s1 / f"{pid_s1}_VH.tif").unlink()
    with pytest.raises(DataError, match=f"{pid_s1}_VH.tif: file not found"):
        ds[0]
    wc = pd.read_csv(root / "ben-ge-tiny_esaworldcover.csv")
    wc.iloc[1:].to_csv(root / "ben-ge-tiny_esaworldcover.csv", index=False)
    with pytest.raises(DataError, match=r"esaworldcover.csv: no row for 1 patch id"):
        BenGe(root)
    wc.astype({"cropland": object}).assign(cropland=["n/a"] + wc["cropland"].iloc[1:].tolist()).to_csv(
        root / "ben-ge-tiny_esaworldcover.csv", index=False)
    with pytest.raises(DataError, match=r"esaworldcover.csv: column 'cropland' of patch .* is not a number"):
        BenGe(root)
    with pytest.raises(DataError, match="not found"):
        BenGe(tmp_path / "missing")
