"""Sampling and sparsification end to end on a tiny zoo and a tiny hyperrep run: the sampled
zoo file is valid and opens with Zoo, figures are reproducible by seed, the report and the
memorisation table are complete, and both CLI commands write what they promise."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from zoo_configs import small_cnn_zoo

ROOT = Path(__file__).resolve().parents[1]

ZOO_TOML = small_cnn_zoo(
    images=160, hidden=8, epochs=3, batch_size=16, lr=0.01, optimizer="adam",
    population="""
[population.grid]
seed = [0, 1, 2, 3, 4, 5, 6, 7]
""",
    extra="""
[sparsify]
ratios = [0.5]
finetune_epochs = 1
""",
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(ZOO.h5, RUN/): 8 models x 3 epochs with twins, and an 8-epoch hyperrep on them."""
    from hyperrep import HyperRepConfig, train_hyperrep
    from zoo import generate, spec_from_text

    root = tmp_path_factory.mktemp("sampling")
    zoo_path = root / "zoo.h5"
    report = generate(spec_from_text(ZOO_TOML, "sampling test zoo"), zoo_path, max_workers=2, progress=None)
    assert report.status.get("done") == 8, report
    cfg = HyperRepConfig.load(ROOT / "configs" / "hyperrep" / "tiny.toml")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=8, device="cpu", threads=1, amp=False))
    run = root / "run"
    train_hyperrep(zoo_path, cfg, run)
    return zoo_path, run


@pytest.fixture(scope="module")
def sampled(tiny):
    from hyperrep.sampling import SampleConfig, sample_models

    zoo_path, run = tiny
    return sample_models(zoo_path, run, SampleConfig("kde", n=6, anchors=3, select=4, seed=3, min_novelty=0))


def test_sampling_is_reproducible_by_seed(tiny, sampled) -> None:
    from hyperrep.sampling import SampleConfig, sample_models

    zoo_path, run = tiny
    again = sample_models(zoo_path, run, SampleConfig("kde", n=6, anchors=3, select=4, seed=3, min_novelty=0))
    assert np.array_equal(again.weights, sampled.weights)
    pd.testing.assert_frame_equal(again.scores, sampled.scores)
    pd.testing.assert_frame_equal(again.drawn, sampled.drawn)
    other = sample_models(zoo_path, run, SampleConfig("kde", n=6, anchors=3, select=4, seed=4))
    assert not np.array_equal(other.weights, sampled.weights)

    assert len(sampled.names) == 4 and sampled.n_drawn == 6
    assert sampled.weights.shape == (4, sampled.context.layout.num_params)
    assert np.isfinite(sampled.weights).all()
    # keep-best: the kept draws are the four best by validation accuracy
    kept = sampled.drawn[sampled.drawn["kept"]]["val_acc"]
    assert kept.min() >= sampled.drawn[~sampled.drawn["kept"]]["val_acc"].max()
    # anchors: training-split models only, best validation accuracy first
    assert set(sampled.anchors["model"]) <= set(sampled.context.splits["train"].tolist())
    assert list(sampled.anchors["score"]) == sorted(sampled.anchors["score"], reverse=True)


@pytest.mark.parametrize("method", ["kde-dim", "neighbour", "uniform"])
def test_every_method_decodes_to_scored_models(tiny, method) -> None:
    from hyperrep.sampling import SampleConfig, sample_models

    result = sample_models(*tiny, SampleConfig(method, n=2, anchors=3, seed=0))
    assert result.weights.shape[0] == 2 and np.isfinite(result.weights).all()
    assert result.scores[["val_acc", "test_acc"]].notna().all().all()
    if method == "neighbour":
        assert set(result.scores["anchor"]) <= set(result.anchors["name"])


