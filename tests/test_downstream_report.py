"""Property prediction end to end on a real tiny zoo and a real tiny hyper-representation run."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downstream_zoo import tiny_zoo_and_run
from eo_tasks.config import ConfigError
from hyperrep.downstream import FEATURE_SETS, PREDICTORS, PredictConfig, Rows, load_data, property_report

PROPERTIES = {"test_acc", "val_acc", "epoch", "gap", "activation", "init"}  # lr, seed, ... do not vary / count


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_zoo_and_run(tmp_path_factory)


@pytest.fixture(scope="module")
def report(zoo_run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    zoo, run = zoo_run
    out = tmp_path_factory.mktemp("report") / "report"
    return out, property_report(zoo, run, out, PredictConfig(threads=1))


def test_every_feature_set_and_predictor_runs(report):
    _, res = report
    assert set(res["property"]) == PROPERTIES
    numbers = {p for p in PROPERTIES if p not in ("activation", "init")}
    # a blend is a row of emb+s(W) and pool(emb)+s(W), for numbers only
    assert len(res) == len(PROPERTIES) * len(FEATURE_SETS) * (len(PREDICTORS) - 1) + len(numbers) * 2
    assert set(res.loc[res["predictor"] == "blend", "property"]) == numbers
    assert (res["note"] == "").all(), res.loc[res["note"] != "", ["feature_set", "predictor", "property", "note"]]
    numbers = res[res["kind"] == "number"]
    classes = res[res["kind"] == "class"]
    assert numbers[["r2", "kendall_tau", "mae"]].notna().all().all()
    assert classes[["accuracy", "balanced_accuracy"]].notna().all().all()


def test_blend_averages_its_two_readouts(report):
    out, res = report
    preds = pd.read_csv(out / "predictions.csv")
    cell = lambda fs, pr, prop: preds[(preds["feature_set"] == fs) & (preds["predictor"] == pr)  # noqa: E731
                                      & (preds["property"] == prop)].set_index(["model", "epoch"])["pred"].astype(float)
    rows = res.set_index(["feature_set", "predictor", "property"])
    for fs, emb in (("emb+s(W)", "emb"), ("pool(emb)+s(W)", "pool(emb)")):
        for prop in ("test_acc", "epoch"):
            w = float(rows.loc[(fs, "blend", prop), "chosen"].split()[0].removeprefix("w="))
            assert 0.0 <= w <= 0.95
            expected = w * cell("s(W)", "gbt", prop) + (1 - w) * cell(emb, "ridge", prop)
            pd.testing.assert_series_equal(cell(fs, "blend", prop), expected, check_names=False, atol=1e-6)
            # w = 0 is among the choices, so on the validation models it is no worse than its ridge readout
            assert rows.loc[(fs, "blend", prop), "val_score"] >= rows.loc[(emb, "ridge", prop), "val_score"] - 1e-9


def test_properties_the_weights_determine_are_predicted(report):
    _, res = report
    epoch = res[res["property"] == "epoch"].set_index(["feature_set", "predictor"])["r2"]
    # the weights drift with training at this zoo's learning rate: their statistics show the epoch
    assert epoch["s(W)"].max() > 0.8, epoch
    activation = res[res["property"] == "activation"].set_index(["feature_set", "predictor"])
    # tanh and leaky ReLU nets train into differently shaped weight distributions
    assert activation.loc["s(W)", "balanced_accuracy"].max() > 0.9, activation["balanced_accuracy"]


def test_all_feature_sets_share_the_run_split(zoo_run, report):
    from zoo import ZooDataset

    zoo, run = zoo_run
    out, res = report
    assert res["split_id"].nunique() == 1
    assert res.groupby("property")[["n_train", "n_val", "n_test"]].nunique().eq(1).all().all()
    preds = pd.read_csv(out / "predictions.csv")
    tested = preds.groupby(["feature_set", "predictor", "property"])["model"].apply(lambda m: tuple(sorted(set(m))))
    assert tested.nunique() == 1
    # the zoo's own split with the run's seed: the models the hyper-representation never trained on
    held_out = ZooDataset(zoo, "test", seed=0, properties=())
    trained_on = ZooDataset(zoo, "train", seed=0, properties=())
    assert set(tested.iloc[0]) == set(held_out.models.tolist())
    assert not set(tested.iloc[0]) & set(trained_on.models.tolist())
    assert json.loads((run / "meta.json").read_text())["models"]["test"] == len(tested.iloc[0]) >= 2


def test_report_folder(report):
    out, res = report
    saved = pd.read_csv(out / "results.csv")
    pd.testing.assert_frame_equal(saved[["feature_set", "predictor", "property"]],
                                  res[["feature_set", "predictor", "property"]])
    np.testing.assert_allclose(saved["r2"], res["r2"].astype(float), equal_nan=True)
    md = (out / "results.md").read_text()
    assert "## R²" in md and "## Balanced accuracy" in md and "**" in md and "| emb · ridge |" in md
    summary = (out / "summary.md").read_text()
    assert all(f"| {p} |" in summary for p in PROPERTIES)
    for prop in PROPERTIES:
        assert (out / f"pred_vs_true_{prop}.png").stat().st_size > 1000
    assert (out / "embedding_pca.png").stat().st_size > 1000
    assert "property_report(" in (out / "command.txt").read_text()


def test_cli_writes_the_command_line_and_keeps_an_existing_report(zoo_run, tmp_path, capsys):
    from hyperzoo.cli import build_parser, main

    zoo, run = zoo_run
    out = tmp_path / "cli-report"
    argv = ["predict", "--zoo", str(zoo), "--run", str(run), "--out", str(out),
            "--features", "emb", "s(W)", "--predictors", "ridge", "--min-epoch", "1", "--threads", "1", "--views", "2"]
    assert main(argv) == 0
    command, where = (out / "command.txt").read_text().splitlines()
    # the recorded command, every option spelled out, parses back to the same request
    recorded = shlex.split(command)
    assert recorded[:2] == ["hyperzoo", "predict"] and where == f"# working directory: {Path.cwd()}"
    again, asked = vars(build_parser().parse_args(recorded[1:])), vars(build_parser().parse_args(argv))
    assert {k: v for k, v in again.items() if k != "func"} == {k: v for k, v in asked.items() if k != "func"}
    assert "--max-gbt-features 4096" in command and "--split-seed" not in command
    res = pd.read_csv(out / "results.csv")
    assert set(res["feature_set"]) == {"emb", "s(W)"} and set(res["predictor"]) == {"ridge"}
    assert "epoch >= 1" in (out / "results.md").read_text()
    assert "mean over 2 views of each checkpoint" in (out / "results.md").read_text()
    before = (out / "results.csv").read_bytes()
    assert main(argv) == 2
    assert "already holds a report" in capsys.readouterr().err
    assert (out / "results.csv").read_bytes() == before
    assert main([*argv, "--overwrite"]) == 0
    assert (out / "command.txt").read_text().splitlines()[0].endswith(" --overwrite")


def test_cli_without_a_run(zoo_run, tmp_path, capsys):
    from hyperzoo.cli import main

    zoo, _ = zoo_run
    out = tmp_path / "no-run"
    assert main(["predict", "--zoo", str(zoo), "--out", str(out)]) == 2
    assert "--run RUN/ is required" in capsys.readouterr().err
    assert main(["predict", "--zoo", str(zoo), "--out", str(out), "--no-run", "--predictors", "ridge",
                 "--features", "emb", "s(W)", "--threads", "1"]) == 0
    res = pd.read_csv(out / "results.csv", keep_default_na=False)
    assert (res.loc[res["feature_set"] == "emb", "note"] == "no hyper-representation run given").all()
    assert (res.loc[res["feature_set"] == "s(W)", "note"] == "").all()
    assert not (out / "embedding_pca.png").exists()


def test_split_seed_override_that_leaks_is_refused(zoo_run):
    zoo, run = zoo_run
    # the run records the models of each split (meta.json split_models): another split seed
    # that puts a model the run trained on among the test models is refused, naming the file
    recorded = json.loads((run / "meta.json").read_text())["split_models"]
    with pytest.raises(ConfigError, match=r"meta.json: test models \[.*\] were in the run's training"):
        load_data(zoo, run, Rows(split_seed=5))
    same, sources = load_data(zoo, run)
    assert sorted(same.models("test")) == recorded["test"] and sources["split seed"] == "0"
    dim = json.loads((run / "meta.json").read_text())["embedding_dim"]
    assert same.notes == [] and same.embeddings.shape == (len(same.rows), dim)
