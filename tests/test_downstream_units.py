"""Building blocks of hyperrep.downstream on small in-memory arrays (no zoo needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler

from eo_tasks.models import ArchConfig, InputSpec, layout_for, spec_for
from hyperrep.downstream.blend import choose_weight
from hyperrep.downstream.config import PredictConfig
from hyperrep.downstream.bootstrap import (class_replicates, intervals, number_replicates, paired_difference,
                                           resample_counts)
from hyperrep.downstream.evaluation import INTERVAL_COLUMNS, DownstreamData, evaluate
from hyperrep.downstream.features import FEATURE_SETS, STAT_NAMES, WeightStats, feature_matrix
from hyperrep.downstream.predictors import PropertyPredictor, class_metrics, number_metrics, score
from hyperrep.downstream.properties import Property, select_properties
from hyperrep.downstream.spaces import prepare_ridge, screen
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
    assert widths == {"emb": 4, "pool(emb)": 2, "W": layout.num_params, "s(W)": n_stats, "emb+s(W)": 4 + n_stats,
                      "pool(emb)+s(W)": 2 + n_stats}
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
    reused = PropertyPredictor("number", "ridge").fit(x[:40], y[:40], x[40:55], y[40:55], prep=first.prepared_)
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


def test_gbt_screening_is_fitted_on_training_rows_only():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(120, 300))  # wide, like an embedding
    y = x[:, 7] - x[:, 250] + 0.5 * x[:, 30]
    labels = np.where(x[:, 99] > 0, "a", "b")
    for kind, target, informative in (("number", y, {7, 250, 30}), ("class", labels, {99})):
        model = PropertyPredictor(kind, "gbt", gbt_components=8).fit(x[:80], target[:80], x[80:100], target[80:100])
        assert len(model.selected_) == 8 and informative <= set(model.selected_.tolist())
        assert "on 8 screened features" in model.chosen
        expected = screen(StandardScaler().fit_transform(x[:80]), target[:80], kind, 8)
        np.testing.assert_array_equal(model.selected_, expected)
        # other validation rows: the same scaler and columns (only the rounds may change)
        other_val = x[80:100] + rng.normal(0, 10.0, (20, 300))
        again = PropertyPredictor(kind, "gbt", gbt_components=8).fit(x[:80], target[:80], other_val, target[80:100])
        np.testing.assert_array_equal(again.selected_, model.selected_)
        np.testing.assert_array_equal(again.scaler_.mean_, model.scaler_.mean_)
    ridge = PropertyPredictor("number", "ridge").fit(x[:80], y[:80], x[80:100] * 3, y[80:100])
    np.testing.assert_array_equal(ridge.prepared_.basis, prepare_ridge(x[:80]).basis)


def test_evaluate_fits_nothing_on_test_rows_and_threads_change_nothing(layout):
    data = _population(layout)
    kwargs = dict(gbt_components=2, resamples=200)  # every feature set but pool(emb) is screened for gbt
    ev = evaluate(data, PredictConfig(threads=1, **kwargs))
    res = ev.results
    assert (res.loc[res["predictor"] == "gbt", "reduced_to"] == 2).sum() == 5 * len(ev.properties)
    assert set(INTERVAL_COLUMNS) <= set(res.columns) and res["n_test_models"].eq(2).all()
    # changing one test model's features changes no fitted scaler, basis or choice: the
    # other test model's predictions stay the same to the bit
    changed = (data.rows["model"] == 10).to_numpy()
    weights, emb, pooled = data.weights.copy(), data.embeddings.copy(), data.pooled.copy()
    weights[changed] *= 3.0
    emb[changed] += 5.0
    pooled[changed] -= 5.0
    moved = evaluate(DownstreamData(data.rows, weights, layout, emb, pooled=pooled), PredictConfig(threads=1, **kwargs))
    assert moved.results["chosen"].tolist() == res["chosen"].tolist()
    keep = ev.predictions["model"] == 11
    pd.testing.assert_frame_equal(moved.predictions[keep], ev.predictions[keep])
    assert not moved.predictions[~keep]["pred"].equals(ev.predictions[~keep]["pred"])
    # two cells at a time on two threads: the same numbers
    two = evaluate(data, PredictConfig(threads=2, jobs=2, **kwargs))
    assert (two.jobs, two.threads) == (2, 2) and two.seconds > 0
    cols = ["r2", "kendall_tau", "mae", "accuracy", "balanced_accuracy", *INTERVAL_COLUMNS]
    pd.testing.assert_frame_equal(two.results[cols], res[cols])
    assert two.results["chosen"].tolist() == res["chosen"].tolist()


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
    ev = evaluate(data, PredictConfig(threads=1))
    res = ev.results
    props = {p.name for p in ev.properties}
    assert props == {"test_acc", "val_acc", "epoch", "gap", "lr", "activation"}
    numbers = {p.name for p in ev.properties if p.kind == "number"}
    assert len(res) == len(props) * len(FEATURE_SETS) * 2 + len(numbers) * 2  # + the two blends of numbers
    assert (res["note"] == "").all(), res[res["note"] != ""]
    assert res["split_id"].nunique() == 1 and res[["n_train", "n_val", "n_test"]].drop_duplicates().shape[0] == 1
    assert set(ev.predictions["model"]) == {10, 11}
    epoch = res[res["property"] == "epoch"].set_index(["feature_set", "predictor"])["r2"]
    assert epoch["emb", "ridge"] > 0.95
    assert epoch["s(W)", "gbt"] > 0.9  # weight scale grows with the epoch: s(W) sees it


def test_evaluate_marks_what_it_skips(layout):
    data = _population(layout)
    data.rows.loc[data.rows["split"] == "train", "activation"] = "relu"
    ev = evaluate(data, PredictConfig(feature_sets=("W", "s(W)"), max_gbt_features=100, threads=1))
    res = ev.results.set_index(["feature_set", "predictor", "property"])
    assert res.loc[("W", "gbt", "epoch"), "note"].startswith("n/a:")
    assert np.isnan(res.loc[("W", "gbt", "epoch"), "r2"])
    assert "single class" in res.loc[("s(W)", "ridge", "activation"), "note"]
    assert res.loc[("s(W)", "ridge", "epoch"), "note"] == ""
    fresh = _population(layout)
    no_emb = evaluate(DownstreamData(fresh.rows, fresh.weights, layout),
                      PredictConfig(feature_sets=("emb",), threads=1))
    assert no_emb.results["note"].str.contains("no hyper-representation run").all()


def test_blend_weight_is_chosen_on_validation_rows_and_averages_the_two_readouts(layout):
    y = np.array([0.0, 1.0, 2.0, 3.0])
    assert choose_weight(y, emb_val=y, stats_val=y + 5) == 0.0  # the embedding alone is exact
    assert choose_weight(y, emb_val=y - 1, stats_val=y + 1) == 0.5  # opposite errors cancel halfway
    assert choose_weight(y, emb_val=y + 4, stats_val=y) == 0.95  # never 1: the row must read the embedding
    assert choose_weight(y, emb_val=y, stats_val=y) == 0.95  # a tie credits the embedding less
    assert choose_weight(y[:0], y[:0], y[:0]) == 0.5  # no validation rows
    # one registration: the blend fits its own readouts, the same as the report's emb · ridge and s(W) · gbt
    data = _population(layout)
    alone = evaluate(data, PredictConfig(feature_sets=("emb+s(W)",), predictors=("blend",), threads=1, resamples=0))
    both = evaluate(data, PredictConfig(feature_sets=("emb", "s(W)", "emb+s(W)"), threads=1, resamples=0))
    blend_rows = alone.results[alone.results["note"] == ""]
    assert len(blend_rows) and set(blend_rows["predictor"]) == {"blend"}
    p = both.predictions.set_index(["feature_set", "predictor", "property", "model", "epoch"])["pred"]
    for row in blend_rows.itertuples():
        w = float(row.chosen.split("=")[1].split()[0])
        ridge, gbt = p.loc[("emb", "ridge", row.property)], p.loc[("s(W)", "gbt", row.property)]
        blended = alone.predictions.set_index(["property", "model", "epoch"]).loc[row.property, "pred"]
        expected = w * gbt.to_numpy(float) + (1 - w) * ridge.to_numpy(float)
        np.testing.assert_allclose(blended.to_numpy(float), expected, rtol=1e-12)
        assert row.r2 == both.results.set_index(["feature_set", "predictor", "property"]).loc[
            ("emb+s(W)", "blend", row.property), "r2"]


def test_data_checks_the_split(layout):
    data = _population(layout, n_models=4, epochs=2)
    rows = data.rows.copy()
    rows.loc[0, "split"] = "val"  # model 0 now has checkpoints in train and val
    with pytest.raises(ValueError, match="two splits"):
        DownstreamData(rows, data.weights, layout)
    rows = data.rows.copy()
    rows["split"] = rows["split"].replace("test", "val")
    with pytest.raises(ValueError, match="no test models"):
        evaluate(DownstreamData(rows, data.weights, layout), PredictConfig(threads=1))


# ---- tables -------------------------------------------------------------------------
def test_tables_mark_the_best_and_compare_the_embedding(layout):
    ev = evaluate(_population(layout), PredictConfig(feature_sets=("emb", "s(W)"), predictors=("ridge",), threads=1))
    res = ev.results
    table = metric_table(res, "r2")
    assert list(table.index) == ["emb · ridge", "s(W) · ridge"]
    md = results_markdown(res, "header line", ["a note"])
    best = res.loc[res["property"] == "epoch"].sort_values("r2").iloc[-1]
    # the best value in bold, followed by its interval over test models
    assert f"**{best['r2']:.3f}** [{best['r2_lo']:.2f}, {best['r2_hi']:.2f}]" in md
    assert "header line" in md and "- a note" in md and "## Seconds per cell" in md
    cmp = compare_embedding(res, ev.predictions).set_index("property")
    assert cmp.loc["epoch", "verdict"] in ("embedding wins", "tie")
    summary = summary_markdown(res, ev.predictions)
    assert "| epoch | r2 |" in summary and cmp.loc["epoch", "verdict"] in summary
    assert "interval lies above (below) 0" in summary


def _cells(preds: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]], kind: str):
    """Results and predictions frames for cells {(property, feature set): (models, true, pred)};
    one cell per side, so any validation score chooses it (0.5 for every cell)."""
    records, frames = [], []
    for (prop, fs), (models, true, pred) in preds.items():
        metrics = score(kind, true, pred)
        records.append({"feature_set": fs, "predictor": "ridge", "property": prop, "kind": kind, **metrics,
                        "n_classes": len(np.unique(true)) if kind == "class" else np.nan, "note": "",
                        "val_score": 0.5})
        frames.append(pd.DataFrame({"model": models, "epoch": np.arange(len(models)), "feature_set": fs,
                                    "predictor": "ridge", "property": prop, "true": true, "pred": pred}))
    return pd.DataFrame(records), pd.concat(frames, ignore_index=True)


def test_compare_embedding_verdicts_come_from_a_paired_bootstrap():
    rng = np.random.default_rng(0)
    models = np.repeat(np.arange(30), 4)
    y = rng.normal(size=len(models))
    noisy = y + rng.normal(0, 0.5, len(models))  # R² about 0.8
    shuffled = rng.permutation(y)
    labels = np.array(["a", "b"])[rng.integers(0, 2, len(models))]
    flipped = np.where(labels == "a", "b", "a")
    numbers, num_preds = _cells({
        ("wins", "emb"): (models, y, y + rng.normal(0, 0.05, len(y))), ("wins", "s(W)"): (models, y, noisy),
        ("loses", "emb"): (models, y, noisy), ("loses", "s(W)"): (models, y, y),
        ("same", "emb"): (models, y, noisy), ("same", "s(W)"): (models, y, noisy),
        ("close", "emb"): (models, y, noisy), ("close", "s(W)"): (models, y, noisy + rng.normal(0, 0.05, len(y))),
        ("mean", "emb"): (models, y, shuffled), ("mean", "s(W)"): (models, y, -y),
    }, "number")
    classes, class_preds = _cells({
        ("chance", "emb"): (models, labels, flipped), ("chance", "s(W)"): (models, labels, np.full(len(y), "a")),
        ("tie", "emb"): (models, labels, labels), ("tie", "s(W)"): (models, labels, labels),
    }, "class")
    res, preds = pd.concat([numbers, classes], ignore_index=True), pd.concat([num_preds, class_preds])
    cmp = compare_embedding(res, preds).set_index("property")
    assert cmp["verdict"].to_dict() == {"wins": "embedding wins", "loses": "embedding loses", "same": "tie",
                                        "close": "tie", "mean": "neither beats the mean",
                                        "chance": "neither beats chance", "tie": "tie"}
    # identical predictors: every resampled difference is 0
    assert cmp.loc["same", ["margin", "margin_lo", "margin_hi"]].tolist() == [0.0, 0.0, 0.0]
    assert cmp.loc["wins", "margin_lo"] > 0 and cmp.loc["loses", "margin_hi"] < 0
    assert cmp.loc["close", "margin_lo"] < 0 < cmp.loc["close", "margin_hi"]
    summary = summary_markdown(res, preds)
    assert "Neither side classifies chance better than chance" in summary
    assert "Tie (the 95% interval of the difference includes 0) on: same, close, tie." in summary
    # the same clear margin on 5 test models is no verdict: too few models to speak for a population
    few = models < 5
    res5, preds5 = _cells({("wins", "emb"): (models[few], y[few], y[few]),
                           ("wins", "s(W)"): (models[few], y[few], noisy[few])}, "number")
    five = compare_embedding(res5, preds5).set_index("property").loc["wins"]
    assert five["margin_lo"] > 0 and five["n_test_models"] == 5 and five["verdict"] == "tie"
    misaligned = preds.assign(epoch=np.where(preds["feature_set"] == "emb", preds["epoch"] + 1, preds["epoch"]))
    with pytest.raises(ValueError, match="not scored on the same test rows"):
        compare_embedding(res, misaligned)


# ---- intervals ----------------------------------------------------------------------
def _rows_of(models: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The rows a resample of models (counts per sorted model id) stands for, every
    checkpoint of a model once per time it is drawn."""
    ids = np.unique(models)
    return np.concatenate([np.flatnonzero(models == m) for m, c in zip(ids, counts) for _ in range(c)])