def test_sampled_zoo_file_is_valid(tiny, sampled, tmp_path) -> None:
    from eo_tasks.train.loop import evaluate
    from hyperrep.sampling import write_sampled_zoo
    from zoo import Zoo, ZooDataset
    from zoo.info import summary

    out = write_sampled_zoo(sampled, tmp_path / "sampled.h5")
    with pytest.raises(FileExistsError):
        write_sampled_zoo(sampled, out)
    with Zoo.open(out) as zoo:
        t = zoo.table
        assert list(t["status"]) == ["done"] * 4
        assert list(t["provenance"]) == ["sampled"] * 4 and list(t["method"]) == ["kde"] * 4
        assert list(t["name"]) == sampled.names
        meta = json.loads(zoo.file.attrs["sampled"])
        assert meta["anchor_ids"] == sampled.anchors["model"].tolist() and meta["drawn"] == 6
        assert json.loads(zoo.file.attrs["provenance"])["kind"] == "sampled"
        assert zoo.layout.to_json() == sampled.context.layout.to_json()
        assert zoo.epochs.tolist() == [0]
        for i in range(4):
            assert np.array_equal(zoo.weights(i), sampled.weights[i])
        stored = zoo.metrics.sort_values("model")["test_acc"].to_numpy()
        assert np.allclose(stored, sampled.scores["test_acc"].to_numpy())
        # the stored weights evaluate to the stored figures
        again = evaluate(zoo.load_model(0), sampled.context.data.splits["test"], multilabel=False)
        assert again["acc"] == pytest.approx(stored[0])
        assert "done 4" in summary(zoo)
    ds = ZooDataset(out, "all", properties=("test_acc",))
    assert len(ds) == 4 and ds[0]["weights"].shape == (sampled.context.layout.num_params,)
    ds.close()


def test_report_and_memorisation_table(sampled, tmp_path) -> None:
    from hyperrep.sampling import ReportConfig, sampling_report
    from hyperrep.sampling.memorisation import COLUMNS

    cfg = ReportConfig(finetune_epochs=1, finetune_models=2, n_random=2, seed=0)
    report = sampling_report(sampled, tmp_path / "report", cfg, command="test")
    for name in ("summary.md", "zero_shot.csv", "zero_shot_hist.png", "finetune.csv", "finetune.png",
                 "memorisation.csv", "memorisation.md", "command.txt"):
        assert (tmp_path / "report" / name).is_file(), name
    mem = pd.read_csv(tmp_path / "report" / "memorisation.csv")
    assert tuple(mem.columns) == COLUMNS
    numeric = ["test_acc", "dist_weight_aligned", "dist_weight_plain", "rel_dist_weight_aligned",
               "dist_embedding", "agreement"]
    assert np.isfinite(mem[numeric].to_numpy()).all()
    assert (mem["dist_weight_aligned"] <= mem["dist_weight_plain"] + 1e-6).all()
    assert mem["agreement"].between(0, 1).all()
    sources = mem["source"].unique().tolist()
    assert sources[0] == "sampled" and len(sources) == 3
    assert any(s.startswith("anchor+noise") for s in sources) and any(s.startswith("anchor-average") for s in sources)
    assert (mem["source"] == "sampled").sum() == 4
    zs = report.zero_shot
    assert set(zs["source"]) == {"sampled", "sampled (all draws)", "anchor", "anchor reconstructed", "random init"}
    ft = report.finetune
    # a KDE draw is centred on one anchor, so each sample has its own anchor to be compared with
    assert set(ft["source"]) == {"sampled", "anchor", "random init", "own anchor"} and set(ft["epoch"]) == {0, 1}
    text = (tmp_path / "report" / "summary.md").read_text()
    assert "novel" in text and len(report.verdict) == 2
    # reproducible: the same report twice gives the same figures
    again = sampling_report(sampled, tmp_path / "again", dataclasses.replace(cfg, finetune_models=0), command="test")
    pd.testing.assert_frame_equal(again.memorisation, report.memorisation)
    pd.testing.assert_frame_equal(again.zero_shot, report.zero_shot)


