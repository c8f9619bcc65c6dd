"""Building blocks of hyperrep.downstream on small in-memory arrays (no zoo needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eo_tasks.models import ArchConfig, InputSpec, layout_for, spec_for
from hyperrep.downstream.evaluate import DownstreamData, evaluate
from hyperrep.downstream.features import FEATURE_SETS, STAT_NAMES, WeightStats, feature_matrix
from hyperrep.downstream.predictors import PropertyPredictor, class_metrics, number_metrics
from hyperrep.downstream.properties import Property, select_properties
from hyperrep.downstream.tables import compare_embedding, metric_table, results_markdown, summary_markdown


@pytest.fixture(scope="module")
def layout():
    spec = spec_for(ArchConfig(channels=(3, 3), kernel_sizes=(3, 3), hidden=6), [InputSpec("rgb", 3)], 4, 16)
    return layout_for(spec)


def _population(layout, n_models: int = 12, epochs: int = 4, seed: int = 0):
    """Weights that grow with the epoch at a model-specific rate; an embedding that knows it."""
    rng = np.random.default_rng(seed)
    rows, weights = [], []
    for m in range(n_models):
        init = rng.normal(0, 0.1, layout.num_params)
        act = ("relu", "tanh")[m % 2]
        lr = float(10 ** rng.uniform(-4, -2))
        split = "train" if m < 8 else ("val" if m < 10 else "test")
        for e in range(epochs):
            rows.append({"model": m, "epoch": e, "split": split, "test_acc": 0.2 + 0.1 * e + rng.normal(0, 0.01),
                         "val_acc": 0.2 + 0.1 * e, "gap": rng.normal(0, 0.01), "lr": lr, "activation": act,
                         "optimizer": "adam", "seed": m})
            weights.append(init * (1 + 0.5 * e))
    rows = pd.DataFrame(rows)
    emb = np.column_stack([rows["epoch"] + rng.normal(0, 0.05, len(rows)), rng.normal(size=(len(rows), 3))])
    return DownstreamData(rows, np.asarray(weights, np.float32), layout, emb, pooled=emb[:, :2])


# ---- features -----------------------------------------------------------------------
def test_weight_stats_match_numpy_per_tensor(layout):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(5, layout.num_params)).astype(np.float32)
    stats = WeightStats(layout)
    x = stats.fit_transform(w)
    names = stats.feature_names
    assert x.shape == (5, len(names))
    tensors = [t for layer in layout.layers for t in (layer.weight, layer.bias) if t is not None]
    assert len(names) == len(STAT_NAMES) * len(tensors)
    first = layout.layers[0]
    block = w[:, layout.slice(first.bias)].astype(np.float64)
    col = names.index(f"{first.bias}:p25")
    np.testing.assert_allclose(x[:, col], np.percentile(block, 25, axis=1), rtol=1e-5)
    col = names.index(f"{first.weight}:var")
    np.testing.assert_allclose(x[:, col], w[:, layout.slice(first.weight)].var(axis=1), rtol=1e-4)
    with pytest.raises(ValueError, match="expected \\[N, "):
        stats.transform(w[:, :-1])


def test_weight_stats_ignore_neuron_order(layout):
    rng = np.random.default_rng(2)
    w = rng.normal(size=(3, layout.num_params)).astype(np.float32)
    idx = layout.permutation_index(layout.random_permutations(rng))
    stats = WeightStats(layout)
    np.testing.assert_allclose(stats.transform(w), stats.transform(w[:, idx]), rtol=1e-6)


def test_feature_sets_shapes_and_errors(layout):
    data = _population(layout, n_models=3, epochs=2)
    n_stats = len(WeightStats(layout).feature_names)
    widths = {fs: feature_matrix(fs, data.weights, layout, data.embeddings, pooled=data.pooled).shape[1]
              for fs in FEATURE_SETS}
    assert widths == {"emb": 4, "pool(emb)": 2, "W": layout.num_params, "s(W)": n_stats, "emb+s(W)": 4 + n_stats}
    with pytest.raises(ValueError, match="needs embeddings"):
        feature_matrix("emb", data.weights, layout)
    with pytest.raises(ValueError, match="pooled embedding"):
        feature_matrix("pool(emb)", data.weights, layout, data.embeddings)
    with pytest.raises(ValueError, match="unknown feature set"):
        feature_matrix("stats", data.weights, layout)


# ---- predictors ---------------------------------------------------------------------
def test_ridge_picks_strong_regularisation_for_noise_and_weak_for_signal():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(120, 20))
    signal = x[:, 0] * 2.0
    noise = rng.normal(size=120)
    tr, va = slice(0, 80), slice(80, 120)
    on_signal = PropertyPredictor("number", "ridge").fit(x[tr], signal[tr], x[va], signal[va])
    on_noise = PropertyPredictor("number", "ridge").fit(x[tr], noise[tr], x[va], noise[va])
    assert on_signal.selected_on_val_ and on_signal.alpha_ < on_noise.alpha_
    assert number_metrics(signal[va], on_signal.predict(x[va]))["r2"] > 0.99


@pytest.mark.parametrize("kind", ["number", "class"])
def test_wide_features_are_fitted_in_the_row_span_with_the_same_predictions(kind):
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(6)
    x = rng.normal(size=(70, 300))  # more features than training rows, like raw weights
    y = x[:, :3].sum(axis=1)
    y = y if kind == "number" else np.where(y > 0, "hi", "lo")
    model = PropertyPredictor(kind, "ridge").fit(x[:40], y[:40], x[40:55], y[40:55])
    assert model.basis_ is not None and model.basis_.shape == (300, 40)
    scaler = StandardScaler().fit(x[:40])
    plain = Ridge(alpha=model.alpha_) if kind == "number" else LogisticRegression(C=1 / model.alpha_, max_iter=5000)
    plain.fit(scaler.transform(x[:40]), y[:40])
    if kind == "number":
        np.testing.assert_allclose(model.predict(x[55:]), plain.predict(scaler.transform(x[55:])), rtol=1e-6, atol=1e-8)
    else:
        ours = model.model_.decision_function(scaler.transform(x[55:]) @ model.basis_)
        expected = plain.decision_function(scaler.transform(x[55:]))
        np.testing.assert_allclose(ours, expected, atol=1e-2)  # within lbfgs' tolerance


def test_a_reused_scaler_and_basis_give_the_same_fit():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(70, 300))
    first = PropertyPredictor("number", "ridge").fit(x[:40], x[:40, 0], x[40:55], x[40:55, 0])
    y = x[:, 1] - x[:, 2]  # another property on the same rows
    fresh = PropertyPredictor("number", "ridge").fit(x[:40], y[:40], x[40:55], y[40:55])
    reused = PropertyPredictor("number", "ridge").fit(x[:40], y[:40], x[40:55], y[40:55],
                                                      prep=(first.scaler_, first.basis_))
    assert reused.basis_ is first.basis_ and reused.alpha_ == fresh.alpha_
    np.testing.assert_allclose(reused.predict(x[55:]), fresh.predict(x[55:]), rtol=1e-6, atol=1e-8)

def test_gbt_rounds_chosen_on_val_equal_a_refit_with_that_many_rounds():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(90, 5))
    y = np.sin(x[:, 0]) + rng.normal(0, 0.3, 90)
    model = PropertyPredictor("number", "gbt", gbt_rounds=60).fit(x[:60], y[:60], x[60:], y[60:])
    assert 1 <= model.rounds_ <= 60
    refit = PropertyPredictor("number", "gbt", gbt_rounds=model.rounds_).fit(x[:60], y[:60])
    np.testing.assert_allclose(model.predict(x[60:]), refit.predict(x[60:]), rtol=1e-10)


def test_class_predictors_and_metrics():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(100, 4))
    y = np.where(x[:, 1] > 0, "tanh", "relu")
    for method in ("ridge", "gbt"):
        model = PropertyPredictor("class", method).fit(x[:60], y[:60], x[60:80], y[60:80])
        assert class_metrics(y[80:], model.predict(x[80:]))["accuracy"] >= 0.8, method
    m = class_metrics(np.array(["a", "a", "a", "b"]), np.array(["a", "a", "a", "a"]))
    assert m == {"accuracy": 0.75, "balanced_accuracy": 0.5}
    with pytest.raises(ValueError, match="single value"):
        PropertyPredictor("class", "ridge").fit(x[:5], np.array(["a"] * 5))


def test_number_metrics():
    m = number_metrics(np.array([0.0, 1, 2, 3]), np.array([0.0, 1, 3, 2]))
    assert m["mae"] == pytest.approx(0.5) and m["r2"] == pytest.approx(0.6)
    assert m["kendall_tau"] == pytest.approx(4 / 6)
    assert np.isnan(number_metrics(np.ones(3), np.arange(3.0))["r2"])


# ---- properties ---------------------------------------------------------------------
def test_select_properties_skips_constants_and_seed_and_fixes_log_scale():
    rows = pd.DataFrame({
        "model": [0, 1, 2], "epoch": [0, 1, 2], "test_acc": [0.1, 0.2, 0.3], "val_acc": [0.5] * 3,
        "lr": [1e-3, 1e-2, 1e-1], "weight_decay": [0.0, 1e-4, 1e-3], "batch_size": [16, 32, 64],
        "optimizer": ["adam"] * 3, "init": ["xavier", "normal", "xavier"], "seed": [0, 1, 2],
    })
    props, notes = select_properties(rows)
    by_name = {p.name: p for p in props}
    assert set(by_name) == {"test_acc", "epoch", "lr", "weight_decay", "batch_size", "init"}
    assert by_name["lr"].scale == "log10" and by_name["batch_size"].scale == "log2"
    assert by_name["weight_decay"].scale == "linear"  # a decay of 0 has no log
    np.testing.assert_allclose(by_name["lr"].encode(rows["lr"]), [-3, -2, -1])
    assert any("val_acc" in n and "single value" in n for n in notes)
    assert any("gap" in n and "not in" in n for n in notes)
    assert any("weight_decay" in n for n in notes)


# ---- evaluation ---------------------------------------------------------------------
def test_evaluate_runs_every_combination_on_one_split(layout):
    data = _population(layout)
    ev = evaluate(data, threads=1)
    res = ev.results
    props = {p.name for p in ev.properties}
    assert props == {"test_acc", "val_acc", "epoch", "gap", "lr", "activation"}
    assert len(res) == len(props) * len(FEATURE_SETS) * 2
    assert (res["note"] == "").all(), res[res["note"] != ""]
    assert res["split_id"].nunique() == 1 and res[["n_train", "n_val", "n_test"]].drop_duplicates().shape[0] == 1
    assert set(ev.predictions["model"]) == {10, 11}
    epoch = res[res["property"] == "epoch"].set_index(["feature_set", "predictor"])["r2"]
    assert epoch["emb", "ridge"] > 0.95
    assert epoch["s(W)", "gbt"] > 0.9  # weight scale grows with the epoch: s(W) sees it


def test_evaluate_marks_what_it_skips(layout):
    data = _population(layout)
    data.rows.loc[data.rows["split"] == "train", "activation"] = "relu"
    ev = evaluate(data, feature_sets=("W", "s(W)"), max_gbt_features=100, threads=1)
    res = ev.results.set_index(["feature_set", "predictor", "property"])
    assert res.loc[("W", "gbt", "epoch"), "note"].startswith("n/a:")
    assert np.isnan(res.loc[("W", "gbt", "epoch"), "r2"])
    assert "single class" in res.loc[("s(W)", "ridge", "activation"), "note"]
    assert res.loc[("s(W)", "ridge", "epoch"), "note"] == ""
    fresh = _population(layout)
    no_emb = evaluate(DownstreamData(fresh.rows, fresh.weights, layout), feature_sets=("emb",), threads=1)
    assert no_emb.results["note"].str.contains("no hyper-representation run").all()


def test_data_checks_the_split(layout):
    data = _population(layout, n_models=4, epochs=2)
    rows = data.rows.copy()
    rows.loc[0, "split"] = "val"  # model 0 now has checkpoints in train and val
    with pytest.raises(ValueError, match="two splits"):
        DownstreamData(rows, data.weights, layout)
    rows = data.rows.copy()
    rows["split"] = rows["split"].replace("test", "val")
    with pytest.raises(ValueError, match="no test models"):
        evaluate(DownstreamData(rows, data.weights, layout), threads=1)


# ---- tables -------------------------------------------------------------------------
def test_tables_mark_the_best_and_compare_the_embedding(layout):
    res = evaluate(_population(layout), feature_sets=("emb", "s(W)"), predictors=("ridge",), threads=1).results
    table = metric_table(res, "r2")
    assert list(table.index) == ["emb · ridge", "s(W) · ridge"]
    md = results_markdown(res, "header line", ["a note"])
    best = table["epoch"].max()
    assert f"**{best:.3f}**" in md and "header line" in md and "- a note" in md
    cmp = compare_embedding(res).set_index("property")
    assert cmp.loc["epoch", "verdict"] in ("embedding wins", "tie")
    summary = summary_markdown(res)
    assert "| epoch | r2 |" in summary and cmp.loc["epoch", "verdict"] in summary


def test_compare_embedding_verdicts():
    res = pd.DataFrame({
        "feature_set": ["emb", "s(W)"] * 5,
        "predictor": ["ridge"] * 10, "property": ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e"],
        "kind": ["number"] * 6 + ["class"] * 4,
        "r2": [0.9, 0.5, 0.4, 0.8, -0.2, -0.1] + [np.nan] * 4,
        "balanced_accuracy": [np.nan] * 6 + [0.5, 0.45, 0.9, 0.9], "n_classes": [np.nan] * 6 + [2] * 4,
        "note": [""] * 10,
    })
    verdicts = compare_embedding(res).set_index("property")["verdict"].to_dict()
    assert verdicts == {"a": "embedding wins", "b": "embedding loses", "c": "neither beats the mean",
                        "d": "neither beats chance", "e": "tie"}
    assert "Neither side classifies d better than chance" in summary_markdown(res)


def test_property_scales():
    assert Property("lr", "number", "log10").label == "lr (log10)"
    np.testing.assert_array_equal(Property("a", "class").encode([1, 2]), np.array(["1", "2"]))