def test_bootstrap_resamples_models_with_all_their_checkpoints():
    rng = np.random.default_rng(1)
    sizes = np.array([100, 1, 1, 1, 1, 7, 3])  # very different checkpoint counts per model
    models = np.repeat(np.array([5, 9, 2, 40, 7, 11, 3]), sizes)
    true = rng.normal(size=len(models))
    pred = true + rng.normal(0, 0.5, len(models))
    counts = resample_counts(len(sizes), 50, seed=3)
    assert (counts.sum(axis=1) == len(sizes)).all()
    reps = number_replicates(true, pred, models, counts)
    labels = np.where(true > 0, "hi", "lo")
    guesses = np.where(pred > 0, "hi", "lo")
    class_reps = class_replicates(labels, guesses, models, counts)
    for b, c in enumerate(counts):
        rows = _rows_of(models, c)  # the explicit resample: drawn models, all their checkpoints
        expected = number_metrics(true[rows], pred[rows])
        for metric in ("r2", "kendall_tau", "mae"):
            np.testing.assert_allclose(reps[metric][b], expected[metric], rtol=1e-9, atol=1e-12, err_msg=metric)
        expected = class_metrics(labels[rows], guesses[rows])
        for metric in ("accuracy", "balanced_accuracy"):
            np.testing.assert_allclose(class_reps[metric][b], expected[metric], rtol=1e-12, err_msg=metric)
    # one model holds 100 of 104 checkpoints and all the error: a third of the resamples of
    # 5 models miss it and score a perfect 0; resampling checkpoints would never get near 0
    sizes = np.array([100, 1, 1, 1, 1])
    models = np.repeat(np.arange(5), sizes)
    true = np.arange(len(models), dtype=float)
    pred = true + (models == 0)
    mae = intervals("number", true, pred, models, resamples=1000, seed=0)
    assert mae["mae_lo"] == 0.0 and 0.99 < mae["mae_hi"] <= 1.0


