"""The published protocol on an imported Small CNN Zoo: a split given by file (model ids as
row indices or source names), each model's final checkpoint only, Kendall tau and R² of
test accuracy with intervals (``hyperzoo predict --split-file F --final-only``, and
``--protocol small-cnn-zoo`` which sets the same); bad split files are one clear error; with
a run, the file's test models must not be models the run trained on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from public_zoo_fixtures import write_unterthiner
from scipy.stats import kendalltau
from sklearn.metrics import r2_score
from test_import_scoring import write_mnist_folder

from hyperzoo.cli import main

ROOT = Path(__file__).resolve().parents[1]
N_MODELS = 20  # the last one stopped after epoch 20 (its final checkpoint is not the zoo's last epoch)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("protocol")
    _, table = write_unterthiner(tmp / "mnist", n_models=N_MODELS, crashed=True)
    zoo = tmp / "u.h5"
    assert main(["zoo", "import", "--format", "unterthiner", str(tmp / "mnist"), "--out", str(zoo)]) == 0
    write_mnist_folder(tmp / "MNIST", n_train=40, n_test=10, seed=3)
    dirs = list(dict.fromkeys(table["modeldir"]))  # the importer keeps modeldir as source_name, in order
    # test models given by source name (as a benchmark's file names them), the others by row
    split = {"train": list(range(12)), "val": [12, 13, 14], "test": [dirs[m] for m in (15, 16, 17, 18, 19)]}
    (tmp / "split.json").write_text(json.dumps(split))
    return {"tmp": tmp, "zoo": zoo, "table": table, "data": tmp / "MNIST", "split": tmp / "split.json",
            "dirs": dirs}


def _predict(imported: dict, out: Path, *extra: str) -> int:
    return main(["predict", "--zoo", str(imported["zoo"]), "--out", str(out), "--threads", "1", "--resamples",
                 "200", "--quiet", *extra])


def test_split_file_and_final_checkpoints_give_tau_and_r2(imported, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert _predict(imported, out, "--no-run", "--split-file", str(imported["split"]), "--final-only",
                    "--features", "s(W)", "--predictors", "gbt", "ridge", "--properties", "test_acc",
                    "--probes", "4", "--data-root", str(imported["data"])) == 0
    results = pd.read_csv(out / "results.csv")
    assert set(results["property"]) == {"test_acc"}
    assert set(zip(results["feature_set"], results["predictor"])) == {("s(W)", "gbt"), ("s(W)", "ridge")}
    preds = pd.read_csv(out / "predictions.csv")
    # the test models are exactly the file's (named there by source name), one final checkpoint each:
    # epoch 86, and 20 for the model that stopped early
    assert sorted(set(preds["model"])) == [15, 16, 17, 18, 19]
    for (fs, pred), rows in preds.groupby(["feature_set", "predictor"]):
        assert rows["model"].is_unique and len(rows) == 5
        assert dict(zip(rows["model"], rows["epoch"])) == {15: 86, 16: 86, 17: 86, 18: 86, 19: 20}
        row = results[(results["feature_set"] == fs) & (results["predictor"] == pred)].iloc[0]
        assert row["n_test_models"] == 5 and row["n_test"] == 5 and row["n_train"] == 12 and row["n_val"] == 3
        # the report's tau and R² are those of its own test predictions, with intervals around them
        assert row["kendall_tau"] == pytest.approx(kendalltau(rows["true"], rows["pred"]).statistic, abs=1e-9)
        assert row["r2"] == pytest.approx(r2_score(rows["true"], rows["pred"]), abs=1e-9)
        for metric in ("r2", "kendall_tau"):
            assert row[f"{metric}_lo"] <= row[metric] <= row[f"{metric}_hi"]
        # the true values are the source table's final test accuracies
        src = imported["table"]
        for m, true in zip(rows["model"], rows["true"]):
            last = src[src["modeldir"] == imported["dirs"][m]].iloc[-1]
            assert true == pytest.approx(last["test_accuracy"])
    header = (out / "results.md").read_text()
    assert "each model's last stored checkpoint" in header and "12 / 3 / 5 train / validation / test" in header
    assert "probes" in header  # --probes reached the rows (no probe feature set was asked for)
    command = (out / "command.txt").read_text()
    assert "--split-file" in command and "--final-only" in command and "--probes 4" in command


def test_protocol_sets_the_same_report_and_adds_the_probe_rows(imported, tmp_path: Path) -> None:
    explicit, protocol = tmp_path / "explicit", tmp_path / "protocol"
    common = ["--no-run", "--split-file", str(imported["split"]), "--predictors", "gbt", "ridge"]
    assert _predict(imported, explicit, *common, "--final-only", "--features", "s(W)", "--properties",
                    "test_acc") == 0
    assert _predict(imported, protocol, *common, "--protocol", "small-cnn-zoo", "--probes", "4", "--data-root",
                    str(imported["data"])) == 0
    a, b = pd.read_csv(explicit / "results.csv"), pd.read_csv(protocol / "results.csv")
    assert set(b["feature_set"]) == {"s(W)", "probe", "probe+s(W)"} and set(b["property"]) == {"test_acc"}
    same = b[b["feature_set"] == "s(W)"].reset_index(drop=True)
    for metric in ("r2", "kendall_tau", "r2_lo", "kendall_tau_hi"):
        np.testing.assert_allclose(same[metric], a[metric], err_msg=metric)
    assert b[["r2", "kendall_tau"]].notna().all().all()


def test_models_the_file_leaves_out_are_dropped_with_a_note(imported, tmp_path: Path) -> None:
    f = tmp_path / "part.json"
    f.write_text(json.dumps({"train": list(range(8)), "val": [8, 9], "test": ["m00010", 11, 12]}))
    out = tmp_path / "report"
    assert _predict(imported, out, "--no-run", "--split-file", str(f), "--final-only", "--features", "s(W)",
                    "--predictors", "ridge", "--properties", "test_acc") == 0
    preds = pd.read_csv(out / "predictions.csv")
    assert sorted(set(preds["model"])) == [10, 11, 12]  # "m00010": the zoo's own name of row 10
    assert f"split file {f} does not list 7 of the 20 selected models: dropped" in (out / "results.md").read_text()


@pytest.mark.parametrize("content, expected", [
    ({"train": [0, 1], "val": [2], "test": [99]}, r"'test': model 99 is not in the zoo \(20 models"),
    ({"train": [0, 1], "val": [2], "test": ["/workdir/mnist/run_9999"]},
     r"'test': model '/workdir/mnist/run_9999' is not in the zoo"),
    ({"train": [0, 1, 3], "val": [2], "test": ["/workdir/mnist/run_0003"]},
     r"model 3 is listed in 'train' \(as 3\) and again in 'test' \(as '/workdir/mnist/run_0003'\)"),
    ({"train": [0, 1], "test": [3]}, r"got \['test', 'train'\]; expected a JSON object \{\"train\""),
    ({"train": [0, 1], "val": [2], "test": [True]}, r"'test' holds True; expected a model's row index"),
    ({"train": [0, 1], "val": [2], "test": []}, r"no selected model in 'test'"),
    ("[0, 1]", r"got list; expected a JSON object"),
    ("{not json", r"not JSON"),
])
def test_a_bad_split_file_is_one_error_naming_it(imported, tmp_path: Path, capsys, content, expected) -> None:
    f = tmp_path / "bad.json"
    f.write_text(content if isinstance(content, str) else json.dumps(content))
    capsys.readouterr()
    assert _predict(imported, tmp_path / "r", "--no-run", "--split-file", str(f), "--final-only", "--features",
                    "s(W)", "--predictors", "ridge") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(f) in err[0], err
    assert re.search(expected, err[0]), err[0]
    assert not (tmp_path / "r").exists()


def test_split_file_option_conflicts(imported, tmp_path: Path, capsys) -> None:
    args = ["--no-run", "--features", "s(W)", "--predictors", "ridge"]
    assert _predict(imported, tmp_path / "r", *args, "--split-file", str(imported["split"]), "--split-seed", "3") == 2
    assert "--split-file" in capsys.readouterr().err
    assert _predict(imported, tmp_path / "r", *args, "--final-only", "--epochs", "86") == 2
    assert "--final-only: cannot be combined with --epochs" in capsys.readouterr().err
    assert _predict(imported, tmp_path / "r", *args, "--final-only", "--properties", "lr_nonsense") == 2
    assert "properties ['lr_nonsense'] asked for" in capsys.readouterr().err
    assert _predict(imported, tmp_path / "r", *args, "--split-file", str(tmp_path / "none.json")) == 2
    assert f"{tmp_path / 'none.json'}: split file not found" in capsys.readouterr().err


def test_with_a_run_the_files_test_models_must_be_held_out(imported, tmp_path: Path, capsys) -> None:
    from eo_tasks.config import dump_toml
    from hyperrep import HyperRepConfig

    cfg = HyperRepConfig.load(ROOT / "configs" / "hyperrep" / "tiny.toml").to_dict()
    cfg["train"].update(epochs=1, device="cpu", threads=1, checkpoint_every=1)
    cfg["loss"].update(behaviour=0.0)
    (tmp_path / "rep.toml").write_text(dump_toml(cfg))
    run = tmp_path / "run"
    assert main(["hyperrep", "train", "--zoo", str(imported["zoo"]), "--config", str(tmp_path / "rep.toml"),
                 "--out", str(run), "--quiet"]) == 0
    recorded = json.loads((run / "meta.json").read_text())["split_models"]
    args = ["--run", str(run), "--protocol", "small-cnn-zoo", "--predictors", "ridge"]
    leaky = tmp_path / "leaky.json"
    trained_on = recorded["train"][0]
    leaky.write_text(json.dumps({"train": [m for m in recorded["train"] if m != trained_on], "val": recorded["val"],
                                 "test": [*recorded["test"], trained_on]}))
    capsys.readouterr()
    assert _predict(imported, tmp_path / "r", *args, "--split-file", str(leaky)) == 2
    err = capsys.readouterr().err
    assert "meta.json: the run trained on 1 of the test models of the split file" in err and str(leaky) in err
    held_out = tmp_path / "held_out.json"
    held_out.write_text(json.dumps(recorded))
    out = tmp_path / "ok"
    assert _predict(imported, out, *args, "--split-file", str(held_out)) == 0
    results = pd.read_csv(out / "results.csv")
    assert set(results["feature_set"]) == {"s(W)", "pool(emb)", "emb", "pool(emb)+s(W)"}
    assert results[["r2", "kendall_tau"]].notna().all().all()
    assert sorted(set(pd.read_csv(out / "predictions.csv")["model"])) == sorted(recorded["test"])