def test_cli_sample_then_sparsify(tiny, tmp_path) -> None:
    from hyperzoo.cli import main

    zoo_path, run = tiny
    sampled = tmp_path / "s.h5"
    threads = torch.get_num_threads()
    rc = main(["sample", "--zoo", str(zoo_path), "--run", str(run), "--out", str(sampled), "--method", "neighbour",
               "--n", "3", "--anchors", "3", "--seed", "1", "--no-report", "--threads", "1"])
    assert rc == 0 and sampled.is_file()
    assert main(["sample", "--zoo", str(zoo_path), "--run", str(run), "--out", str(sampled), "--no-report"]) == 2

    out = tmp_path / "sparsify"
    rc = main(["sparsify", "--zoo", str(zoo_path), "--run", str(run), "--sampled", str(sampled), "--out", str(out),
               "--ratios", "0.5", "--scope", "layer", "--finetune-epochs", "1", "--anchors", "3", "--n", "3",
               "--max-models", "2", "--robust-shift", "0.5", "--threads", "1"])
    assert rc == 0 and torch.get_num_threads() == threads  # torch's setting is given back
    for name in ("curves.csv", "curves.png", "twin_prediction.csv", "anchors.csv", "summary.md", "command.txt"):
        assert (out / name).is_file(), name
    curves = pd.read_csv(out / "curves.csv")
    assert set(curves["source"]) == {"trained", "sampled", "robust-sampled"}
    assert sorted(curves["ratio"].unique()) == [0.0, 0.5] and set(curves["scope"]) == {"layer"}
    # pruning reaches the requested sparsity exactly: round(0.5 * n) of the n prunable weights
    from eo_tasks.train.prune import prunable_slices

    n = sum(s.stop - s.start for s in prunable_slices(_layout(zoo_path)))
    half = curves[curves["ratio"] == 0.5]["sparsity"].to_numpy()
    assert np.allclose(half * n, round(0.5 * n), atol=1e-6)
    twins = pd.read_csv(out / "twin_prediction.csv")
    assert set(twins["feature"]) == {"embedding", "dense_acc", "embedding+dense_acc"} and (twins["ratio"] == 0.5).all()
    assert "stored in the zoo" in twins["twins"].iloc[0]
    summary = (out / "summary.md").read_text()
    assert "drops by" in summary and "bootstrap interval over the source's models" in summary
    # two models per source: every drop sparsity carries an interval, "[lo, hi]" (a bound may read never)
    rows = [line for line in summary.splitlines() if line.startswith(("| trained", "| sampled", "| robust"))]
    assert len(rows) == 3 and all(" [" in row.split("|")[6] for row in rows), rows


def _layout(zoo_path: Path):
    from zoo import Zoo

    with Zoo.open(zoo_path) as zoo:
        return zoo.layout


def test_fine_tuned_samples_are_compared_with_their_own_anchors(tiny, tmp_path) -> None:
    from hyperrep.sampling import ReportConfig, SampleConfig, sample_models, sampling_report

    zoo_path, run = tiny
    result = sample_models(zoo_path, run, SampleConfig("neighbour", n=6, anchors=3, select=4, seed=1,
                                                       residual="anchor"))
    report = sampling_report(result, tmp_path / "report", ReportConfig(finetune_epochs=1, finetune_models=3,
                                                                       n_random=1, baselines=False), command="t")
    ft, paired = report.finetune, report.paired
    own = ft[ft["source"] == "own anchor"]
    pairs = result.scores["anchor"].to_numpy()[:3]
    assert set(own["model"]) == set(pairs)
    # epoch 0 is the start: the difference is the zero-shot one, sample against its anchor as scored
    anchors = result.anchors.set_index("name")["test_acc"]
    start = ft[(ft["source"] == "sampled") & (ft["epoch"] == 0)].set_index("model")["test_acc"]
    expected = np.mean([start[s] - anchors[a] for s, a in zip(result.names[:3], pairs)])
    row0 = paired[paired["epoch"] == 0].iloc[0]
    assert row0["pairs"] == 3 and row0["anchors"] == len(set(pairs))
    assert abs(row0["gain"] - expected) < 2e-3
    assert set(paired["epoch"]) == {0, 1}
    on_disk = pd.read_csv(tmp_path / "report" / "finetune_paired.csv")
    assert len(on_disk) == 2 and "sampled - own anchor" in (tmp_path / "report" / "summary.md").read_text()
    assert (tmp_path / "report" / "finetune_paired.png").stat().st_size > 0
    # an anchor fine-tuned as one of the "anchor" source keeps the same curve as its own anchor
    both = set(own["model"]) & set(ft.loc[ft["source"] == "anchor", "model"])
    for a in both:
        x = ft[(ft["source"] == "anchor") & (ft["model"] == a)]["test_acc"].to_numpy()
        assert np.allclose(x, own[own["model"] == a]["test_acc"].to_numpy())


