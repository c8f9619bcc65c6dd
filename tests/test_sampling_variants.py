"""Sampling where the density is estimable (issue 13): kde-layer (one joint KDE per layer's
block of token latents) and kde-pca (a joint KDE in the anchors' top principal components),
several late checkpoints per anchor model (``anchor_checkpoints``), and the report's
accuracy-against-novelty plot and diversity line. The zoo is the session's tiny fusion zoo
(conftest.tiny_fusion_zoo); the hyperrep is configs/hyperrep/tiny.toml shortened, trained on
its single-mode architecture only."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from eo_tasks.config import ConfigError
from hyperrep.sampling.samplers import SamplerConfig, pca_components, sample_embeddings

ROOT = Path(__file__).resolve().parents[1]
NEW = ("kde-layer", "kde-pca")


@pytest.fixture(scope="module")
def single(tiny_fusion_zoo: Path, tmp_path_factory: pytest.TempPathFactory):
    """(zoo, run, context, anchors with 2 checkpoints each, rep): a 3-epoch hyperrep on the
    zoo's single-mode models; anchors share the spec with the most training models."""
    from hyperrep import HyperRepConfig, train_hyperrep
    from hyperrep.run import HyperRep
    from hyperrep.sampling.context import open_context, select_anchors

    cfg = HyperRepConfig.load(ROOT / "configs" / "hyperrep" / "tiny.toml")
    cfg = dataclasses.replace(
        cfg, data=dataclasses.replace(cfg.data, arch=0),
        train=dataclasses.replace(cfg.train, epochs=3, batch_size=4, device="cpu", threads=1, amp=False),
        loss=dataclasses.replace(cfg.loss, probe_size=8, probe_pool=32))
    run = tmp_path_factory.mktemp("variants") / "run"
    train_hyperrep(tiny_fusion_zoo, cfg, run)
    rep = HyperRep.load(run)
    ctx = open_context(tiny_fusion_zoo, split_seed=cfg.data.split_seed, layout=rep.layout)
    train = ctx.splits["train"]
    keys = [ctx.specs[int(m)].for_eval() for m in train]
    best = max(keys, key=keys.count)  # the training models' most common spec (activations differ)
    assert keys.count(best) >= 2, "the tiny fusion zoo's single mode needs 2 training models of one spec"
    spec = ctx.specs[int(train[keys.index(best)])]
    anchors = select_anchors(ctx, 2, late=1.0, spec=spec, checkpoints=2)
    return tiny_fusion_zoo, run, ctx, anchors, rep


def test_anchor_checkpoints_give_k_rows_per_anchor_model(single) -> None:
    from hyperrep.sampling.context import late_epochs, select_anchors

    _, _, ctx, anchors, _ = single
    one = select_anchors(ctx, 2, late=1.0, spec=ctx.specs[int(anchors["model"].iloc[0])])
    assert len(one) == 2 and len(anchors) == 2 * len(one)
    assert anchors["model"].tolist() == np.repeat(one["model"].to_numpy(), 2).tolist()
    last = sorted(late_epochs(ctx.epochs, 1.0))[-2:][::-1]
    for model in one["model"]:
        assert anchors[anchors["model"] == model]["epoch"].tolist() == last  # latest first
    # ranked by validation accuracy (the model's), never by test accuracy
    assert anchors["score"].tolist() == np.repeat(one["score"].to_numpy(), 2).tolist()
    with pytest.raises(ConfigError, match="checkpoints"):
        select_anchors(ctx, 2, late=1.0, checkpoints=0)
    with pytest.raises(ConfigError, match="fewer than the 99 anchor checkpoints"):
        select_anchors(ctx, 2, late=1.0, checkpoints=99)


def test_new_methods_draw_seeded_finite_embeddings_of_the_right_shape(single) -> None:
    from hyperrep.sampling.sample import SampleConfig, draw_models

    _, _, ctx, anchors, rep = single
    for method in NEW:
        cfg = SampleConfig(method=method, n=3, seed=5, anchor_checkpoints=2)
        a = draw_models(rep, ctx, anchors, cfg, None)
        b = draw_models(rep, ctx, anchors, cfg, None)
        c = draw_models(rep, ctx, anchors, dataclasses.replace(cfg, seed=6), None)
        assert a.embeddings.shape == (3, rep.embedding_dim) and np.isfinite(a.embeddings).all()
        assert a.weights.shape == (3, ctx.layout.num_params) and np.isfinite(a.weights).all()
        assert a.anchor_embeddings.shape[0] == len(anchors) == 4
        assert np.array_equal(a.embeddings, b.embeddings) and np.array_equal(a.weights, b.weights)
        assert not np.array_equal(a.embeddings, c.embeddings)


