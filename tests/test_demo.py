"""The README's main job, `hyperzoo demo --quick`, from an empty folder to its summary; the
summary quotes exactly what the individual commands print and write."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pandas as pd
import pytest

from hyperzoo.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
EUROSAT = dict(zoo_config=CONFIGS / "zoos" / "eurosat_rgb.toml", rep_config=CONFIGS / "hyperrep" / "eurosat.toml")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    return out


def test_demo_writes_every_artefact(demo):
    for name in ("zoo.h5", "zoo.toml", "zoo_accuracy.png", "run/model.pt", "run/curves.png", "embeddings.h5",
                 "predict/results.csv", "predict/embedding_pca.png", "sampled.h5", "sample/summary.md",
                 "sparsify/curves.csv", "sparsify/curves.png", "summary.md", "fusion.png"):
        assert (demo / name).exists(), name
    for mode in ("single", "early", "early_blowup", "late_shared"):  # late: sample/, the one sparsified
        assert (demo / f"sample-{mode}" / "zero_shot.csv").exists(), mode
    summary = (demo / "summary.md").read_text()
    assert "Synthetic data" in summary and "not EuroSAT" in summary
    for image in ("zoo_accuracy.png", "run/curves.png", "predict/embedding_pca.png", "sparsify/curves.png",
                  "fusion.png"):
        assert f"]({image})" in summary


def test_summary_opens_with_a_five_line_verdict_before_any_table(demo):
    import pandas as pd

    text = (demo / "summary.md").read_text()
    head = text[: text.index("| step | command |")]  # everything before the first table
    bullets = [line[2:] for line in head.splitlines() if line.startswith("- ")]
    assert len(bullets) == 5, bullets
    assert bullets[0].startswith("The zoo: ") and bullets[3].startswith("Sampling: ")
    assert bullets[4].startswith("Sparsity: ")
    assert bullets[1].startswith("Test accuracy from the embedding against s(W)")
    assert bullets[2].startswith("Test accuracy from probe outputs against s(W)")
    # the readouts named are the validation-chosen ones, with the report's own test R²
    res = pd.read_csv(demo / "predict" / "results.csv")
    stats = res[(res["property"] == "test_acc") & (res["feature_set"] == "s(W)")]
    chosen = stats.loc[stats["val_score"].astype(float).idxmax()]
    assert f"s(W) (s(W)·{chosen['predictor']}) {chosen['r2']:.3f}" in bullets[1]
    head_csv = pd.read_csv(demo / "sample" / "headline.csv").iloc[0]
    assert f"zero-shot best {head_csv['best']:.3f}" in bullets[3]


def test_summary_tells_the_fusion_story(demo):
    """Every fusion mode is in the zoo, and the four answers are figures read from the run's
    files, not 'missing'."""
    from hyperzoo.fusion import MODES, zoo_models

    summary = (demo / "summary.md").read_text()
    story = summary.split("## The fusion story", 1)[1].split("\n## ", 1)[0]
    models = zoo_models(demo / "zoo.h5")
    assert sorted(set(models["mode"])) == sorted(MODES)
    assert models["test_acc_cloudy"].notna().all() and models["test_acc_clear"].notna().all()
    for mode in MODES:
        assert f"| {mode} | {(models['mode'] == mode).sum()} | " in story, mode
    answers = [line for line in story.splitlines() if line.startswith("**") or line.startswith("- `")]
    assert len(answers) == 6 and not any("missing" in line for line in answers), answers
    from hyperrep.downstream import EMBEDDING_ALONE, best_by_validation

    results = pd.read_csv(demo / "predict" / "results.csv")
    mode = results[results["property"] == "fusion_mode"]
    for sets in (EMBEDDING_ALONE, ("s(W)",)):  # each side quotes its readout chosen on validation models
        r = best_by_validation(mode[mode["feature_set"].isin(sets)])
        assert f"`{r['feature_set']}·{r['predictor']}` {r['balanced_accuracy']:.3f} [" in story, sets
    zero_shot = pd.read_csv(demo / "sample-single" / "zero_shot.csv")
    assert f"single: sampled {zero_shot.loc[zero_shot['source'] == 'sampled', 'test_acc'].mean():.3f}" in story


def test_summary_reads_cloud_robustness_from_function_structure_and_embedding(demo):
    """The predict step probes every checkpoint (16 training-split images), and the fusion story
    answers test_acc_cloudy and cloudy_drop from the probe outputs, s(W) and the embedding, each
    side's readout chosen on validation models, with the test-model R² and interval of each and
    a verdict (better / level) that follows the intervals in results.csv."""
    import numpy as np

    from hyperrep.downstream import EMBEDDING_ALONE, best_by_validation
    from hyperzoo.fusion import ROBUSTNESS

    summary = (demo / "summary.md").read_text()
    predict_cmd = next(line for line in summary.splitlines() if line.startswith("| Predict properties"))
    assert "--probes 16" in predict_cmd and "probe 'probe+s(W)'" in predict_cmd, predict_cmd
    assert "- probes: `16 images of the task's training split" in (demo / "predict" / "results.md").read_text()
    story = summary.split("## The fusion story", 1)[1].split("\n## ", 1)[0]
    assert "read from function (the probe outputs" in story and "from structure (s(W))" in story
    results = pd.read_csv(demo / "predict" / "results.csv")
    for prop in ROBUSTNESS:
        mine = results[results["property"] == prop]
        for fs in ("probe", "probe+s(W)"):  # the functional view was scored, by both readouts
            cells = mine[mine["feature_set"] == fs]
            assert set(cells["predictor"]) == {"ridge", "gbt"} and np.isfinite(cells["r2"]).all(), (prop, fs)
        line = next(x for x in story.splitlines() if x.startswith(f"- `{prop}` (readouts chosen"))
        chosen = {}
        for side, sets in (("embeddings", EMBEDDING_ALONE), ("s(W)", ("s(W)",)), ("probe outputs", ("probe",))):
            r = best_by_validation(mine[mine["feature_set"].isin(sets)])
            assert r is not None, (prop, side)
            assert (f"{side} R² `{r['feature_set']}·{r['predictor']}` "
                    f"{r['r2']:.3f} [{r['r2_lo']:.3f}, {r['r2_hi']:.3f}], τ {r['kendall_tau']:.3f} [") in line, side
            chosen[side] = r
        verdict = line.split("Read from function, from structure or from the embedding? ", 1)[1]
        n_test = int(mine["n_test_models"].iloc[0])
        assert verdict.startswith(f"On the {n_test} test models, "), verdict
        top = max(chosen, key=lambda side: chosen[side]["r2"])
        apart = [side for side in chosen if side != top and chosen[top]["r2_lo"] > chosen[side]["r2_hi"]]
        names = {"embeddings": "the embedding", "s(W)": "structure (s(W))", "probe outputs": "function (probe outputs)"}
        for side, r in chosen.items():  # every side's test R² with its interval, in the verdict too
            assert f"{names[side]} R² {r['r2']:.3f} [{r['r2_lo']:.3f}, {r['r2_hi']:.3f}]" in verdict \
                or f"**{names[side]}** reads it best (R² {r['r2']:.3f} [" in verdict, (side, verdict)
        if apart:
            assert f"**{names[top]}** reads it best" in verdict and "(the intervals are apart)" in verdict
        else:
            assert "are level: their intervals overlap" in verdict, verdict
    # the figure's robustness panel draws the probe readouts chosen on validation, named on their bars
    from hyperzoo.fusion import fusion_story
    from hyperzoo.fusion_plot import fusion_figure

    labels = {t.get_text() for t in fusion_figure(fusion_story(demo / "zoo.h5", demo / "predict", {})).axes[2].texts}
    for prop in ROBUSTNESS:
        r = best_by_validation(results[(results["property"] == prop) & (results["feature_set"] == "probe")])
        assert f"probe · {r['predictor']}" in labels, (prop, labels)


def test_summary_matches_what_each_command_prints(demo):
    summary = (demo / "summary.md").read_text()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["zoo", "info", "--zoo", str(demo / "zoo.h5")]) == 0
    for line in out.getvalue().strip().splitlines():
        assert line in summary, line
    history = pd.read_csv(demo / "run" / "history.csv")
    assert f"val_r2 = {history['val_r2'].iloc[-1]:.4g}" in summary
    assert f"validation reconstruction R² {history['val_r2'].iloc[-1]:.3f}" in summary  # the at-a-glance table
    zero_shot = pd.read_csv(demo / "sample" / "zero_shot.csv")
    best = zero_shot.groupby("source")["test_acc"].max()
    for source in ("sampled", "anchor", "random init"):
        assert f"{source} {best[source]:.3f} / " in summary, source
    share = (demo / "sample" / "summary.md").read_text().split("mean pairwise aligned distance is ", 1)[1][:5]
    assert f"sampling: diversity of the kept samples | {share.split('%')[0]}% of the anchors'" in summary
    paired = pd.read_csv(demo / "sample" / "finetune_paired.csv")  # every sample against its own anchor
    assert len(paired) and f"epoch {paired['epoch'].iloc[-1]}: {paired['gain'].iloc[-1]:+.3f}" in summary
    predict_summary = (demo / "predict" / "summary.md").read_text().strip().splitlines()
    table_rows = [line for line in predict_summary if line.startswith("| ")]
    assert table_rows and all(row in summary for row in table_rows)
    for report in ("sample", "sparsify"):  # each report quotes its own step, not `hyperzoo demo`
        assert (demo / report / "command.txt").read_text().startswith(f"hyperzoo {report} --zoo "), report
    sparsify_rows = [line for line in (demo / "sparsify" / "summary.md").read_text().splitlines() if line.startswith("| ")]
    assert all(row in summary for row in sparsify_rows)


def test_demo_configs_ship_inside_the_package():
    """The demo reads its configs as package data (a wheel carries them), never from a checkout."""
    import tomllib
    from importlib.resources import files

    from hyperrep import HyperRepConfig
    from hyperzoo.demo import demo_config
    from zoo import spec_from_text

    shipped = sorted(p.name for p in (files("hyperzoo") / "configs" / "demo").iterdir() if p.name.endswith(".toml"))
    assert shipped == ["hyperrep.toml", "hyperrep_quick.toml", "zoo.toml", "zoo_quick.toml"]
    assert not (CONFIGS / "demo").exists()  # one copy: the package's
    for name in ("zoo.toml", "zoo_quick.toml"):
        spec_from_text(demo_config(name), where=name)
    for name in ("hyperrep.toml", "hyperrep_quick.toml"):
        HyperRepConfig.from_dict(tomllib.loads(demo_config(name)), where=name)


def test_fusion_answers_say_what_is_missing_and_when_a_lead_is_clear():
    """The answers from hand-made tables: a clear winner, a tie, and missing figures named."""
    import numpy as np

    from hyperzoo.fusion import answer_cloudy, answer_mode, answer_robustness, answer_sampling, modes_table

    rng = np.random.default_rng(0)
    acc = {"single": 0.4, "early": 0.6, "late": 0.62}
    models = pd.DataFrame([{"mode": m, "test_acc": a, "test_acc_cloudy": a + rng.normal(0, 0.01),
                            "test_acc_clear": a + 0.1} for m, a in acc.items() for _ in range(8)])
    models["cloudy_drop"] = models["test_acc_clear"] - models["test_acc_cloudy"]
    table = modes_table(models)
    assert list(table["mode"]) == ["single", "early", "late"]  # the display order, not the input's
    text = answer_cloudy(models, table)
    assert text.startswith("**late**") and "ahead of early" in text and "a clear lead" in text
    tie = models.assign(test_acc_cloudy=models["test_acc"] + rng.normal(0, 0.1, len(models)))
    assert "not a clear lead" in answer_cloudy(tie, modes_table(tie))
    one = models[models["mode"] == "late"]
    assert answer_cloudy(one, modes_table(one)).startswith("missing: the zoo holds one fusion mode (late)")
    nan = models.assign(test_acc_cloudy=np.nan)
    assert "records no cloudy" in answer_cloudy(nan, modes_table(nan))
    results = pd.DataFrame([{"property": "test_acc", "feature_set": "s(W)", "predictor": "ridge", "r2": 0.5,
                             "kendall_tau": 0.4, "balanced_accuracy": np.nan, "n_classes": np.nan}])
    assert "scored no fusion-mode property" in answer_mode(results)
    assert answer_mode(None).startswith("missing")
    assert answer_robustness(results).count("missing") == 2
    assert "no --arch" in answer_sampling(pd.DataFrame(), ["late"], "no --arch")


def test_function_structure_and_embedding_are_better_or_level_by_their_intervals():
    """compare_views: the highest test score is 'better' only where its interval clears the
    other's; overlapping intervals are 'level'; a side without probes is named missing."""
    import numpy as np

    from hyperzoo.fusion import answer_robustness, compare_views

    def row(fs, pr, r2, lo, hi, val):
        return {"feature_set": fs, "predictor": pr, "r2": r2, "r2_lo": lo, "r2_hi": hi, "kendall_tau": 0.5,
                "kendall_tau_lo": 0.4, "kendall_tau_hi": 0.6, "val_score": val, "n_test_models": 30,
                "balanced_accuracy": np.nan, "n_classes": np.nan}

    clear = pd.DataFrame([row("pool(emb)", "ridge", 0.30, 0.10, 0.40, 0.3), row("s(W)", "gbt", 0.50, 0.45, 0.60, 0.5),
                          row("probe", "gbt", 0.80, 0.70, 0.90, 0.8),
                          row("probe", "ridge", 0.95, 0.90, 0.99, 0.1)])  # best on test, not chosen: poor on val
    robust = pd.concat([clear.assign(property=p) for p in ("test_acc_cloudy", "cloudy_drop")], ignore_index=True)
    text = answer_robustness(robust)
    assert text.count("On the 30 test models, **function (probe outputs)** reads it best (R² 0.800 [0.700, 0.900]), "
                      "better than structure (s(W)) R² 0.500 [0.450, 0.600] and the embedding "
                      "R² 0.300 [0.100, 0.400] (the intervals are apart)") == 2
    assert "probe·ridge" not in text and text.count("probe outputs R² `probe·gbt` 0.800 [0.700, 0.900]") == 2
    sides = lambda t: {"embeddings": t.iloc[0], "s(W)": t.iloc[1], "probe outputs": t.iloc[2]}  # noqa: E731
    mixed = clear.assign(r2_hi=[0.75, 0.6, 0.9, 0.99])  # the embedding's interval reaches the probes'
    assert compare_views(sides(mixed)).endswith(
        "better than structure (s(W)) R² 0.500 [0.450, 0.600] (the intervals are apart), level with the embedding "
        "R² 0.300 [0.100, 0.750] (the intervals overlap)")
    level = clear.assign(r2_lo=[-0.5, -0.4, -0.3, 0.0], r2=[-0.2, -0.1, 0.1, 0.5])
    assert compare_views(sides(level)) == (
        "On the 30 test models, function (probe outputs) R² 0.100 [-0.300, 0.900], structure (s(W)) R² -0.100 "
        "[-0.400, 0.600] and the embedding R² -0.200 [-0.500, 0.400] are level: their intervals overlap, so none "
        "reads it better")
    assert compare_views(sides(level.assign(r2=[-0.2, -0.1, -0.05, 0.5]))).endswith(
        "none beats predicting the mean (R² <= 0)")
    assert "cannot tell a lead from a tie" in compare_views(sides(clear.assign(r2_lo=np.nan)))
    no_probes = robust[robust["feature_set"] != "probe"]
    text = answer_robustness(no_probes)
    assert text.count("probe outputs missing (the predict step ran without --probes N)") == 2
    assert text.count("the embedding R² 0.300 [0.100, 0.400]") == 2 and "(function (probe outputs): missing)" in text


