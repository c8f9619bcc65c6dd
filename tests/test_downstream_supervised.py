"""The supervised row of a property report (the run's encoder fine-tuned with a property
head) on the real tiny zoo and tiny run shared with tests/test_downstream_report.py."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downstream_zoo import tiny_zoo_and_run
from hyperrep.downstream import compare_embedding, evaluate, load_data
from hyperrep.downstream.predictors import score
from hyperrep.downstream.config import FineTune, PredictConfig
from hyperrep.downstream.supervised import fine_tune, run_archs

FAST = FineTune(epochs=6, patience=3, threads=1)
AUGMENTED = FineTune(epochs=6, patience=3, threads=1, augment=True)  # seeded too: its draws come from the seed


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_zoo_and_run(tmp_path_factory)


@pytest.fixture(scope="module")
def data_rep(zoo_run):
    from hyperrep.run import HyperRep

    zoo, run = zoo_run
    data, _ = load_data(zoo, run)
    return data, HyperRep.load(run)


def _fit(data, rep, prop: str, values=None, seed: int = 0, options: FineTune = AUGMENTED):
    split = data.rows["split"].to_numpy()
    values = data.rows[prop].to_numpy(float) if values is None else values
    archs = run_archs(rep, {0: data.layout}, np.zeros(len(data.rows), np.int64))
    return fine_tune(rep, data.weights, archs, "number", values, split == "train", split == "val", split == "test",
                     seed=seed, options=options)


def test_fits_on_training_rows_only_and_is_seeded(data_rep):
    data, rep = data_rep
    before = {k: v.clone() for k, v in rep.net.state_dict().items()}
    first = _fit(data, rep, "epoch")
    again = _fit(data, rep, "epoch")
    np.testing.assert_array_equal(first.pred, again.pred)  # seeded: the same predictions twice
    assert first.history == again.history and first.epoch == again.epoch
    # the test rows' targets are never read: scrambling them changes no prediction
    test = (data.rows["split"] == "test").to_numpy()
    scrambled = data.rows["epoch"].to_numpy(float).copy()
    scrambled[test] = np.random.default_rng(1).normal(100, 50, test.sum())
    np.testing.assert_array_equal(_fit(data, rep, "epoch", scrambled).pred, first.pred)
    # the training rows' targets are: the fit is not a constant of the weights alone
    shifted = data.rows["epoch"].to_numpy(float) * 3 + 1
    assert not np.allclose(_fit(data, rep, "epoch", shifted).pred, first.pred)
    assert not np.array_equal(_fit(data, rep, "epoch", seed=1).pred, first.pred)
    # the run itself is left as it was (a copy of the encoder is tuned)
    assert all(torch_equal(v, rep.net.state_dict()[k]) for k, v in before.items())
    assert first.selected_on_val and 1 <= first.epoch <= first.epochs_run <= AUGMENTED.epochs
    assert len(first.history) == first.epochs_run and first.chosen.startswith(f"epoch={first.epoch} of ")


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


def test_beats_a_constant_on_a_property_with_signal(data_rep):
    data, rep = data_rep
    rows = data.rows
    # the weights drift with training at this zoo's learning rate (tests/downstream_zoo.py)
    fitted = _fit(data, rep, "epoch", options=FineTune(threads=1))
    test = (rows["split"] == "test").to_numpy()
    true = rows.loc[test, "epoch"].to_numpy(float)
    constant = np.full(test.sum(), rows.loc[rows["split"] == "train", "epoch"].mean())
    ours, const = score("number", true, fitted.pred), score("number", true, constant)
    assert ours["r2"] > max(const["r2"], 0.0) and ours["mae"] < const["mae"], (ours, const)


def test_cells_in_an_evaluation(data_rep):
    data, rep = data_rep
    ev = evaluate(data, PredictConfig(feature_sets=("s(W)", "pool(emb)", "encoder"), predictors=("ridge",), threads=1,
                                      fine_tune=FAST, resamples=200), run=rep)
    res = ev.results
    sup = res[res["feature_set"] == "encoder"]
    assert set(sup["predictor"]) == {"supervised"} and set(sup["property"]) == set(res["property"])
    assert (sup["note"] == "").all(), sup[["property", "note"]]
    numbers, classes = sup[sup["kind"] == "number"], sup[sup["kind"] == "class"]
    cols = ["r2", "r2_lo", "r2_hi", "kendall_tau", "mae", "mae_lo", "mae_hi", "seconds"]
    assert np.isfinite(numbers[cols].to_numpy(float)).all()
    assert (numbers["r2_lo"] <= numbers["r2_hi"]).all()
    assert np.isfinite(classes[["balanced_accuracy", "balanced_accuracy_lo", "balanced_accuracy_hi"]]
                       .to_numpy(float)).all()
    assert ev.supervised is not None and ev.supervised.epochs == FAST.epochs
    # its test-row predictions are those of every other cell's test rows
    preds = ev.predictions
    for prop in res["property"]:
        mine = preds[(preds["feature_set"] == "encoder") & (preds["property"] == prop)]
        other = preds[(preds["feature_set"] == "s(W)") & (preds["property"] == prop)]
        pd.testing.assert_frame_equal(mine[["model", "epoch", "true"]].reset_index(drop=True),
                                      other[["model", "epoch", "true"]].reset_index(drop=True))
    # neither a self-supervised embedding nor a weight baseline in the verdicts: beside
    # pool(emb) alone it leaves no baseline to compare with
    cmp = compare_embedding(res[res["feature_set"] != "s(W)"], preds, resamples=100)
    assert (cmp["verdict"] == "not compared").all()
    cmp = compare_embedding(res[res["feature_set"] != "pool(emb)"], preds, resamples=100)
    assert (cmp["verdict"] == "not compared").all()
    cmp = compare_embedding(res, preds, resamples=100, embedding_sets=("encoder",))
    assert (cmp["verdict"] != "not compared").all() and (cmp["best_embedding"] == "encoder · supervised").all()
    # asked for without a run: a note, like the embedding's rows
    alone = evaluate(data, PredictConfig(feature_sets=("encoder",), threads=1, resamples=0))
    assert (alone.results["note"] == "no hyper-representation run given").all() and alone.predictions.empty


def test_cli(zoo_run, tmp_path):
    from hyperzoo.cli import build_parser, main

    zoo, run = zoo_run
    out = tmp_path / "supervised"
    argv = ["predict", "--zoo", str(zoo), "--run", str(run), "--out", str(out), "--features", "s(W)",
            "--predictors", "ridge", "--supervised", "--supervised-epochs", "3", "--threads", "1",
            "--resamples", "100", "--quiet"]
    assert main(argv) == 0
    res = pd.read_csv(out / "results.csv", keep_default_na=False)
    # --supervised adds every supervised predictor: the encoder and the learned probes
    assert set(zip(res["feature_set"], res["predictor"])) == {("s(W)", "ridge"), ("encoder", "supervised"),
                                                              ("learned probes", "probegen")}
    assert res.loc[res["feature_set"] == "encoder", "chosen"].str.contains(r"^epoch=\d of [1-3]").all()
    md = (out / "results.md").read_text()
    assert "| encoder · supervised |" in md and "supervised, not a self-supervised embedding" in md
    assert "## Supervised: the encoder fine-tuned" in (out / "summary.md").read_text()
    preds = pd.read_csv(out / "predictions.csv")
    assert (preds["predictor"] == "supervised").sum() == (preds["predictor"] == "ridge").sum() > 0
    assert (preds["predictor"] == "probegen").sum() > 0
    command = (out / "command.txt").read_text().splitlines()[0]
    recorded = vars(build_parser().parse_args(shlex.split(command)[1:]))
    assert recorded["supervised"] and recorded["supervised_epochs"] == 3
    # off by default; naming the predictor alone gives only the supervised row
    plain = tmp_path / "plain"
    assert main(["predict", "--zoo", str(zoo), "--run", str(run), "--out", str(plain), "--features", "s(W)",
                 "--predictors", "ridge", "--threads", "1", "--resamples", "0", "--quiet"]) == 0
    assert "encoder" not in set(pd.read_csv(plain / "results.csv")["feature_set"])
    only = tmp_path / "only"
    assert main(["predict", "--zoo", str(zoo), "--run", str(run), "--out", str(only), "--predictors", "supervised",
                 "--supervised-epochs", "2", "--threads", "1", "--resamples", "0", "--quiet"]) == 0
    assert set(pd.read_csv(only / "results.csv")["feature_set"]) == {"encoder"}
    some = tmp_path / "some"
    assert main(["predict", "--zoo", str(zoo), "--run", str(run), "--out", str(some), "--features", "encoder",
                 "--supervised-properties", "epoch", "init", "--supervised-epochs", "2", "--supervised-augment",
                 "--threads", "1", "--resamples", "0", "--quiet"]) == 0
    assert sorted(pd.read_csv(some / "results.csv")["property"]) == ["epoch", "init"]
    assert "augmented as the run trained" in (some / "results.md").read_text()
    assert main(["predict", "--zoo", str(zoo), "--run", str(run), "--out", str(tmp_path / "bad"), "--supervised",
                 "--supervised-properties", "nonsense", "--threads", "1"]) == 2


def test_several_architectures(tmp_path_factory: pytest.TempPathFactory, tiny_fusion_zoo: Path):
    """A run over every fusion mode of configs/zoos/tiny_fusion.toml: each row goes through
    the encoder as its own architecture (matched to the run's by layout)."""
    from hyperrep import train_hyperrep
    from hyperrep.run import HyperRep
    from test_hyperrep_multiarch import tiny_config

    folder = tmp_path_factory.mktemp("fusion")
    train_hyperrep(tiny_fusion_zoo, tiny_config(loss={"probe": "random"}), folder / "run")
    data, _ = load_data(tiny_fusion_zoo, folder / "run")
    rep = HyperRep.load(folder / "run")
    assert data.mixed and len(rep.archs) > 1
    archs = run_archs(rep, data.layouts, data.rows["arch"].to_numpy())
    assert all(rep.layouts[a] == data.layouts[z] for a, z in zip(archs, data.rows["arch"]))
    ev = evaluate(data, PredictConfig(feature_sets=("encoder",), threads=1, fine_tune=FAST, resamples=100), run=rep)
    res = ev.results.set_index("property")
    assert np.isfinite(res.loc["fusion", ["balanced_accuracy", "balanced_accuracy_lo"]].to_numpy(float)).all()
    assert np.isfinite(res.loc["test_acc", ["r2", "mae"]].to_numpy(float)).all()