def test_kde_layer_draws_each_layer_from_that_layers_anchor_blocks(single) -> None:
    from hyperrep.sampling.sample import embedding_groups

    _, _, ctx, anchors, rep = single
    emb = rep.embed(ctx.weights_many(anchors["model"].to_numpy(), anchors["epoch"].to_numpy()))
    groups = embedding_groups(rep)
    assert groups.shape == (rep.embedding_dim,) and len(np.unique(groups)) == len(ctx.layout.layers)
    # a tiny bandwidth: every layer's block is (almost exactly) one anchor's block of that layer
    draws, origin = sample_embeddings(emb, 40, "kde-layer", np.random.default_rng(0),
                                      SamplerConfig(bandwidth=1e-9), groups=groups)
    assert (origin == -1).all()
    picked = set()
    for g in np.unique(groups):
        cols = groups == g
        dist = np.abs(draws[:, None, cols] - emb[None, :, cols]).max(-1)  # [draw, anchor]
        assert (dist.min(1) < 1e-4 * (1 + np.abs(emb[:, cols]).max())).all()
        picked.add(tuple(dist.argmin(1)))
    assert len(picked) > 1  # layers pick their anchors independently
    with pytest.raises(ValueError, match="groups"):
        sample_embeddings(emb, 2, "kde-layer", np.random.default_rng(0))


def test_kde_pca_moves_only_along_the_anchors_components() -> None:
    rng = np.random.default_rng(0)
    anchors = rng.standard_normal((30, 50)) * np.linspace(0.5, 3, 50) + 4
    assert pca_components(30, 50) == 16 and pca_components(5, 50) == 4 and pca_components(30, 50, 3) == 3
    kept, o1 = sample_embeddings(anchors, 20, "kde-pca", np.random.default_rng(1), SamplerConfig(pca_components=3))
    dropped, o2 = sample_embeddings(anchors, 20, "kde-pca", np.random.default_rng(1),
                                    SamplerConfig(pca_components=3, pca_residual="drop"))
    assert np.array_equal(o1, o2) and ((o1 >= 0) & (o1 < 30)).all()
    # in standardised coordinates, draw - its anchor lies in the 3-dim principal subspace
    z = (anchors - anchors.mean(0)) / anchors.std(0)
    basis = np.linalg.svd(z - z.mean(0), full_matrices=False)[2][:3]
    step = (kept - anchors[o1]) / anchors.std(0)
    assert np.abs(step - step @ basis.T @ basis).max() < 1e-3
    # dropping the residual puts every draw inside the subspace (through the anchors' mean)
    zd = (dropped - anchors.mean(0)) / anchors.std(0)
    assert np.abs(zd - zd @ basis.T @ basis).max() < 1e-3
    with pytest.raises(ConfigError, match="pca_residual"):
        SamplerConfig(pca_residual="keep")


def test_bad_method_or_checkpoints_is_one_config_error() -> None:
    from hyperrep.sampling.sample import SampleConfig

    with pytest.raises(ConfigError, match="method"):
        SampleConfig(method="kde-token")
    for bad in (0, -1, 1.5):
        with pytest.raises(ConfigError, match="anchor_checkpoints"):
            SampleConfig(anchor_checkpoints=bad)


def test_cli_rejects_bad_anchor_checkpoints_before_reading_files(tmp_path, capsys) -> None:
    from hyperrep.sampling.cli import check_sample_options
    from hyperzoo.cli import build_parser, main

    base = ["sample", "--zoo", str(tmp_path / "none.h5"), "--run", str(tmp_path), "--out", str(tmp_path / "o.h5")]
    with pytest.raises(ConfigError, match="--anchor-checkpoints"):
        check_sample_options(build_parser().parse_args([*base, "--anchor-checkpoints", "0"]))
    assert main([*base, "--anchor-checkpoints", "0"]) == 2
    assert "--anchor-checkpoints" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse's choices
        main([*base, "--method", "kde-token"])
    args = build_parser().parse_args([*base, "--method", "kde-layer", "--anchor-checkpoints", "3"])
    check_sample_options(args)
    assert (args.method, args.anchor_checkpoints, args.pca_residual) == ("kde-layer", 3, "anchor")


