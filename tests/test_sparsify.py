"""Sparsification parts on in-memory data: exact sparsity of the curves, the drop point,
twin-accuracy prediction, ratio parsing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eo_tasks.data.types import ModalityInfo, TaskData, TaskInfo, TensorSet
from eo_tasks.models import ArchConfig, InputSpec, ModelSpec, build_model, flat_weights
from eo_tasks.train.config import TrainConfig
from eo_tasks.train.prune import prunable_slices
from hyperrep.sparsify.curves import drop_point, drop_table, parse_ratios, prune_curves
from hyperrep.sparsify.twins import robust_direction, twin_prediction


def _data(n: int = 48, seed: int = 0) -> TaskData:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=g)
    images = torch.randn(n, 3, 8, 8, generator=g) + labels[:, None, None, None].float()
    full = TensorSet({"rgb": images}, labels)
    info = TaskInfo("eurosat-rgb", ("a", "b", "c"), False, (ModalityInfo("rgb", "image", 3),), 8, synthetic=True)
    third = n // 3
    return TaskData(info, {"train": full.subset(np.arange(third)), "val": full.subset(np.arange(third, 2 * third)),
                           "test": full.subset(np.arange(2 * third, n))})


SPEC = ModelSpec(ArchConfig(channels=(4, 6), kernel_sizes=(3, 3), hidden=7), (InputSpec("rgb", 3),), 3, 8)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_pruning_reaches_the_requested_sparsity_exactly(scope) -> None:
    model = build_model(SPEC, seed=0)
    n = sum(s.stop - s.start for s in prunable_slices(model.layout))
    models = [(f"m{k}", "trained", flat_weights(build_model(SPEC, seed=k))) for k in range(2)]
    ratios = parse_ratios("0.3,0.55,0.9")
    recipe = TrainConfig(epochs=1, batch_size=8, lr=1e-3, threads=1)
    curves = prune_curves(models, SPEC, _data(), recipe, ratios, scope, 1)
    assert len(curves) == 2 * 4 and set(curves["scope"]) == {scope}
    for ratio, group in curves.groupby("ratio"):
        zeros = group["sparsity"].to_numpy() * n
        assert np.allclose(zeros, round(ratio * n), atol=1e-6), (ratio, zeros, round(ratio * n))
    assert curves["test_acc"].between(0, 1).all()
    again = prune_curves(models, SPEC, _data(), recipe, ratios, scope, 1)
    assert again.drop(columns="wall_s").equals(curves.drop(columns="wall_s"))  # seeded: the same figures twice


def test_drop_point_interpolates_and_says_never() -> None:
    assert drop_point([0, 0.5, 0.7, 0.9], [0.80, 0.79, 0.76, 0.5]) == pytest.approx(0.5 + 0.2 * (0.79 - 0.78) / 0.03)
    assert drop_point([0, 0.5, 0.9], [0.8, 0.8, 0.79]) is None
    assert drop_point([0.9, 0, 0.5], [0.6, 0.8, 0.7]) == pytest.approx(0.1)  # unsorted input
    import pandas as pd

    curves = pd.DataFrame({"model": ["a", "a", "b", "b"], "source": ["x", "x", "y", "y"], "ratio": [0, 0.5, 0, 0.5],
                           "scope": "global", "test_acc": [0.8, 0.7, 0.8, 0.8]})
    table = drop_table(curves).set_index("source")
    assert table.loc["x", "drop_sparsity"] == pytest.approx(0.1)
    assert pd.isna(table.loc["y", "drop_sparsity"]) and "never" in table.loc["y", "note"]


def test_drop_interval_resamples_models() -> None:
    import pandas as pd

    from hyperrep.sparsify.curves import drop_interval, format_drop

    def curves(rows):  # one curve per model over ratios 0, 0.5, 0.9
        return pd.DataFrame([{"model": f"m{k}", "source": "x", "ratio": r, "test_acc": a}
                             for k, accs in enumerate(rows) for r, a in zip((0.0, 0.5, 0.9), accs)])

    same = curves([[0.8, 0.79, 0.70]] * 4)
    point = drop_point([0, 0.5, 0.9], [0.8, 0.79, 0.70])
    assert drop_interval(same) == pytest.approx((point, point))  # identical models: no spread
    mixed = curves([[0.8, 0.79, 0.70], [0.8, 0.70, 0.60], [0.8, 0.80, 0.79], [0.8, 0.78, 0.65]])
    lo, hi = drop_interval(mixed)
    table = drop_table(mixed).iloc[0]
    assert lo < table["drop_sparsity"] < hi < 0.9
    assert (table["drop_lo"], table["drop_hi"]) == (lo, hi)
    assert drop_interval(mixed) == (lo, hi)
    # a quarter of the resamples draw only the model that never drops: the upper bound says "never"
    assert np.isinf(drop_interval(curves([[0.8, 0.8, 0.8], [0.8, 0.7, 0.6]]))[1])
    assert drop_interval(curves([[0.8, 0.7, 0.6]])) is None  # one model: nothing to resample
    assert np.isnan(drop_table(curves([[0.8, 0.7, 0.6]])).iloc[0]["drop_lo"])
    assert format_drop(0.8016, 0.747, np.inf) == "0.802 [0.75, never]"
    assert format_drop(None) == "never"


def test_twin_prediction_recovers_a_linear_signal() -> None:
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((60, 6))
    w = np.array([0.05, -0.03, 0.0, 0.02, 0.0, 0.0])
    dense = 0.7 + 0.01 * rng.standard_normal(60)
    twin = np.stack([0.6 + emb @ w + 0.002 * rng.standard_normal(60), 0.4 + 2 * emb @ w], axis=1)
    is_train = np.arange(60) < 45
    fit = twin_prediction(emb, dense, twin, [0.5, 0.9], is_train)
    t = fit.table.set_index(["ratio", "feature"])
    assert t.loc[(0.5, "embedding"), "r2"] > 0.95 and t.loc[(0.9, "embedding"), "r2"] > 0.95
    assert t.loc[(0.5, "dense_acc"), "r2"] < 0.3
    assert t.loc[(0.5, "embedding"), "n_test"] == 15
    direction = robust_direction(fit.models[0.9])
    assert np.linalg.norm(direction) == pytest.approx(1.0)
    assert np.dot(direction, w / np.linalg.norm(w)) > 0.95


def test_parse_ratios() -> None:
    assert parse_ratios("0.9, 0.5,0.5") == (0.0, 0.5, 0.9)
    for bad in ("1.0", "a,b", "", "-0.1"):
        with pytest.raises(ValueError, match="ratios"):
            parse_ratios(bad)


def test_gradual_curves_are_exact_and_report_val_drops() -> None:
    from eo_tasks.train.prune import PruneConfig

    model = build_model(SPEC, seed=0)
    n = sum(s.stop - s.start for s in prunable_slices(model.layout))
    models = [("m0", "trained", flat_weights(model))]
    recipe = TrainConfig(epochs=1, batch_size=8, lr=1e-3, threads=1)
    plan = PruneConfig(schedule="gradual", steps=2, step_epochs=1, finetune_epochs=1, protect=0.8)
    curves = prune_curves(models, SPEC, _data(), recipe, parse_ratios("0.6,0.8"), prune=plan)
    assert set(curves["schedule"]) == {"gradual"} and (curves["wall_s"] > 0).all()
    for ratio, sp in zip(curves["ratio"], curves["sparsity"]):
        assert sp * n == pytest.approx(round(ratio * n))
    table = drop_table(curves)
    assert {"drop_sparsity", "val_drop_sparsity", "twin_wall_s"} <= set(table.columns)


@pytest.mark.parametrize("flag, value", [("--steps", "0"), ("--step-epochs", "-1"), ("--protect", "1.5"),
                                         ("--distill", "1.5")])
def test_bad_schedule_options_are_one_line(flag, value, tmp_path, monkeypatch, capsys) -> None:
    from hyperzoo.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["sparsify", "--zoo", "z.h5", "--out", "o", "--schedule", "gradual", flag, value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"hyperzoo sparsify: error: {flag}"), err
    from eo_tasks.config import ConfigError
    from eo_tasks.train import PruneConfig
    from hyperrep.sampling import SampleConfig
    from hyperrep.sparsify.run import CurveConfig

    with pytest.raises(ConfigError, match="schedule"):
        CurveConfig(prune=PruneConfig(schedule="cubic"))
    with pytest.raises(ConfigError, match="one checkpoint per anchor"):
        CurveConfig(sample=SampleConfig(anchor_checkpoints=2))


def test_twin_verdict_says_plainly_whether_the_embedding_is_level() -> None:
    import pandas as pd

    from hyperrep.sparsify.twins import twin_verdict

    table = pd.DataFrame({"ratio": [0.5] * 3 + [0.9] * 3, "feature": ["embedding", "dense_acc", "embedding+dense_acc"] * 2,
                          "r2": [0.55, 0.96, 0.97, 0.80, 0.79, 0.85], "n_test": 20})
    lines = twin_verdict(table)
    assert "NOT level" in lines[0] and "0.550 against 0.960" in lines[0]
    assert "at least level" in lines[1] and "adds to" in lines[1]
    assert "too few held-out models (2)" in twin_verdict(table.assign(n_test=2))[0]


def test_drop_against_the_original_accuracy() -> None:
    import pandas as pd

    # the fine-tune lowers the dense reference by 2 points: relative to it nothing drops until 0.9,
    # relative to the models as given the margin is gone at ratio 0 already
    curves = pd.DataFrame({"model": "a", "source": "x", "ratio": [0, 0.5, 0.9], "scope": "global",
                           "test_acc": [0.78, 0.78, 0.70], "pruned_test_acc": [0.81, 0.6, 0.2]})
    row = drop_table(curves).iloc[0]
    assert row["original_acc"] == pytest.approx(0.81)
    assert row["drop_sparsity"] == pytest.approx(0.5 + 0.4 * 0.02 / 0.08)
    assert row["drop_vs_original"] == 0.0
    assert drop_point([0, 0.5, 0.9], [0.80, 0.80, 0.70], reference=0.81) == pytest.approx(0.5 + 0.4 * 0.01 / 0.1)


def test_distilled_curves_teach_with_the_dense_reference() -> None:
    import dataclasses

    from eo_tasks.config import ConfigError
    from eo_tasks.train.prune import PruneConfig, sparsify_model

    model = build_model(SPEC, seed=0)
    flat = flat_weights(model)
    recipe = TrainConfig(epochs=1, batch_size=8, lr=1e-2, threads=1)
    plan = PruneConfig(finetune_epochs=2, distill=0.7)
    plain = prune_curves([("m0", "trained", flat)], SPEC, _data(), recipe, parse_ratios("0.6"),
                         prune=dataclasses.replace(plan, distill=0.0)).set_index("ratio")
    taught = prune_curves([("m0", "trained", flat)], SPEC, _data(), recipe, parse_ratios("0.6"),
                          prune=plan).set_index("ratio")
    # the dense reference is fine-tuned on the labels alone, exactly as without distillation
    assert taught.loc[0.0].drop("wall_s").equals(plain.loc[0.0].drop("wall_s"))
    # and it, not the model as given, is what the pruned twin learns from
    dense, _ = sparsify_model(SPEC, _data(), recipe, flat, 0.0, dataclasses.replace(plan, distill=0.0))
    _, from_dense = sparsify_model(SPEC, _data(), recipe, flat, 0.6, plan, teacher=dense)
    _, from_given = sparsify_model(SPEC, _data(), recipe, flat, 0.6, plan)
    assert taught.loc[0.6, "val_acc"] == from_dense["val_acc"] and taught.loc[0.6, "test_acc"] == from_dense["test_acc"]
    assert not np.isclose(from_dense["val_loss"], from_given["val_loss"])
    with pytest.raises(ConfigError, match="include 0"):
        prune_curves([("m0", "trained", flat)], SPEC, _data(), recipe, [0.6], prune=plan)