def test_interval_contains_the_point_estimate_and_is_seeded():
    rng = np.random.default_rng(2)
    models = np.repeat(np.arange(40), rng.integers(2, 9, 40))
    true = rng.normal(size=len(models)) + models % 5
    pred = true + rng.normal(0, 1.0, len(models))
    point = number_metrics(true, pred)
    bounds = intervals("number", true, pred, models, resamples=1000, seed=7)
    for metric in ("r2", "kendall_tau", "mae"):
        assert bounds[f"{metric}_lo"] < point[metric] < bounds[f"{metric}_hi"], metric
    assert bounds == intervals("number", true, pred, models, resamples=1000, seed=7)
    assert bounds != intervals("number", true, pred, models, resamples=1000, seed=8)
    labels, guesses = (true > 2).astype(str), (pred > 2).astype(str)
    point = class_metrics(labels, guesses)
    bounds = intervals("class", labels, guesses, models, resamples=1000, seed=7)
    for metric in ("accuracy", "balanced_accuracy"):
        assert bounds[f"{metric}_lo"] < point[metric] < bounds[f"{metric}_hi"], metric
    assert np.isnan(intervals("number", true, pred, models, resamples=0)["r2_lo"])


def test_paired_difference_is_zero_for_identical_and_clear_for_perfect_vs_noisy():
    rng = np.random.default_rng(3)
    models = np.repeat(np.arange(25), 6)
    true = rng.normal(size=len(models))
    noisy = true + rng.normal(0, 1.0, len(models))
    assert paired_difference("number", "r2", true, noisy, noisy, models) == (0.0, 0.0)
    lo, hi = paired_difference("number", "r2", true, true, noisy, models)
    assert 0 < lo < hi
    lo, hi = paired_difference("number", "kendall_tau", true, noisy, true, models)
    assert lo < hi < 0


def test_property_scales():
    assert Property("lr", "number", "log10").label == "lr (log10)"
    np.testing.assert_array_equal(Property("a", "class").encode([1, 2]), np.array(["1", "2"]))
