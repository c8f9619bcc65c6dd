"""Imported public zoos scored on their task: the importer records the dataset and its paper's
preprocessing in the zoo's [data]; given the folder of the standard files, Zoo.task_data
builds it, an imported network computes on it what the source network computes on the
paper's preprocessing, and `hyperzoo sample` reports zero-shot and fine-tuned accuracies
(and `hyperzoo sparsify` runs). Without the folder the report says which folder to pass."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from public_zoo_fixtures import keras_cnn_forward, write_modelzoos, write_unterthiner

from hyperzoo.cli import main

ROOT = Path(__file__).resolve().parents[1]


def write_mnist_folder(folder: Path, n_train: int, n_test: int, seed: int) -> dict[str, tuple]:
    """MNIST's four gzipped IDX files (magic, big-endian sizes, row-major bytes)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        for name, arr in ((f"{prefix}-images-idx3-ubyte", x), (f"{prefix}-labels-idx1-ubyte", y)):
            header = bytes([0, 0, 8, arr.ndim]) + b"".join(struct.pack(">I", s) for s in arr.shape)
            (folder / f"{name}.gz").write_bytes(gzip.compress(header + arr.tobytes()))
        out[split] = (x, y)
    return out


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An imported Small CNN Zoo (MNIST), a tiny MNIST folder and a tiny hyperrep run on the zoo."""
    from eo_tasks.config import dump_toml
    from hyperrep import HyperRepConfig

    tmp = tmp_path_factory.mktemp("import_scoring")
    src = tmp / "mnist"
    flat, table = write_unterthiner(src, n_models=6, crashed=False)
    zoo = tmp / "u.h5"
    assert main(["zoo", "import", "--format", "unterthiner", str(src), "--out", str(zoo)]) == 0
    data = tmp / "MNIST"
    written = write_mnist_folder(data, n_train=40, n_test=20, seed=1)
    cfg = HyperRepConfig.load(ROOT / "configs" / "hyperrep" / "tiny.toml").to_dict()
    cfg["train"].update(epochs=2, device="cpu", threads=1, checkpoint_every=1)
    cfg["loss"].update(probe="random")
    (tmp / "rep.toml").write_text(dump_toml(cfg))
    run = tmp / "run"
    assert main(["hyperrep", "train", "--zoo", str(zoo), "--config", str(tmp / "rep.toml"), "--out", str(run),
                 "--quiet"]) == 0
    return {"src": src, "flat": flat, "table": table, "zoo": zoo, "data": data, "written": written, "run": run}


def test_imported_network_matches_the_source_on_the_papers_preprocessing(imported) -> None:
    from zoo import Zoo

    with Zoo.open(imported["zoo"]) as zoo:
        data_cfg = zoo.config.data
        assert (data_cfg.kind, data_cfg.recipe, data_cfg.channels, data_cfg.image_size, data_cfg.root) == \
            ("mnist", "unterthiner", 1, 28, None)
        task = zoo.task_data(root=imported["data"])
        net = zoo.load_model(0, epoch=86)
    x_raw, y = imported["written"]["test"]
    assert torch.equal(task.splits["test"].labels, torch.from_numpy(y.astype(np.int64)))
    # train_network.py: image / 255 into [-1, 1]; the source network from the published Keras arrays
    x_paper = torch.from_numpy(x_raw.astype(np.float64) / 255.0 * 2.0 - 1.0)[:, None]
    row = int(np.flatnonzero((imported["table"]["modeldir"] == "/workdir/mnist/run_0000").to_numpy())[-1])
    want = keras_cnn_forward(imported["flat"][row], x_paper, "relu", imported["src"] / "layout.csv")
    with torch.no_grad():
        got = net({"image": task.splits["test"].inputs["image"]})
    torch.testing.assert_close(got.double(), want, atol=1e-4, rtol=1e-4)


def test_sample_scores_an_imported_zoo_given_its_data(imported, tmp_path: Path, capsys) -> None:
    out, report = tmp_path / "s.h5", tmp_path / "s-report"
    capsys.readouterr()
    assert main(["sample", "--zoo", str(imported["zoo"]), "--run", str(imported["run"]), "--out", str(out),
                 "--n", "4", "--anchors", "2", "--finetune-epochs", "1", "--finetune-models", "2",
                 "--candidates", "2", "--threads", "1", "--data-root", str(imported["data"])]) == 0
    printed = capsys.readouterr().out
    assert "zero-shot test_acc mean" in printed and "not measured" not in printed, printed
    zero_shot = pd.read_csv(report / "zero_shot.csv")
    sampled = zero_shot[zero_shot["source"] == "sampled"]
    assert len(sampled) and sampled["test_acc"].between(0, 1).all()
    finetune = pd.read_csv(report / "finetune.csv")
    assert {"sampled", "anchor"} <= set(finetune["source"]) and set(finetune["epoch"]) >= {1}
    assert finetune["test_acc"].notna().all() and finetune["test_acc"].between(0, 1).all()
    summary = (report / "summary.md").read_text()
    assert "## Zero-shot test accuracy" in summary and "## Fine-tuning" in summary
    assert "not measured" not in summary


def test_without_the_folder_the_report_says_which_to_pass(imported, tmp_path: Path, capsys) -> None:
    from eo_tasks.data import DataError
    from zoo import Zoo

    out = tmp_path / "s.h5"
    capsys.readouterr()
    assert main(["sample", "--zoo", str(imported["zoo"]), "--run", str(imported["run"]), "--out", str(out),
                 "--n", "2", "--anchors", "2", "--finetune-models", "0", "--candidates", "2"]) == 0
    printed = capsys.readouterr().out
    assert "accuracies not measured: no task data in this zoo" in printed
    assert "--data-root" in printed and "train-images-idx3-ubyte" in printed
    summary = (tmp_path / "s-report" / "summary.md").read_text()
    assert "Accuracies not measured" in summary and "--data-root" in summary
    with Zoo.open(imported["zoo"]) as zoo, pytest.raises(DataError, match="pass --data-root"):
        zoo.task_data()


def test_sparsify_runs_on_an_imported_zoo(imported, tmp_path: Path, capsys) -> None:
    out = tmp_path / "sparse"
    assert main(["sparsify", "--zoo", str(imported["zoo"]), "--out", str(out), "--ratios", "0.5",
                 "--finetune-epochs", "1", "--max-models", "2", "--threads", "1",
                 "--data-root", str(imported["data"])]) == 0
    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) and curves.select_dtypes("number").notna().any().all()
    acc = [c for c in curves.columns if c.endswith("acc")]
    assert acc and curves[acc].stack().between(0, 1).all()


def test_modelzoos_import_records_the_papers_split(tmp_path: Path) -> None:
    from zoo import Zoo, import_zoo

    write_modelzoos(tmp_path / "tune_zoo_mnist_hyperparameter_10_random_seeds", n_models=2)
    out = import_zoo("modelzoos", tmp_path / "tune_zoo_mnist_hyperparameter_10_random_seeds", tmp_path / "m.h5")
    written = write_mnist_folder(tmp_path / "data", n_train=30, n_test=8, seed=2)
    with Zoo.open(out) as zoo:
        d = zoo.config.data
        assert (d.kind, d.recipe, d.split_seed) == ("mnist", "modelzoos", 42)
        assert d.val_fraction == pytest.approx(10000 / 60000)
        task = zoo.task_data(root=tmp_path / "data")
    x = written["test"][0].astype(np.float64) / 255.0
    np.testing.assert_allclose(task.splits["test"].inputs["image"][:, 0].numpy(), (x - 0.1307) / 0.3081,
                               atol=1e-5)  # the generator script's Normalize((0.1307,), (0.3081,))
    assert len(task.splits["val"]) == 5 and len(task.splits["train"]) == 25