def test_report_has_novelty_plot_and_diversity_percentage(single, tmp_path) -> None:
    from hyperrep.sampling import ReportConfig, sampling_report
    from hyperrep.sampling.sample import SampleConfig, sample_models

    zoo, run, ctx, anchors, _ = single
    result = sample_models(zoo, run, SampleConfig("kde-pca", n=4, anchors=2, select=2, seed=1, late=1.0,
                                                  anchor_checkpoints=2), arch=0)
    assert len(result.anchors) == 4 and len(result.distinct_anchors) == 2
    names = {f"{n}@{e}" for n, e in zip(result.anchors["name"], result.anchors["epoch"])}
    assert set(result.drawn["anchor"]) <= names  # which checkpoint each draw came from
    # draws are kept by validation accuracy only
    kept = result.drawn[result.drawn["kept"]]["val_acc"]
    assert kept.min() >= result.drawn[~result.drawn["kept"]]["val_acc"].max()
    report = sampling_report(result, tmp_path / "rep", ReportConfig(finetune_models=0, candidates=2,
                                                                     diversity_models=4))
    assert (tmp_path / "rep" / "novelty.png").stat().st_size > 0
    summary = (tmp_path / "rep" / "summary.md").read_text()
    assert "of the anchors' (" in summary and "goal of >= 50%" in summary
    assert "Samples more novel than both baselines" in summary and "novelty.png" in summary
    assert report.diversity.set_index("source").loc["anchor", "n"] == 2  # one checkpoint per anchor model
    assert report.glance and report.glance[0].startswith("Kept samples' mean pairwise aligned distance is")


def test_anchor_residual_puts_a_draw_on_its_anchor_plus_the_decoders_step(single) -> None:
    from hyperrep.sampling.sample import SampleConfig, draw_models

    _, _, ctx, anchors, rep = single
    aw = ctx.weights_many(anchors["model"].to_numpy(), anchors["epoch"].to_numpy())
    names = [f"{n}@{e}" for n, e in zip(anchors["name"], anchors["epoch"])]
    # no noise: decode(z_a) + (a - decode(z_a)) is the anchor itself
    still = SampleConfig(method="neighbour", n=6, seed=2, anchor_checkpoints=2, residual="anchor",
                         sampler=SamplerConfig(neighbour_scale=0.0))
    d = draw_models(rep, ctx, anchors, still, None)
    drawn_from = np.array([names.index(a) for a in d.kept["anchor"]])
    assert np.allclose(d.weights, aw[drawn_from], atol=1e-4 * (1 + np.abs(aw).max()))
    plain = draw_models(rep, ctx, anchors, dataclasses.replace(still, residual="none"), None)
    assert not np.allclose(plain.weights, aw[drawn_from], atol=1e-4 * (1 + np.abs(aw).max()))
    # with noise the draw moves by exactly what the decoder changes: corrected - plain is the anchor's error
    moved = dataclasses.replace(still, sampler=SamplerConfig(neighbour_scale=0.3))
    a = draw_models(rep, ctx, anchors, moved, None)
    b = draw_models(rep, ctx, anchors, dataclasses.replace(moved, residual="none"), None)
    error = aw - np.asarray(rep.decode(rep.embed(aw)), dtype=np.float32)
    src = np.array([names.index(x) for x in a.kept["anchor"]])
    assert np.allclose(a.weights - b.weights, error[src], atol=1e-4 * (1 + np.abs(error).max()))
    assert not np.allclose(a.weights, aw[src])
    with pytest.raises(ConfigError, match="draws around no single anchor"):
        SampleConfig(method="kde-layer", residual="anchor")
    with pytest.raises(ConfigError, match="residual must be one of"):
        SampleConfig(residual="decoder")


def test_sparsify_cli_passes_residual_and_scale_and_rejects_a_negative_scale(tmp_path) -> None:
    from hyperrep.sparsify.cli import check_sparsify_options
    from hyperzoo.cli import build_parser

    base = ["sparsify", "--zoo", str(tmp_path / "none.h5"), "--out", str(tmp_path / "o")]
    args = build_parser().parse_args([*base, "--method", "neighbour", "--residual", "anchor", "--scale", "0.1"])
    check_sparsify_options(args)
    assert (args.method, args.residual, args.scale) == ("neighbour", "anchor", 0.1)
    with pytest.raises(ConfigError, match="--scale"):
        check_sparsify_options(build_parser().parse_args([*base, "--scale", "-1"]))
    with pytest.raises(SystemExit):  # argparse's choices
        build_parser().parse_args([*base, "--residual", "decoder"])
