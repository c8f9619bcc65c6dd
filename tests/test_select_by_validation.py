"""Every "best" row is chosen on validation models: the verdicts, the results tables, the
comparison script, the fusion story and the ablation table follow the validation score, not
the test score, wherever the two disagree."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hyperrep.config import HyperRepConfig
from hyperrep.downstream import EMBEDDING_SETS, WEIGHT_SETS, best_by_validation, compare_embedding, summary_markdown
from hyperrep.downstream.predictors import score

ROOT = Path(__file__).resolve().parents[1]


def _report(cells: dict[tuple[str, str, str], tuple[np.ndarray, float]], models: np.ndarray, true: np.ndarray,
            prop: str = "test_acc") -> tuple[pd.DataFrame, pd.DataFrame]:
    """results.csv and predictions.csv frames of ``hyperzoo predict`` for one number property:
    {(feature set, predictor, note): (test predictions, validation score)}, the test metrics
    computed from the predictions as the evaluation does."""
    records, frames = [], []
    epochs = np.tile(np.arange((models == models[0]).sum()), len(np.unique(models)))
    for (fs, pr, note), (pred, val) in cells.items():
        records.append({"feature_set": fs, "predictor": pr, "property": prop, "kind": "number",
                        "accuracy": np.nan, "balanced_accuracy": np.nan, **score("number", true, pred),
                        "n_classes": np.nan, "n_test_models": len(np.unique(models)),
                        "val_score": val, "note": note})
        frames.append(pd.DataFrame({"model": models, "epoch": epochs, "feature_set": fs, "predictor": pr,
                                    "property": prop, "true": true, "pred": pred}))
    return pd.DataFrame(records), pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def disagreeing() -> tuple[pd.DataFrame, pd.DataFrame]:
    """On both sides the test-best row is not the validation-best one, and the two choices
    give opposite verdicts: by test scores the embedding loses, by validation it wins."""
    rng = np.random.default_rng(0)
    models = np.repeat(np.arange(40), 4)
    y = rng.normal(size=len(models))
    noise = lambda sd: y + rng.normal(0, sd, len(y))  # noqa: E731
    return _report({
        ("emb", "ridge", ""): (noise(0.04), 0.20),  # test-best embedding row, poor on validation
        ("pool(emb)", "gbt", ""): (noise(0.45), 0.90),  # validation-best embedding row
        ("emb+s(W)", "ridge", ""): (noise(0.01), np.nan),  # best of all on test, no validation score
        ("s(W)", "gbt", ""): (noise(0.02), 0.30),  # test-best baseline row
        ("W", "ridge", ""): (noise(0.90), 0.60),  # validation-best baseline row
        ("s(W)", "ridge", ""): (noise(0.05), np.nan),
    }, models, y)


def test_best_by_validation_skips_rows_without_a_score_and_breaks_ties_by_name() -> None:
    rows = pd.DataFrame({"feature_set": ["s(W)", "W", "emb", "pool(emb)"],
                         "predictor": ["gbt", "ridge", "ridge", "gbt"],
                         "r2": [0.99, 0.1, 0.5, 0.4], "val_score": [np.nan, 0.7, 0.7, 0.6]})
    best = best_by_validation(rows)
    assert (best["feature_set"], best["predictor"]) == ("W", "ridge")  # "W" < "emb": the tie goes by name
    assert best_by_validation(rows.iloc[::-1])["feature_set"] == "W"  # not by the rows' order
    assert best_by_validation(rows.assign(val_score=[np.nan, 0.1, 0.2, 0.3]))["feature_set"] == "pool(emb)"
    assert best_by_validation(rows.assign(val_score=np.nan)) is None
    assert best_by_validation(rows.drop(columns="val_score")) is None
    assert best_by_validation(rows.iloc[:0]) is None
    # read back from a CSV whose validation column came in as text
    assert best_by_validation(rows.assign(val_score=["", "0.1", "0.9", ""]))["feature_set"] == "emb"


def test_the_verdict_compares_the_rows_chosen_on_validation(disagreeing) -> None:
    res, preds = disagreeing
    cmp = compare_embedding(res, preds, resamples=300).set_index("property").loc["test_acc"]
    assert cmp["best_embedding"] == "pool(emb) · gbt" and cmp["best_baseline"] == "W · ridge"
    assert cmp["embedding_val_score"] == 0.90 and cmp["baseline_val_score"] == 0.60
    assert cmp["verdict"] == "embedding wins" and cmp["margin_lo"] > 0
    # the rows with the best test scores, each side's, are others and would give the opposite verdict
    emb, base = res[res["feature_set"].isin(EMBEDDING_SETS)], res[res["feature_set"].isin(WEIGHT_SETS)]
    assert emb["r2"].max() > cmp["embedding_score"] and base["r2"].max() > cmp["baseline_score"]
    by_test = compare_embedding(res[res["val_score"].notna()].assign(val_score=res["r2"]), preds, resamples=300)
    assert by_test.loc[0, ["best_embedding", "best_baseline", "verdict"]].tolist() == [
        "emb · ridge", "s(W) · gbt", "embedding loses"]
    md = summary_markdown(res, preds, resamples=300)
    assert "| test_acc | r2 | pool(emb) · gbt " in md and "(val. 0.900) | W · ridge " in md and "(val. 0.600)" in md
    assert "chosen on the validation models" in md and "the test models choose nothing" in md
    assert "best of their group on these test models" not in md


def test_a_side_with_no_validation_score_is_not_compared(disagreeing) -> None:
    res, preds = disagreeing
    blind = res.assign(val_score=np.where(res["feature_set"].isin(WEIGHT_SETS), np.nan, res["val_score"]))
    assert compare_embedding(blind, preds, resamples=50)["verdict"].tolist() == ["not compared"]
    assert "none of their rows has a validation score" in summary_markdown(blind, preds, resamples=50)


def test_results_table_and_compare_script_choose_on_validation(disagreeing, tmp_path: Path) -> None:
    from hyperzoo.results import property_table

    res, _ = disagreeing
    res.assign(r2_lo=res["r2"] - 0.1, r2_hi=res["r2"] + 0.1).to_csv(tmp_path / "results.csv", index=False)
    table = property_table(tmp_path, ("test_acc",))
    assert "| test_acc | best embedding (by validation): pool(emb)·gbt |" in table
    spec = importlib.util.spec_from_file_location("compare_reports", ROOT / "scripts" / "compare_reports.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.best_alone(res, "test_acc") == ("pool(emb)", "gbt")  # emb·ridge is better on test only
    with pytest.raises(SystemExit, match="with a validation score"):
        script.best_alone(res.assign(val_score=np.nan), "test_acc")


def test_fusion_story_names_the_readouts_chosen_on_validation(disagreeing) -> None:
    from hyperzoo.fusion import FusionStory, answer_mode, answer_robustness
    from hyperzoo.fusion_plot import fusion_figure

    res, _ = disagreeing
    robust = pd.concat([res.assign(property=p) for p in ("test_acc_cloudy", "cloudy_drop")], ignore_index=True)
    text = answer_robustness(robust)
    assert text.count("embeddings R² `pool(emb)·gbt`") == 2 and text.count("s(W) R² `s(W)·gbt`") == 2
    assert "emb·ridge" not in text  # the test-best embedding readout
    labels = np.array(["late", "early"])
    mode = pd.DataFrame([
        {"feature_set": "pool(emb)", "predictor": "ridge", "balanced_accuracy": 0.95, "val_score": 0.40},
        {"feature_set": "emb", "predictor": "gbt", "balanced_accuracy": 0.80, "val_score": 0.85},
        {"feature_set": "s(W)", "predictor": "gbt", "balanced_accuracy": 0.90, "val_score": np.nan},
        {"feature_set": "s(W)", "predictor": "ridge", "balanced_accuracy": 0.70, "val_score": 0.75},
    ]).assign(property="fusion_mode", n_classes=len(labels))
    text = answer_mode(mode)
    assert "embeddings `emb·gbt` 0.800" in text and "s(W) `s(W)·ridge` 0.700" in text
    assert "pool(emb)·ridge" not in text and "s(W)·gbt" not in text
    # the figure's robustness panel draws the same two readouts, named on their bars
    story = FusionStory(pd.DataFrame({"mode": ["late"], "test_acc_cloudy": [np.nan]}), pd.DataFrame(), robust,
                        pd.DataFrame(columns=["mode", "source", "models", "mean", "best"]))
    panel = fusion_figure(story).axes[2]
    assert sorted({t.get_text() for t in panel.texts}) == ["pool(emb) · gbt", "s(W) · gbt"]


def test_ablation_table_chooses_each_variant_readout_on_the_tuning_half() -> None:
    from hyperrep.ablation import Ablation, AblationSettings, ablation_markdown

    def row(variant, fs, pr, r2, val):
        return {"variant": variant, "feature_set": fs, "predictor": pr, "property": "test_acc", "r2": r2,
                "r2_lo": r2 - 0.1, "r2_hi": r2 + 0.1, "val_score": val, "seconds": 1.0, "n_test_models": 8}

    rows = pd.DataFrame([
        row("base", "pool(emb)", "gbt", 0.90, 0.30),  # best on the scoring half only
        row("base", "emb", "ridge", 0.60, 0.70),
        row("base", "pool(emb)+s(W)", "ridge", 0.95, np.nan),
        row("base", "emb+s(W)", "blend", 0.80, 0.75),
        row("weights only", "s(W)", "gbt", 0.85, 0.80),
    ])
    settings = AblationSettings(base="x.toml", properties=("test_acc",))
    md = ablation_markdown(rows, {"base": {"epochs": 2, "train_s": 1.0, "val_r2": 0.5}},
                           Ablation(settings, {"base": HyperRepConfig()}), 8)
    line = next(x for x in md.splitlines() if x.startswith("| base |"))
    assert "0.600 [0.50, 0.70] (emb·ridge)" in line and "0.800 [0.70, 0.90] (emb+s(W)·blend)" in line
    assert "(pool(emb)·gbt)" not in line and "(pool(emb)+s(W)·ridge)" not in line
