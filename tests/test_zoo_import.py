"""`hyperzoo zoo import` of the public zoos (fixtures in their published formats): weights,
metrics and layouts survive bit for bit, Zoo.load_model computes what the source network
computes, bad input is one clear error with nothing left behind, and hyperrep train,
predict and sample run on an imported zoo (sample without accuracies: no images)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from public_zoo_fixtures import (REAL_LAYOUT, UNTERTHINER_EPOCHS, keras_cnn_forward, modelzoos_forward,
                                 read_keras_layout, write_modelzoos, write_unterthiner)

from hyperzoo.cli import main


def _keras_flat(layout, flat: np.ndarray, layout_csv: Path) -> np.ndarray:
    """Our layout's flat vector back in the Keras order of ``layout_csv`` (the inverse transposes)."""
    state = {k: v.numpy() for k, v in layout.unflatten(flat).items()}
    rows = read_keras_layout(layout_csv)
    layers = list(dict.fromkeys(name.rsplit("/", 1)[0] for name, *_ in rows))
    ours = {layer: f"conv{i}" for i, layer in enumerate(layers[:-1])} | {layers[-1]: "out"}
    parts = []
    for name, *_ in rows:
        layer, var = name.rsplit("/", 1)
        t = state[f"{ours[layer]}.{'bias' if var.startswith('bias') else 'weight'}"]
        if var.startswith("kernel"):
            t = t.transpose(2, 3, 1, 0) if t.ndim == 4 else t.T
        parts.append(np.ascontiguousarray(t).reshape(-1))
    return np.concatenate(parts)


def test_unterthiner_import_is_exact(tmp_path: Path, capsys) -> None:
    """The real five-column layout.csv and a metrics table with the extra ``laststep`` column."""
    from zoo import Zoo

    src, out = tmp_path / "mnist", tmp_path / "u.h5"
    flat, table = write_unterthiner(src, n_models=3)
    if REAL_LAYOUT.is_file():
        assert (src / "layout.csv").read_bytes() == REAL_LAYOUT.read_bytes()
    assert list(pd.read_csv(src / "layout.csv").columns) == ["varname", "start_idx", "end_idx", "size", "shape"]
    assert "laststep" in table.columns
    assert main(["zoo", "import", "--format", "unterthiner", str(src), "--out", str(out)]) == 0
    assert "3 models imported" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.importing*"))
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with Zoo.open(out) as zoo:
        assert zoo.layout.num_params == 4970 and list(zoo.epochs) == list(UNTERTHINER_EPOCHS)
        imported = json.loads(zoo.file.attrs["imported"])
        assert imported["format"] == "unterthiner"
        # the extra column is named in a note, in the imported attribute and in the provenance
        for notes in (imported["notes"], zoo.provenance["notes"]):
            assert len(notes) == 1 and "metrics.csv.gz" in notes[0] and "laststep -> laststep" in notes[0]
        t = zoo.table
        for i, (modeldir, rows) in enumerate(table.groupby("modeldir", sort=False)):
            assert t.loc[i, "source_name"] == modeldir and t.loc[i, "status"] == "done"
            first = rows.iloc[0]
            assert t.loc[i, "activation"] == first["config.activation"] and t.loc[i, "init"] == first["config.w_init"]
            assert t.loc[i, "lr"] == first["config.learning_rate"] and t.loc[i, "dropout"] == first["config.dropout"]
            # the optimizer column is the source's own (RMSprop included): a faithful prediction target
            assert t.loc[i, "config.optimizer"] == first["config.optimizer"] == t.loc[i, "optimizer"]
            assert t.loc[i, "train_size"] == int(60000 * first["config.train_fraction"])
            m = zoo.metrics[zoo.metrics["model"] == i]
            assert list(m["epoch"]) == list(rows["step"])  # the crashed model has fewer checkpoints
            # laststep changes within a model: kept per checkpoint, in epoch order
            assert json.loads(t.loc[i, "laststep"]) == [bool(v) for v in rows["laststep"]]
            assert json.loads(t.loc[i, "laststep"])[-1] is True
            for col, src_col in [("test_acc", "test_accuracy"), ("train_acc", "train_accuracy"),
                                 ("test_loss", "test_loss"), ("train_loss", "train_loss")]:
                assert np.array_equal(m[col].to_numpy(), rows[src_col].to_numpy())
            for k, step in enumerate(rows["step"]):
                row = flat[table.index.get_loc(rows.index[k])]
                w = zoo.weights(i, epoch=int(step))
                assert np.array_equal(_keras_flat(zoo.layout, w, src / "layout.csv").view(np.uint32),
                                      row.view(np.uint32))
                got = zoo.load_model(i, int(step))({"image": x}).double()
                ref = keras_cnn_forward(row, x, first["config.activation"], src / "layout.csv")
                torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
        # the stored layout permutes without changing the function (its groups are right)
        net = zoo.load_model(0)
        idx = zoo.layout.permutation_index(zoo.layout.random_permutations(np.random.default_rng(1)))
        before = net({"image": x})
        from eo_tasks.models.family import load_flat

        load_flat(net, zoo.weights(0)[idx])
        torch.testing.assert_close(net({"image": x}), before, rtol=1e-4, atol=1e-5)


