"""`hyperzoo zoo import`'s reading of the real archives' variations: the fixture's layout is
the published five-column file, an older four-column layout imports the same weights, extra
metric columns are kept, and an o_dim that agrees with the checkpoints leaves no note."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from public_zoo_fixtures import REAL_LAYOUT, UNTERTHINER_EPOCHS, generated_layout, write_modelzoos, write_unterthiner


def test_fixture_layout_is_the_published_one() -> None:
    """Where the shared data has the real layout.csv, the fixture's fallback writes it byte for byte."""
    if not REAL_LAYOUT.is_file():
        pytest.skip(f"the real layout.csv ({REAL_LAYOUT}) is not present")
    assert generated_layout() == REAL_LAYOUT.read_text()


def test_extra_metric_columns_and_the_older_layout(tmp_path: Path) -> None:
    """A four-column layout.csv imports the same weights; extra metric columns are kept, per
    model where constant within a model, per checkpoint otherwise; a name the zoo format
    uses already gets the prefix ``extra.``."""
    from zoo import Zoo, import_zoo

    src = tmp_path / "cifar"
    write_unterthiner(src, n_models=2, dataset="cifar10", crashed=False)
    metrics = pd.read_csv(src / "metrics.csv.gz", index_col=0)
    metrics = metrics.assign(seed=np.repeat([7, 8], len(UNTERTHINER_EPOCHS)),
                             val_accuracy=np.arange(len(metrics)) / 100)
    metrics.to_csv(src / "metrics.csv.gz")
    five = import_zoo("unterthiner", src, tmp_path / "five.h5")
    pd.read_csv(src / "layout.csv").drop(columns="size").to_csv(src / "layout.csv", index=False)
    four = import_zoo("unterthiner", src, tmp_path / "four.h5")
    with Zoo.open(five) as a, Zoo.open(four) as b:
        for i in range(2):
            for e in UNTERTHINER_EPOCHS:
                assert np.array_equal(a.weights(i, e).view(np.uint32), b.weights(i, e).view(np.uint32))
        t = a.table
        assert list(t["extra.seed"]) == [7, 8] and list(t["seed"]) == [42, 42]  # the zoo's own seed column stays
        assert json.loads(t.loc[1, "val_accuracy"]) == list(metrics["val_accuracy"].iloc[9:18])
        note = a.provenance["notes"][0]
        assert "seed -> extra.seed (one value per model)" in note
        assert "val_accuracy -> val_accuracy (per checkpoint" in note


def test_modelzoos_agreeing_o_dim_has_no_note(tmp_path: Path) -> None:
    from zoo import Zoo, import_zoo

    write_modelzoos(tmp_path / "mz", n_models=2, epochs=1, o_dim=10)
    with Zoo.open(import_zoo("modelzoos", tmp_path / "mz", tmp_path / "mz.h5")) as zoo:
        assert list(zoo.table["o_dim_note"]) == ["", ""] and "notes" not in zoo.provenance
        assert "notes" not in json.loads(zoo.file.attrs["imported"])


def test_modelzoos_trial_without_checkpoints_takes_the_zoos_class_count(tmp_path: Path) -> None:
    from zoo import Zoo, import_zoo

    write_modelzoos(tmp_path / "mz", n_models=2, epochs=1, o_dim=4)
    trial = sorted(p for p in (tmp_path / "mz").iterdir() if p.is_dir())[1]
    for ck in trial.glob("checkpoint_*"):
        shutil.rmtree(ck)
    with Zoo.open(import_zoo("modelzoos", tmp_path / "mz", tmp_path / "mz.h5")) as zoo:
        assert list(zoo.table["status"]) == ["done", "failed"]
        assert zoo.spec(1).num_classes == zoo.spec(0).num_classes == 10
        assert "this trial has none" in zoo.table.loc[1, "o_dim_note"]
        assert "2 of 2 trials" in zoo.provenance["notes"][0]