def test_copies_of_training_models_are_headlined_as_near_copies(tiny, tmp_path) -> None:
    """Draws at scale 0 with the anchor residual are the anchors themselves: the report must
    say so before any accuracy figure, however accurate they are."""
    from hyperrep.sampling import ReportConfig, SampleConfig, SamplerConfig, sample_models, sampling_report

    zoo_path, run = tiny
    copies = sample_models(zoo_path, run, SampleConfig("neighbour", n=4, anchors=3, select=3, seed=1,
                                                       sampler=SamplerConfig(neighbour_scale=0.0), residual="anchor"))
    nearest = np.linalg.norm(copies.anchor_weights[None] - copies.weights[:, None], axis=-1).min(1)
    assert nearest.max() < 1e-4 * np.linalg.norm(copies.weights, axis=1).min()  # each kept draw is an anchor
    report = sampling_report(copies, tmp_path / "copies", ReportConfig(finetune_models=0, n_random=1), command="test")
    text = (report.out / "summary.md").read_text()
    lead = text.split("\n")[2]
    assert lead.startswith("**Near-copies of the anchors.**"), lead
    assert lead.index("Near-copies") < lead.index("Zero-shot test accuracy")
    head = pd.read_csv(report.out / "headline.csv").iloc[0]
    assert head["novel_against_baselines"] in ("no", "partly")
    assert head["relative_to_zoo"] < 0.05 and head["zoo_spacing"] > 0


def test_novelty_floor_keeps_draws_far_from_training_models_first(tiny) -> None:
    """With a floor, every draw is measured against the training models (in units of the zoo's
    own spacing) and no draw below it is kept while one at or above it is left out."""
    from hyperrep.sampling import SampleConfig, SamplerConfig, sample_models

    zoo_path, run = tiny
    plain = sample_models(zoo_path, run, SampleConfig("neighbour", n=8, anchors=3, select=3, seed=5, min_novelty=0,
                                                      sampler=SamplerConfig(neighbour_scale=1.0)))
    assert plain.drawn["novelty"].isna().all() and plain.novelty is None
    probe = sample_models(zoo_path, run, SampleConfig("neighbour", n=8, anchors=3, select=3, seed=5, min_novelty=1e-9,
                                                      sampler=SamplerConfig(neighbour_scale=1.0)))
    novelty = probe.drawn["novelty"].to_numpy()
    assert np.isfinite(novelty).all() and (novelty > 0).all() and probe.novelty.spacing > 0
    # the same draws: the floor changes which are kept, never what is drawn
    assert np.allclose(probe.drawn["val_acc"], plain.drawn["val_acc"], equal_nan=True)
    floor = float(np.sort(novelty)[-4])  # four draws at or above it, more than the three kept
    floored = sample_models(zoo_path, run, SampleConfig("neighbour", n=8, anchors=3, select=3, seed=5,
                                                        min_novelty=floor, sampler=SamplerConfig(neighbour_scale=1.0)))
    kept = floored.drawn[floored.drawn["kept"]]
    assert (kept["novelty"] >= floor).all()
    above = floored.drawn[floored.drawn["novelty"] >= floor]
    assert kept["val_acc"].min() >= above[~above["kept"]]["val_acc"].max()
    # a nearest-distance check by hand: each kept model is at least floor * spacing from every training model
    from hyperrep.sampling.align import aligned_distances

    ref = floored.novelty.reference
    for w in floored.weights:
        d, _ = aligned_distances(w, ref.weights, floored.context.layout)
        assert d.min() >= floor * floored.novelty.spacing * (1 - 1e-6)