def test_modelzoos_import_is_exact(tmp_path: Path) -> None:
    """The "uniform" zoos' params.json say o_dim 4; their checkpoints are 10-way."""
    from zoo import Zoo

    src, out = tmp_path / "tune_zoo_mnist", tmp_path / "mz.h5"
    states = write_modelzoos(src, n_models=4, kind="CNN", epochs=3, o_dim=4)
    # def_net.py's output layer (module_list.11 without dropout) is 10-way whatever o_dim says
    assert all(list(s.values())[-2].shape == (10, 20) for by_epoch in states.values() for s in by_epoch.values())
    assert "module_list.11.weight" in next(iter(next(iter(states.values())).values()))
    assert main(["zoo", "import", "--format", "modelzoos", str(src), "--out", str(out), "--dataset", "mnist"]) == 0
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with Zoo.open(out) as zoo:
        assert zoo.layout.num_params == 2464 and list(zoo.epochs) == [0, 1, 2, 3] and zoo.task.dataset == "mnist"
        assert len(zoo.task.classes) == 10
        for notes in (json.loads(zoo.file.attrs["imported"])["notes"], zoo.provenance["notes"]):
            assert len(notes) == 1 and "model::o_dim" in notes[0] and "4 of 4 trials" in notes[0]
            assert "o_dim_note" in notes[0]
        for i, (trial, by_epoch) in enumerate(states.items()):
            assert zoo.table.loc[i, "source_name"] == trial
            params = json.loads((src / trial / "params.json").read_text())
            assert zoo.table.loc[i, "model::o_dim"] == params["model::o_dim"] == 4
            assert zoo.spec(i).num_classes == 10
            note = zoo.table.loc[i, "o_dim_note"]
            assert "model::o_dim 4" in note and "output layer has 10 classes" in note
            assert zoo.table.loc[i, "optim::optimizer"] == params["optim::optimizer"]
            assert zoo.table.loc[i, "optimizer"] == {"rms_prop": "rmsprop"}.get(params["optim::optimizer"],
                                                                               params["optim::optimizer"])
            assert zoo.table.loc[i, "model::nlin"] == params["model::nlin"]
            results = [json.loads(line) for line in (src / trial / "result.json").read_text().splitlines()]
            m = zoo.metrics[zoo.metrics["model"] == i]
            assert np.isnan(m["train_acc"].iloc[0])  # the -999 sentinel before training
            for key in ("test_acc", "val_acc", "val_loss"):
                assert np.array_equal(m[key].to_numpy(), [r[key] for r in results])
            for e, state in by_epoch.items():
                w = zoo.weights(i, epoch=e)
                src_flat = np.concatenate([v.numpy().reshape(-1) for v in state.values()])
                assert np.array_equal(w.view(np.uint32), src_flat.view(np.uint32))
                got = zoo.load_model(i, e)({"image": x})
                torch.testing.assert_close(got, modelzoos_forward("CNN", params, state, x), rtol=1e-5, atol=1e-6)