def test_fusion_figure_is_built_without_pyplot(tmp_path):
    import sys

    import numpy as np

    from hyperzoo.fusion import FusionStory, modes_table
    from hyperzoo.fusion_plot import save_fusion_figure

    models = pd.DataFrame({"mode": ["early", "late"] * 4, "test_acc": 0.5, "test_acc_cloudy": np.linspace(0.3, 0.5, 8),
                           "test_acc_clear": 0.6, "cloudy_drop": 0.2})
    story = FusionStory(models, modes_table(models), None, pd.DataFrame(columns=["mode", "source", "models", "mean", "best"]))
    had_pyplot = "matplotlib.pyplot" in sys.modules
    path = save_fusion_figure(story, tmp_path / "fusion.png")
    assert path.stat().st_size > 0
    assert had_pyplot or "matplotlib.pyplot" not in sys.modules


def test_demo_rejects_bad_data_argument(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "x"), "--data", "eurosat-rgb"]) == 2
    assert "KIND:PATH" in capsys.readouterr().err
    assert main(["demo", "--quick", "--out", str(tmp_path / "x"), "--data", f"benge:{tmp_path / 'missing'}"]) == 2
    assert "missing" in capsys.readouterr().err


def test_eurosat_plan_reuses_a_zoo_and_names_its_rerun_command(tmp_path):
    from hyperzoo.eurosat import eurosat_plan

    zoo = tmp_path / "made-earlier.h5"
    zoo.write_bytes(b"")
    data = tmp_path / "eurosat-rgb"
    data.mkdir()
    plan = eurosat_plan(tmp_path / "out", str(data), zoo=str(zoo), **EUROSAT)
    assert (tmp_path / "out" / "zoo.h5").resolve() == zoo.resolve()
    commands = [s.argv[:2] for s in plan.steps]
    assert ["zoo", "generate"] not in commands and ["hyperrep", "train"] in commands
    assert plan.rerun == f"python scripts/eurosat_results.py --data-root {data} --out {tmp_path}"
    named = eurosat_plan(tmp_path / "out", str(data), zoo=str(zoo), rerun="python x.py --zoo-256 z", **EUROSAT)
    assert named.rerun == "python x.py --zoo-256 z"
    # a generating run: sampling and sparsification decode with it, prediction reads the other
    gen = eurosat_plan(tmp_path / "out", str(data), zoo=str(zoo), gen_config=EUROSAT["rep_config"], **EUROSAT)
    runs = {s.name: s.argv[s.argv.index("--run") + 1] for s in gen.steps if "--run" in s.argv}
    assert runs["predict"].endswith("/run") and runs["sample"].endswith("/run-gen")
    assert runs["sparsify"].endswith("/run-gen") and runs["sample residual"].endswith("/run-gen")
    assert runs["sample kde-pca"].endswith("/run-gen")
    # the default sampler adds no decoding error (it would return the anchors); one comparison does
    argv = {s.name: s.argv for s in gen.steps}
    for name in ("sample", "sparsify", "sample kde-pca"):
        assert "--residual" not in argv[name], name
    assert argv["sample residual"][argv["sample residual"].index("--residual") + 1] == "anchor"
    assert "hyperrep train gen" in {s.name for s in gen.steps}
    fresh = eurosat_plan(tmp_path / "fresh", str(data), **EUROSAT)
    assert fresh.steps[0].argv[:2] == ["zoo", "generate"]
    assert f'root = "{data}"' in (tmp_path / "fresh" / "zoo.toml").read_text()
    with pytest.raises(FileNotFoundError, match="missing"):
        eurosat_plan(tmp_path / "x", str(tmp_path / "missing"), **EUROSAT)


