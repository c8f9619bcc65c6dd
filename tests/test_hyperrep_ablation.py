"""`hyperzoo hyperrep ablate`: variants of a run config trained on a real tiny zoo and compared
on validation models only; the zoo's test models never enter."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from downstream_zoo import HYPERREP_CONFIG, tiny_zoo_and_run
from eo_tasks.config import ConfigError
from hyperrep.ablation import Ablation, Readout, run_ablation, validation_halves
from hyperzoo.cli import main

ABLATION = """
base = "{base}"
properties = ["test_acc", "epoch"]
features = ["pool(emb)", "pool(emb)+s(W)"]
predictors = ["ridge", "gbt", "blend"]
resamples = 50
threads = 1

[common.train]
epochs = 2
threads = 1
device = "cpu"

[variants.base]

[variants.narrow]
model = {{lat_dim = 4}}
"""


def test_validation_halves_drop_test_models_and_split_validation_by_model() -> None:
    rows = pd.DataFrame({"model": [0, 0, 1, 2, 3, 4, 5, 5, 6],
                         "split": ["train", "train", "train", "val", "val", "val", "val", "val", "test"]})
    out = validation_halves(rows, seed=0)
    assert 6 not in set(out["model"])  # the test model is gone
    assert set(out.loc[out["split"] == "train", "model"]) == {0, 1}
    tune, score = set(out.loc[out["split"] == "val", "model"]), set(out.loc[out["split"] == "test", "model"])
    assert len(score) == 2 and tune | score == {2, 3, 4, 5} and not tune & score
    assert out.groupby("model")["split"].nunique().eq(1).all()  # a model's checkpoints stay together
    assert validation_halves(rows, seed=0).equals(out)


def test_ablate_trains_each_variant_and_scores_on_validation_models(tmp_path: Path,
                                                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    zoo, _ = tiny_zoo_and_run(tmp_path_factory)
    config = tmp_path / "ablation.toml"
    config.write_text(ABLATION.format(base=HYPERREP_CONFIG))
    out = tmp_path / "out"
    args = ["hyperrep", "ablate", "--config", str(config), "--zoo", str(zoo), "--out", str(out), "--quiet"]
    assert main([*args, "--variants", "narrow"]) == 0  # one variant: what a second process would leave
    assert set(pd.read_csv(out / "ablation.csv")["variant"]) == {"narrow", "weights only"}
    assert not (out / "base").exists()
    narrow_done = (out / "narrow" / "scores.csv").stat().st_mtime_ns
    assert main(args) == 0  # the rest: narrow is kept, base trains
    assert (out / "narrow" / "scores.csv").stat().st_mtime_ns == narrow_done
    rows = pd.read_csv(out / "ablation.csv")
    assert set(rows["variant"]) == {"base", "narrow", "weights only"}
    assert set(rows.loc[rows["variant"] == "weights only", "feature_set"]) == {"s(W)", "W"}
    assert set(rows.loc[rows["variant"] == "base", "feature_set"]) == {"pool(emb)", "pool(emb)+s(W)"}
    # base was scored second, without the baselines, yet its blends read s(W) · gbt
    blends = rows[(rows["predictor"] == "blend") & (rows["variant"] != "weights only")]
    assert set(blends["variant"]) == {"base", "narrow"} and blends["r2"].notna().all(), blends
    from zoo import Zoo

    with Zoo.open(zoo) as z:
        n_val = len(z.select().splits["val"])
    assert rows["n_test_models"].eq(n_val // 2).all()  # scored on half of the validation models
    # the tuning half's score is kept: it, not the scoring half, picks each variant's readout
    assert rows.loc[rows["r2"].notna(), "val_score"].notna().all()
    for name, lat in (("base", 16), ("narrow", 4)):
        assert f"lat_dim = {lat}" in (out / name / "run" / "config.toml").read_text()
    md = (out / "ablation.md").read_text()
    assert "| narrow | model.lat_dim = 4 | 2 |" in md and "| s(W)·ridge |" in md
    # rerunning keeps what is done: the scores are read back, not refitted
    before = (out / "narrow" / "scores.csv").stat().st_mtime_ns
    assert main(["hyperrep", "ablate", "--config", str(config), "--zoo", str(zoo), "--out", str(out), "--quiet"]) == 0
    assert (out / "narrow" / "scores.csv").stat().st_mtime_ns == before


def test_unknown_key_in_a_variant_is_one_config_error(tmp_path: Path) -> None:
    config = tmp_path / "ablation.toml"
    config.write_text(ABLATION.format(base=HYPERREP_CONFIG) + "\n[variants.bad]\nmodel = {lat_dimm = 3}\n")
    with pytest.raises(ConfigError, match=r"variants\.bad.*lat_dimm"):
        Ablation.load(config)
    config.write_text(ABLATION.format(base=HYPERREP_CONFIG))
    with pytest.raises(ConfigError, match=r"unknown variant\(s\) \['wide'\]"):
        run_ablation(Ablation.load(config), tmp_path / "absent.h5", tmp_path / "out", only=("base", "wide"))
    config.write_text(f'base = "{HYPERREP_CONFIG}"\n')
    with pytest.raises(ConfigError, match=r"\[variants\] is empty"):
        Ablation.load(config)


def test_a_readout_variant_scores_the_same_run_read_another_way(tmp_path: Path,
                                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    import shutil

    zoo, _ = tiny_zoo_and_run(tmp_path_factory)
    config = tmp_path / "ablation.toml"
    config.write_text(ABLATION.format(base=HYPERREP_CONFIG).replace(
        "[variants.narrow]\nmodel = {lat_dim = 4}", "[variants.views]\nreadout = {views = 3}"))
    out = tmp_path / "out"
    args = ["hyperrep", "ablate", "--config", str(config), "--zoo", str(zoo), "--out", str(out), "--quiet"]
    assert main([*args, "--variants", "base"]) == 0
    shutil.copytree(out / "base" / "run", out / "views" / "run")
    trained = (out / "views" / "run" / "model.pt").read_bytes()
    assert main([*args, "--variants", "views"]) == 0
    assert (out / "views" / "run" / "model.pt").read_bytes() == trained  # the same run, not retrained
    rows = pd.read_csv(out / "ablation.csv")
    ridge = rows[(rows["feature_set"] == "pool(emb)") & (rows["predictor"] == "ridge")].set_index(
        ["variant", "property"])["r2"]
    assert ridge.loc["views"].notna().all() and not ridge.loc["views"].equals(ridge.loc["base"])
    assert "| views | readout.views = 3 | 2 |" in (out / "ablation.md").read_text()
    assert Ablation.load(config).readouts == {"base": Readout(), "views": Readout(views=3)}
    config.write_text(ABLATION.format(base=HYPERREP_CONFIG) + "\n[variants.bad]\nreadout = {view = 3}\n")
    with pytest.raises(ConfigError, match=r"variants\.bad\.readout.*'view'"):
        Ablation.load(config)
    config.write_text(ABLATION.format(base=HYPERREP_CONFIG) + "\n[variants.bad]\nreadout = {views = 0}\n")
    with pytest.raises(ConfigError, match=r"variants\.bad\.readout: views must be >= 1"):
        Ablation.load(config)
