"""The public zoos' datasets read from tiny files written in exactly their distributed formats:
values round-trip, each paper's preprocessing is applied, the val split is the seeded
hold-out (Model Zoos': torch's random_split), and bad files are one clear error naming them.
The CIFAR-10 Python version goes through a restricted unpickler that refuses os.system."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from eo_tasks.data import DataConfig, DataError, load_task_data
from eo_tasks.data.public import read_cifar10, read_mnist, read_stl10, read_svhn, restricted_load


# ---- writers of the distributed formats (independent of the readers) -----------------------
def write_idx(path: Path, array: np.ndarray, gz: bool) -> Path:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path = path.with_name(path.name + ".gz") if gz else path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def write_mnist(folder: Path, n_train: int, n_test: int, seed: int, gz: bool) -> dict[str, tuple]:
    rng = np.random.default_rng(seed)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", x, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", y, gz)
        out[split] = (x, y)
    return out


def rgb_images(rng: np.random.Generator, n: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8), rng.integers(0, 10, n)


def write_cifar_bin(folder: Path, per_batch: int, seed: int) -> dict[str, tuple]:
    rng = np.random.default_rng(seed)
    folder = folder / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    parts: dict[str, list] = {"train": [], "test": []}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        x, y = rgb_images(rng, per_batch, 32)
        with (folder / name).open("wb") as f:
            for img, label in zip(x, y):  # label byte, then the R, G and B planes row by row
                f.write(bytes([label]) + img[:, :, 0].tobytes() + img[:, :, 1].tobytes() + img[:, :, 2].tobytes())
        parts["test" if name.startswith("test") else "train"].append((x, y))
    return {s: (np.concatenate([p[0] for p in v]), np.concatenate([p[1] for p in v])) for s, v in parts.items()}


def write_svhn(folder: Path, n: int, seed: int) -> dict[str, tuple]:
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split in ("train", "test"):
        x, _ = rgb_images(rng, n, 32)
        digits = np.arange(n) % 10
        y = np.where(digits == 0, 10, digits).reshape(n, 1).astype(np.uint8)  # 10 stands for the digit 0
        savemat(folder / f"{split}_32x32.mat", {"X": x.transpose(1, 2, 3, 0), "y": y})
        out[split] = (x, digits)
    return out


def write_stl10(folder: Path, n: int, seed: int) -> dict[str, tuple]:
    rng = np.random.default_rng(seed)
    folder = folder / "stl10_binary"
    folder.mkdir(parents=True)
    out = {}
    for split in ("train", "test"):
        x, y = rgb_images(rng, n, 96)
        with (folder / f"{split}_X.bin").open("wb") as f:
            for img in x:
                for c in range(3):  # each channel column-major: Fortran order of the H x W plane
                    f.write(np.asfortranarray(img[:, :, c]).tobytes(order="F"))
        (folder / f"{split}_y.bin").write_bytes((y + 1).astype(np.uint8).tobytes())
        out[split] = (x, y)
    return out


def cfg(kind: str, root: Path, tmp: Path, **kw) -> DataConfig:
    return DataConfig(kind=kind, root=str(root), cache_dir=str(tmp / "cache"), **kw)


# ---- readers -------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    written = write_mnist(tmp_path / "MNIST" / "raw", 7, 5, seed=1, gz=gz)  # torchvision's layout
    for split in ("train", "test"):
        x, y = read_mnist(tmp_path, "mnist", split)
        assert x.shape == (len(written[split][0]), 28, 28, 1) and x.dtype == np.uint8
        assert np.array_equal(x[..., 0], written[split][0]) and np.array_equal(y, written[split][1])


def test_idx_bad_files_name_the_file(tmp_path: Path) -> None:
    write_mnist(tmp_path, 4, 3, seed=0, gz=False)
    images = tmp_path / "train-images-idx3-ubyte"
    raw = images.read_bytes()
    images.write_bytes(raw[:-10])  # truncated
    with pytest.raises(DataError, match=rf"{images}.*truncated"):
        read_mnist(tmp_path, "mnist", "train")
    images.write_bytes(b"\x00\x00\x08\x01" + raw[4:])  # a labels magic number on the images file
    with pytest.raises(DataError, match=rf"{images}.*magic number 0x00000803"):
        read_mnist(tmp_path, "mnist", "train")
    images.unlink()
    labels = write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8), gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    labels.write_bytes(labels.read_bytes()[:-6])  # a gzip stream cut short
    with pytest.raises(DataError, match=rf"{labels}: damaged gzip"):
        read_mnist(tmp_path, "mnist", "test")
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        read_mnist(tmp_path, "mnist", "train")


def test_cifar10_binary_round_trip_and_bad_file(tmp_path: Path) -> None:
    written = write_cifar_bin(tmp_path, per_batch=3, seed=2)
    for split in ("train", "test"):
        x, y = read_cifar10(tmp_path, split)
        assert np.array_equal(x, written[split][0]) and np.array_equal(y, written[split][1])
    bad = tmp_path / "cifar-10-batches-bin" / "data_batch_3.bin"
    bad.write_bytes(bad.read_bytes()[:-100])
    with pytest.raises(DataError, match=rf"{bad}.*3073-byte"):
        read_cifar10(tmp_path, "train")


def test_cifar10_python_version_and_restricted_unpickler(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x, y = rgb_images(rng, 2, 32)
        batch = {b"batch_label": b"batch", b"labels": [int(v) for v in y],
                 b"data": x.transpose(0, 3, 1, 2).reshape(2, 3072), b"filenames": [b"a.png", b"b.png"]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))  # as the archive's Python-2 pickles
        written[name] = (x, y)
    x, y = read_cifar10(tmp_path, "test")
    assert np.array_equal(x, written["test_batch"][0]) and np.array_equal(y, written["test_batch"][1])
    x, _ = read_cifar10(tmp_path, "train")
    assert np.array_equal(x[:2], written["data_batch_1"][0]) and len(x) == 10

    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    evil = folder / "data_batch_2"
    evil.write_bytes(pickle.dumps({b"data": Exploit(), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match=rf"{evil}.*refused global (posix|os|nt)\.system"):
        read_cifar10(tmp_path, "train")
    with pytest.raises(DataError, match="refused global"):
        restricted_load(evil)
    assert not marker.exists()  # refused before anything ran
    (folder / "data_batch_2").write_bytes(pickle.dumps({b"data": [1, 2], b"labels": [0, 1]}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_2: expected a dict with 'data' \(uint8"):
        read_cifar10(tmp_path, "train")


def test_svhn_round_trip_maps_10_to_0(tmp_path: Path) -> None:
    written = write_svhn(tmp_path, 12, seed=4)
    x, y = read_svhn(tmp_path, "train")
    assert np.array_equal(x, written["train"][0]) and np.array_equal(y, written["train"][1])
    assert y.min() == 0 and 10 not in y
    (tmp_path / "test_32x32.mat").write_bytes(b"not a MATLAB file at all")
    with pytest.raises(DataError, match=rf"{tmp_path / 'test_32x32.mat'}: not a readable MATLAB file"):
        read_svhn(tmp_path, "test")


def test_stl10_round_trip_column_major(tmp_path: Path) -> None:
    written = write_stl10(tmp_path, 3, seed=5)
    for split in ("train", "test"):
        x, y = read_stl10(tmp_path, split)
        assert np.array_equal(x, written[split][0]) and np.array_equal(y, written[split][1])
    xfile = tmp_path / "stl10_binary" / "test_X.bin"
    xfile.write_bytes(xfile.read_bytes()[:-1])
    with pytest.raises(DataError, match=rf"{xfile}.*27648-byte"):
        read_stl10(tmp_path, "test")


# ---- task data: preprocessing and splits ---------------------------------------------------
def test_unterthiner_grayscale_cifar10(tmp_path: Path) -> None:
    written = write_cifar_bin(tmp_path / "data", per_batch=4, seed=6)
    data = load_task_data(cfg("cifar10", tmp_path / "data", tmp_path, recipe="unterthiner", channels=1))
    x, y = written["test"]
    expected = (x.astype(np.float64) / 255.0 * 2.0 - 1.0).mean(axis=-1)  # train_network.py, then RGB mean
    got = data.splits["test"].inputs["image"]
    assert got.shape == (4, 1, 32, 32) and data.info.modalities[0].name == "image"
    np.testing.assert_allclose(got[:, 0].numpy(), expected, atol=1e-5)
    assert torch.equal(data.splits["test"].labels, torch.from_numpy(y.astype(np.int64)))
    assert data.info.dataset == "cifar10" and data.info.classes[0] == "airplane" and not data.info.synthetic
    assert len(data.splits["train"]) + len(data.splits["val"]) == 20 and len(data.splits["val"]) == 2  # 0.1


def test_modelzoos_recipes_and_split(tmp_path: Path) -> None:
    written = write_mnist(tmp_path / "mnist", 30, 6, seed=7, gz=True)
    c = cfg("mnist", tmp_path / "mnist", tmp_path, recipe="modelzoos", image_size=28, split_seed=42,
            val_fraction=10000 / 60000)
    data = load_task_data(c)
    x_test = written["test"][0].astype(np.float64) / 255.0
    np.testing.assert_allclose(data.splits["test"].inputs["image"][:, 0].numpy(), (x_test - 0.1307) / 0.3081,
                               atol=1e-5)
    # the val split is torch's random_split of the train files with the paper's seed and proportion
    train_part, val_part = torch.utils.data.random_split(range(30), [25, 5],
                                                         generator=torch.Generator().manual_seed(42))
    x_train, y_train = written["train"]
    val_idx = np.sort(np.asarray(list(val_part)))
    assert torch.equal(data.splits["val"].labels, torch.from_numpy(y_train[val_idx].astype(np.int64)))
    np.testing.assert_allclose(data.splits["val"].inputs["image"][:, 0].numpy(),
                               (x_train[val_idx] / 255.0 - 0.1307) / 0.3081, atol=1e-5)
    assert len(data.splits["train"]) == 25 and set(np.sort(list(train_part))).isdisjoint(val_idx)
    again = load_task_data(c)  # from the cache: the same tensors
    assert torch.equal(again.splits["val"].inputs["image"], data.splits["val"].inputs["image"])


def test_modelzoos_resize_and_grayscale(tmp_path: Path) -> None:
    stl = write_stl10(tmp_path / "stl", 2, seed=8)
    data = load_task_data(cfg("stl10", tmp_path / "stl", tmp_path, recipe="modelzoos", image_size=32))
    img = stl["test"][0][1]
    resized = np.asarray(Image.fromarray(img, "RGB").resize((32, 32), Image.Resampling.BILINEAR)) / 255.0
    np.testing.assert_allclose(data.splits["test"].inputs["image"][1].numpy(),
                               ((resized - 0.5) / 0.5).transpose(2, 0, 1), atol=1e-5)
    svhn = write_svhn(tmp_path / "svhn", 10, seed=9)
    data = load_task_data(cfg("svhn", tmp_path / "svhn", tmp_path, recipe="modelzoos", image_size=28, channels=1))
    gray = Image.fromarray(svhn["test"][0][3], "RGB").convert("L").resize((28, 28), Image.Resampling.BILINEAR)
    assert data.splits["test"].inputs["image"].shape == (10, 1, 28, 28)
    np.testing.assert_allclose(data.splits["test"].inputs["image"][3, 0].numpy(),
                               (np.asarray(gray) / 255.0 - 0.1307) / 0.3081, atol=1e-5)
    assert data.splits["test"].labels.tolist() == list(range(10))


def test_standard_recipe_normalises_with_train_statistics(tmp_path: Path) -> None:
    write_mnist(tmp_path / "m", 40, 4, seed=10, gz=False)
    data = load_task_data(cfg("fashion-mnist", tmp_path / "m", tmp_path, image_size=28, val_fraction=0.25))
    train = data.splits["train"].inputs["image"]
    assert len(data.splits["val"]) == 10 and abs(float(train.mean())) < 1e-4 and abs(float(train.std()) - 1) < 1e-2
    assert data.info.classes[-1] == "Ankle boot"


def test_public_kinds_need_a_folder_and_matching_channels(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"set data\.root .*train-images-idx3-ubyte"):
        load_task_data(DataConfig(kind="mnist", cache_dir=str(tmp_path)))
    write_mnist(tmp_path / "m", 4, 2, seed=0, gz=False)
    with pytest.raises(DataError, match="mnist images have 1 channel"):
        load_task_data(cfg("mnist", tmp_path / "m", tmp_path, channels=3, image_size=28))
    with pytest.raises(DataError, match="no CIFAR-10 batches"):
        load_task_data(cfg("cifar10", tmp_path / "m", tmp_path))