def test_property_table_picks_the_embedding_readout_by_validation_score(tmp_path):
    import pandas as pd

    from hyperzoo.results import property_table

    rows = [  # pool(emb)+s(W) scores best on the test models, emb best on the validation models
        ("emb", "ridge", 0.50, 0.80), ("pool(emb)+s(W)", "gbt", 0.90, 0.60), ("s(W)", "gbt", 0.85, 0.70),
        ("s(W)", "ridge", 0.70, 0.65), ("W", "ridge", -0.2, 0.1), ("encoder", "supervised", 0.6, 0.75),
    ]
    pd.DataFrame([dict(feature_set=f, predictor=p, property="test_acc", r2=r2, r2_lo=r2 - 0.1, r2_hi=r2 + 0.1,
                       kendall_tau=0.5, kendall_tau_lo=0.4, kendall_tau_hi=0.6, val_score=v, n_test_models=30)
                  for f, p, r2, v in rows]).to_csv(tmp_path / "results.csv", index=False)
    table = property_table(tmp_path, ("test_acc",))
    assert table.startswith("30 test models")
    assert "| test_acc | best embedding (by validation): emb·ridge | 0.500 [0.40, 0.60] | 0.500 [0.40, 0.60] | 0.800 |" \
        in table
    assert "pool(emb)+s(W)" not in table  # better on test, worse on validation: not picked
    for label in ("encoder·supervised", "s(W)·ridge", "s(W)·gbt", "W·ridge"):
        assert f"| test_acc | {label} |" in table
