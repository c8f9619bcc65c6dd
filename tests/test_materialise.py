from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from eo_tasks.data import DataConfig, DataError, EuroSATRGB, TaskInfo, dataset_for, decode, load_task_data

SPLITS = ("train", "val", "test")


def _cache_files(cache: Path) -> list[Path]:
    return sorted((cache / "tasks").glob("*.pt"))


def test_eurosat_materialise_normalises_with_train_stats(tmp_path: Path, make_eurosat_rgb, capsys) -> None:
    root = make_eurosat_rgb(tmp_path / "data", per_class=10)  # 40 images
    cfg = DataConfig(kind="eurosat-rgb", root=str(root), image_size=16, cache_dir=str(tmp_path / "cache"))
    data = load_task_data(cfg, progress=True)
    assert "100%" in capsys.readouterr().err
    assert data.info.classes == ("Forest", "Highway", "River", "SeaLake") and not data.info.synthetic
    assert data.info.source == str(root.resolve()) and data.info.image_size == 16
    assert [len(data.splits[s]) for s in SPLITS] == [28, 6, 6]
    train = data.splits["train"].inputs["rgb"]
    assert train.shape == (28, 3, 16, 16) and train.dtype == torch.float32
    torch.testing.assert_close(train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(train.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    assert data.splits["train"].labels.dtype == torch.int64
    # val/test are normalised with the TRAIN statistics recorded in TaskInfo.
    (rgb,) = data.info.modalities
    mods = EuroSATRGB(root, "train").modalities
    raw_val = decode(EuroSATRGB(root, "val"), mods, 16).inputs["rgb"]
    mean, std = torch.tensor(rgb.mean).view(1, 3, 1, 1), torch.tensor(rgb.std).view(1, 3, 1, 1)
    torch.testing.assert_close(data.splits["val"].inputs["rgb"], (raw_val - mean) / std, atol=1e-4, rtol=1e-5)
    raw_train = decode(EuroSATRGB(root, "train"), mods, 16).inputs["rgb"]
    torch.testing.assert_close(torch.tensor(rgb.mean), raw_train.double().mean(dim=(0, 2, 3)).float())
    assert 0 < min(rgb.std) and max(rgb.mean) < 255


def test_cache_is_reused_and_keyed_by_files(tmp_path: Path, make_eurosat_rgb) -> None:
    root = make_eurosat_rgb(tmp_path / "data", per_class=4)
    cache = tmp_path / "cache"
    cfg = DataConfig(kind="eurosat-rgb", root=str(root), image_size=8, cache_dir=str(cache))
    first = load_task_data(cfg)
    (path,) = _cache_files(cache)
    payload = torch.load(path, weights_only=True)  # plain tensors/strings only
    assert TaskInfo.from_json(payload["info"]) == first.info
    stamp = path.stat().st_mtime_ns
    second = load_task_data(cfg)
    assert path.stat().st_mtime_ns == stamp and _cache_files(cache) == [path]
    for s in SPLITS:
        assert torch.equal(first.splits[s].inputs["rgb"], second.splits[s].inputs["rgb"])
        assert torch.equal(first.splits[s].labels, second.splits[s].labels)
    # The second call read the file: a marked cache entry comes back as written.
    payload["splits"]["test"]["labels"][0] = 3
    torch.save(payload, path)
    assert int(load_task_data(cfg).splits["test"].labels[0]) == 3
    # A different image size, or a changed file list, is another cache entry.
    load_task_data(DataConfig(kind="eurosat-rgb", root=str(root), image_size=12, cache_dir=str(cache)))
    assert len(_cache_files(cache)) == 2
    make_eurosat_rgb(root, classes=("Pasture",), per_class=4)
    grown = load_task_data(cfg)
    assert len(_cache_files(cache)) == 3 and "Pasture" in grown.info.classes
    assert sum(len(grown.splits[s]) for s in SPLITS) == 20


def test_damaged_cache_is_rebuilt(tmp_path: Path, make_eurosat_rgb) -> None:
    root = make_eurosat_rgb(tmp_path / "data", per_class=3)
    cfg = DataConfig(kind="eurosat-rgb", root=str(root), image_size=8, cache_dir=str(tmp_path / "cache"))
    first = load_task_data(cfg)
    (path,) = _cache_files(tmp_path / "cache")
    path.write_bytes(b"truncated")
    again = load_task_data(cfg)
    assert torch.equal(first.splits["train"].inputs["rgb"], again.splits["train"].inputs["rgb"])
    assert torch.load(path, weights_only=True)["format"]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_cache_dir_from_environment(tmp_path: Path, make_eurosat_rgb, monkeypatch) -> None:
    root = make_eurosat_rgb(tmp_path / "data", per_class=3)
    monkeypatch.setenv("HYPERZOO_CACHE", str(tmp_path / "envcache"))
    load_task_data(DataConfig(kind="eurosat-rgb", image_size=8), root=root)
    assert len(_cache_files(tmp_path / "envcache")) == 1


def test_benge_materialise_with_vectors_and_meta(tmp_path: Path, make_benge) -> None:
    root = make_benge(tmp_path / "benge", n=10)
    cfg = DataConfig(kind="benge", root=str(root), modalities=("s2", "s1", "worldcover", "season", "climatezone"),
                     bands=("B04", "B03", "B02", "B8A"), image_size=8, target="multi", multilabel_threshold=0.2,
                     cache_dir=str(tmp_path / "cache"))
    data = load_task_data(cfg)
    assert data.info.multilabel and len(data.info.classes) == 11
    train = data.splits["train"]
    shapes = {k: tuple(v.shape[1:]) for k, v in train.inputs.items()}
    assert shapes == {"s2": (4, 8, 8), "s1": (2, 8, 8), "worldcover": (11, 8, 8), "season": (4,), "climatezone": (3,)}
    assert train.labels.dtype == torch.float32 and train.labels.shape == (len(train), 11)
    s2 = next(m for m in data.info.modalities if m.name == "s2")
    assert s2.bands == ("B04", "B03", "B02", "B8A") and 100 < s2.mean[0] < 4000
    assert isinstance(train.meta["cloud_fraction"], np.ndarray) and set(train.meta) >= {"lon", "lat", "cloud_fraction"}
    sub = train.subset(np.array([0, 1]))
    assert sub.meta["cloud_fraction"].tolist() == train.meta["cloud_fraction"][:2].tolist()
    for name in ("s2", "s1"):
        torch.testing.assert_close(train.inputs[name].mean(dim=(0, 2, 3)), torch.zeros(shapes[name][0]), atol=1e-4, rtol=0)


@pytest.mark.realdata
def test_bigearthnet_real_materialise(tmp_path: Path, real_data: Path) -> None:
    cfg = DataConfig(kind="bigearthnet", s2_folder="BigEarthNet-S2-Example", s1_folder="BigEarthNet-S1-Example",
                     image_size=16, cache_dir=str(tmp_path / "cache"))
    data = load_task_data(cfg, root=real_data / "ben-ge-sample")
    assert data.info.multilabel and len(data.info.classes) == 43
    assert data.splits["train"].inputs["s2"].shape == (4, 12, 16, 16)
    assert data.splits["test"].inputs["s1"].shape == (1, 2, 16, 16)
    assert data.splits["train"].meta["seasonal_snow"].sum() == 1


def test_dataset_for_and_bad_config(tmp_path: Path, make_eurosat_ms) -> None:
    root = make_eurosat_ms(tmp_path / "ms")
    ds = dataset_for(DataConfig(kind="eurosat-ms", bands=("B8A", "B02")), root, "val")
    assert ds[0]["s2"].shape == (2, 64, 64)
    with pytest.raises(DataError, match="modalities"):
        dataset_for(DataConfig(kind="eurosat-ms", modalities=("rgb",)), root, "train")
    with pytest.raises(DataError, match="not found"):
        load_task_data(DataConfig(kind="eurosat-ms", cache_dir=str(tmp_path / "c")), root=tmp_path / "absent")
    with pytest.raises(DataError, match="no synthetic stand-in"):
        load_task_data(DataConfig(kind="bigearthnet", cache_dir=str(tmp_path / "c")))


@pytest.mark.parametrize("kind", ["eurosat-rgb", "eurosat-ms", "benge"])
def test_synthetic_when_root_is_none(tmp_path: Path, kind: str) -> None:
    pytest.importorskip("eo_tasks.data.synth", reason="synthetic generator not installed")
    cfg = DataConfig(kind=kind, synthetic_n=40, synthetic_seed=3, image_size=8, cache_dir=str(tmp_path))
    data = load_task_data(cfg)
    assert data.info.synthetic and "seed=3" in data.info.source
    assert sum(len(data.splits[s]) for s in SPLITS) == 40
    synth = [p for p in (tmp_path / "synthetic").iterdir()]
    assert [p.name for p in synth] == [f"{kind}-n40-seed3"]
    again = load_task_data(cfg)
    assert torch.equal(data.splits["val"].labels, again.splits["val"].labels)
    assert len(_cache_files(tmp_path)) == 1 and os.listdir(tmp_path / "synthetic") == [f"{kind}-n40-seed3"]