def test_modelzoos_cnn3(tmp_path: Path) -> None:
    from zoo import import_zoo, Zoo

    states = write_modelzoos(tmp_path / "cifar", n_models=2, kind="CNN3", epochs=1)
    out = import_zoo("modelzoos", tmp_path / "cifar", tmp_path / "c.h5")
    x = torch.randn(2, 3, 32, 32)
    with Zoo.open(out) as zoo:
        for i, (trial, by_epoch) in enumerate(states.items()):
            params = json.loads((tmp_path / "cifar" / trial / "params.json").read_text())
            torch.testing.assert_close(zoo.load_model(i, 1)({"image": x}),
                                       modelzoos_forward("CNN3", params, by_epoch[1], x), rtol=1e-5, atol=1e-6)


def _fails(argv: list[str], capsys, *expected: str) -> None:
    """One error line naming ``expected``, and no output (nor a half-written one) left behind."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and all(e in err for e in expected), err
    out = Path(argv[argv.index("--out") + 1])
    assert not list(out.parent.glob(f"{out.name}.*")), list(out.parent.glob(f"{out.name}.*"))
    assert "already exists" in err or not out.exists()


def test_bad_input_is_one_clear_error_and_leaves_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.h5"
    u = ["zoo", "import", "--format", "unterthiner"]
    src = tmp_path / "u"
    write_unterthiner(src, n_models=2)
    (src / "layout.csv").rename(tmp_path / "layout.csv")
    _fails([*u, str(src), "--out", str(out)], capsys, "layout.csv", "missing", "varname")
    layout = pd.read_csv(tmp_path / "layout.csv")
    layout.iloc[:-1].to_csv(src / "layout.csv", index=False)  # drops the dense kernel
    _fails([*u, str(src), "--out", str(out)], capsys, "layout.csv", "covers 4810 weights", "4970")
    # the published fifth column must agree with start_idx .. end_idx
    layout.assign(size=layout["size"].where(layout.index != 3, 2300)).to_csv(src / "layout.csv", index=False)
    _fails([*u, str(src), "--out", str(out)], capsys, "layout.csv", "row 3", "sequential/conv2d_1/kernel:0",
           "size 2300", "end_idx - start_idx = 2480 - 176 = 2304", "expected size == end_idx - start_idx")
    layout.assign(extra=1).to_csv(src / "layout.csv", index=False)
    _fails([*u, str(src), "--out", str(out)], capsys, "layout.csv", "unknown ['extra']")
    layout.to_csv(src / "layout.csv", index=False)
    metrics = pd.read_csv(src / "metrics.csv.gz", index_col=0)
    # only the columns the importer needs are required, all missing ones named at once
    metrics.drop(columns=["test_accuracy", "config.activation"]).to_csv(src / "metrics.csv.gz")
    _fails([*u, str(src), "--out", str(out)], capsys, "metrics.csv.gz",
           "missing columns ['test_accuracy', 'config.activation']")
    metrics.assign(**{"config.activation": "swish"}).to_csv(src / "metrics.csv.gz")
    _fails([*u, str(src), "--out", str(out)], capsys, "metrics.csv.gz", "'swish'", "activation must be one of")
    metrics.assign(**{"config.optimizer": "adagrad"}).to_csv(src / "metrics.csv.gz")
    _fails([*u, str(src), "--out", str(out)], capsys, "metrics.csv.gz", "'adagrad'", "rmsprop")
    metrics.iloc[:-1].to_csv(src / "metrics.csv.gz")
    _fails([*u, str(src), "--out", str(out)], capsys, "metrics.csv.gz", "one row per checkpoint")
    (src / "weights.npy").unlink()
    _fails([*u, str(src), "--out", str(out)], capsys, "weights.npy", "missing")

    mz = tmp_path / "mz"
    write_modelzoos(mz, n_models=2, epochs=1)
    trial = sorted(p for p in mz.iterdir() if p.is_dir())[1]
    params = json.loads((trial / "params.json").read_text())
    (trial / "params.json").write_text(json.dumps({**params, "model::type": "ResNet18"}))
    _fails(["zoo", "import", "--format", "modelzoos", str(mz), "--out", str(out)], capsys,
           "params.json", "ResNet18", "CNN")
    (trial / "params.json").write_text(json.dumps(params))
    torch.save({"module_list.0.weight": torch.zeros(3, 3)}, trial / "checkpoint_000001" / "checkpoints")
    _fails(["zoo", "import", "--format", "modelzoos", str(mz), "--out", str(out)], capsys,
           "checkpoint_000001/checkpoints", "expected")
    assert not out.exists() and not list(tmp_path.glob("*.importing*"))
    out.write_text("x")
    write_modelzoos(tmp_path / "ok", n_models=1, epochs=1)
    _fails(["zoo", "import", "--format", "modelzoos", str(tmp_path / "ok"), "--out", str(out)], capsys,
           "already exists")


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("imported")
    write_unterthiner(root / "mnist", n_models=12, crashed=False)
    out = root / "u.h5"
    assert main(["zoo", "import", "--format", "unterthiner", str(root / "mnist"), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def imported_run(imported: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """(ZOO.h5, RUN/, config dict): a tiny hyperrep trained on the imported zoo by the CLI."""
    from eo_tasks.config import dump_toml
    from hyperrep import HyperRepConfig

    root, tmp = Path(__file__).resolve().parents[1], tmp_path_factory.mktemp("imported_run")
    cfg = HyperRepConfig.load(root / "configs" / "hyperrep" / "tiny.toml").to_dict()
    cfg["train"].update(epochs=2, device="cpu", threads=1, checkpoint_every=1)
    cfg["loss"].update(probe="random")  # the behaviour loss probes the ConvNets on random images
    cfg_path, run = tmp / "rep.toml", tmp / "run"
    cfg_path.write_text(dump_toml(cfg))
    assert main(["hyperrep", "train", "--zoo", str(imported), "--config", str(cfg_path), "--out", str(run),
                 "--quiet"]) == 0
    assert (run / "model.pt").is_file()
    return imported, run, cfg


def test_hyperrep_predict_on_an_imported_zoo(imported_run, tmp_path: Path, capsys) -> None:
    from eo_tasks.config import dump_toml

    imported, run, cfg = imported_run
    report = tmp_path / "report"
    assert main(["predict", "--zoo", str(imported), "--run", str(run), "--out", str(report), "--predictors",
                 "ridge", "--features", "emb", "s(W)", "--threads", "1", "--resamples", "50", "--quiet"]) == 0
    res = pd.read_csv(report / "results.csv", keep_default_na=False)
    assert {"test_acc", "epoch", "lr", "optimizer"} <= set(res["property"]), set(res["property"])

    # the behaviour loss on the task's images needs them: a clear error
    capsys.readouterr()
    cfg_path = tmp_path / "rep.toml"
    cfg_path.write_text(dump_toml({**cfg, "loss": {**cfg["loss"], "probe": "data"}}))
    assert main(["hyperrep", "train", "--zoo", str(imported), "--config", str(cfg_path), "--out",
                 str(tmp_path / "run2"), "--quiet"]) == 2
    assert "imported public zoo" in capsys.readouterr().err


def test_sample_on_an_imported_zoo(imported_run, tmp_path: Path, capsys) -> None:
    """No task data: the models are sampled, decoded and written, the report keeps its
    weight-space parts and says plainly that no accuracy was measured."""
    from eo_tasks.data.errors import DataError
    from zoo import Zoo

    imported, run, _ = imported_run
    out, report = tmp_path / "s.h5", tmp_path / "s-report"
    capsys.readouterr()
    assert main(["sample", "--zoo", str(imported), "--run", str(run), "--out", str(out), "--n", "4",
                 "--select", "3", "--anchors", "3", "--finetune-models", "2", "--candidates", "2"]) == 0
    printed = capsys.readouterr().out
    assert "accuracies not measured: no task data in this zoo" in printed and "the first 3 kept" in printed
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with Zoo.open(imported) as src, Zoo.open(out) as zoo:
        assert zoo.num_models == 3 and list(zoo.table["status"]) == ["done"] * 3
        assert zoo.layout.to_json() == src.layout.to_json()
        info = json.loads(zoo.file.attrs["sampled"])
        # every sampled model runs with the imported architecture (its first anchor's spec)
        assert all(zoo.spec(i) == src.spec(info["anchor_ids"][0]) for i in range(3))
        assert type(zoo.spec(0).arch).__name__ == "ConvNetArch" and zoo.spec(0).arch.readout == "global_avg"
        assert list(zoo.table["draw"]) == [0, 1, 2]  # without accuracies --select keeps the first draws
        assert zoo.file.attrs["imported"] == src.file.attrs["imported"]
        assert not info["measured"] and info["anchors_by"] == "train_acc"  # Unterthiner records no val_acc
        assert zoo.metrics["test_acc"].isna().all()
        for i in range(zoo.num_models):
            w = zoo.weights(i)
            assert w.shape == (4970,) and np.isfinite(w).all()
            logits = zoo.load_model(i)({"image": x})
            assert logits.shape == (2, 10) and torch.isfinite(logits).all()
        with pytest.raises(DataError, match="imported public zoo"):
            zoo.task_data()

    summary = (report / "summary.md").read_text()
    assert "Accuracies not measured: no task data in this zoo" in summary
    assert "imported public zoo (mnist)" in summary and "training accuracy" in summary
    assert "## Diversity" in summary and "## Zero-shot" not in summary and "## Fine-tuning" not in summary
    for name in ("zero_shot.csv", "zero_shot_hist.png", "finetune.csv", "finetune.png"):
        assert not (report / name).exists(), name
    div = pd.read_csv(report / "diversity.csv").set_index("source")
    assert list(div.index) == ["sampled", "anchor"] and list(div["n"]) == [3, 3]
    assert np.isfinite(div[["mean_dist_aligned", "mean_dist_plain"]].to_numpy()).all()
    assert (div["mean_dist_aligned"] <= div["mean_dist_plain"] + 1e-6).all()
    mem = pd.read_csv(report / "memorisation.csv")
    assert list(mem["source"]) == ["sampled"] * 3  # no accuracy-matched baselines
    assert np.isfinite(mem[["dist_weight_aligned", "dist_weight_plain", "dist_embedding"]].to_numpy()).all()
    assert mem["agreement"].isna().all() and mem["test_acc"].isna().all()


def test_non_finite_published_weights_are_diverged(tmp_path: Path) -> None:
    from zoo import Zoo, import_zoo

    src = tmp_path / "svhn"
    flat, table = write_unterthiner(src, n_models=2, dataset="svhn_cropped", crashed=False)
    flat[len(UNTERTHINER_EPOCHS) + 4, 7] = np.nan  # model 1, epoch 20
    np.save(src / "weights.npy", flat)
    out = import_zoo("unterthiner", src, tmp_path / "s.h5", limit=2)
    with Zoo.open(out) as zoo:
        assert list(zoo.table["status"]) == ["done", "diverged"] and zoo.task.image_size == 32
        assert not np.isfinite(zoo.weights(1, epoch=20)).all() and np.isfinite(zoo.weights(1, epoch=3)).all()


def test_train_network_flag_columns_are_used(tmp_path: Path) -> None:
    """A release whose metrics table records more of train_network.py's flags imports too."""
    from zoo import Zoo, import_zoo

    src = tmp_path / "fashion"
    write_unterthiner(src, n_models=2, dataset="fashion_mnist")
    metrics = pd.read_csv(src / "metrics.csv.gz", index_col=0)
    metrics.assign(**{"config.batchsize": 256, "config.cnn_stride": 2}).to_csv(src / "metrics.csv.gz")
    with Zoo.open(import_zoo("unterthiner", src, tmp_path / "f.h5")) as zoo:
        assert list(zoo.table["batch_size"]) == [256, 256] and list(zoo.table["config.cnn_stride"]) == [2, 2]