def test_decoder_fidelity_scores_held_out_models_and_their_reconstructions(tiny) -> None:
    """decode(embed(w)) against w on the validation and test models, each on its own split's images."""
    from hyperrep import HyperRep
    from hyperrep.sampling import Evaluator, decoder_fidelity, fidelity_summary, open_context

    zoo_path, run = tiny
    rows = decoder_fidelity(zoo_path, run, splits=("val", "test"))
    rep = HyperRep.load(run, device="cpu")
    ctx = open_context(zoo_path, split_seed=rep.config.data.split_seed, layout=rep.layout)
    for split in ("val", "test"):
        assert sorted(rows.loc[rows["split"] == split, "model"]) == sorted(ctx.splits[split].tolist())
    last = int(ctx.epochs.max())
    for r in rows.itertuples():
        w = ctx.weights(r.model, last)
        recorded = ctx.metrics[(ctx.metrics["model"] == r.model) & (ctx.metrics["epoch"] == last)][f"{r.split}_acc"]
        assert r.acc == pytest.approx(float(recorded.iloc[0]), abs=1e-6)  # the zoo's own figure for w
        ev = Evaluator(ctx.specs[r.model], ctx.data)
        recon = rep.reconstruct(w[None], spec=ctx.specs[r.model])[0]
        assert r.recon_acc == pytest.approx(ev.metrics(recon, (r.split,))[f"{r.split}_acc"])
        assert r.retention == pytest.approx(r.recon_acc / r.acc)
        assert r.rel_error == pytest.approx(np.linalg.norm(recon - w) / np.linalg.norm(w), rel=1e-4)
    summary = fidelity_summary(rows, resamples=200)
    assert list(summary["split"]) == ["val", "test"]
    assert (summary["retention_lo"] <= summary["retention"]).all() and (summary["retention"] <= summary["retention_hi"]).all()


def test_generation_check_chooses_the_sampler_on_validation_and_reports_the_goals(tiny, tmp_path) -> None:
    """hyperzoo.generation on a real (tiny) zoo: the run, decode(embed(w)) on held-out models, the
    sampler chosen on validation among the eligible settings, and the goal figures, rendered."""
    from eo_tasks import dump_toml, load_toml
    from hyperzoo import run_generation
    from hyperzoo.docblocks import publish, render

    zoo_path, _ = tiny
    raw = load_toml(ROOT / "configs" / "hyperrep" / "tiny.toml")
    raw["train"].update(epochs=3, device="cpu", threads=1, amp=False)
    config = tmp_path / "gen.toml"
    config.write_text(dump_toml(raw))
    out = tmp_path / "gen"
    row = run_generation(zoo_path, config, out, seed=0, finetune_models=1, say=lambda line: None).iloc[0]
    sweep = pd.read_csv(out / "sweep.csv")
    pool = sweep[sweep["eligible"]] if sweep["eligible"].any() else sweep
    assert sweep["chosen"].sum() == 1
    assert sweep.loc[sweep["chosen"], "val_acc_mean"].iloc[0] == pool["val_acc_mean"].max()
    assert row["setting"] == sweep.loc[sweep["chosen"], "setting"].iloc[0]
    head = pd.read_csv(out / "report" / "headline.csv").iloc[0]
    assert row["sampled_best"] == head["best"] and row["relative_to_zoo"] == head["relative_to_zoo"]
    assert row["best_vs_zoo_best"] == pytest.approx(row["sampled_best"] / row["zoo_best"])
    fid = pd.read_csv(out / "fidelity_summary.csv")
    assert list(fid["split"]) == ["val", "test"] and (fid["models"] >= 1).all()
    folder = publish(tmp_path / "docs" / "results" / "gen", label="tiny test zoo (synthetic)", command="test",
                     zoo=str(zoo_path), files={n: pd.read_csv(out / n) for n in
                                               ("generation.csv", "sweep.csv", "fidelity_summary.csv")})
    text = render("gen/generation", tmp_path)
    assert f"{row['sampled_best']:.3f}" in text and "**yes**" in text and folder.is_dir()
