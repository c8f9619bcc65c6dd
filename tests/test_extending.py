"""Issue 33's "must show": a sampler and a predictor are each added by ONE registration call,
and then appear where users meet them: the sampler in ``hyperzoo sample --help`` (and as a
``--method`` that draws), the predictor as rows of a property report on a real tiny zoo.
Also: the command line's names are the registries' own."""

from __future__ import annotations

import numpy as np
import pytest

from downstream_zoo import tiny_zoo_and_run
from hyperrep.downstream import PredictConfig, Predictor, property_report, register_predictor
from hyperrep.downstream.registry import PREDICTOR_REGISTRY, default_predictors, predictor_names
from hyperrep.sampling import Sampler, SampleConfig, register_sampler, sample_embeddings, sampler_names
from hyperrep.sampling.samplers import BANDWIDTHS, PCA_RESIDUALS, RESIDUALS, SAMPLER_REGISTRY, SamplerConfig
from hyperzoo.cli import build_parser


def _choices(command: str, flag: str) -> tuple[str, ...]:
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    return tuple(next(a for a in sub._actions if flag in a.option_strings).choices)


def test_the_command_lines_names_are_the_registries() -> None:
    for command in ("sample", "sparsify"):
        assert _choices(command, "--method") == sampler_names()
        assert _choices(command, "--residual") == RESIDUALS
        assert _choices(command, "--pca-residual") == PCA_RESIDUALS
    assert _choices("predict", "--predictors") == predictor_names()
    assert build_parser().parse_args(["predict", "--zoo", "z", "--no-run", "--out", "o"]).predictors == list(
        default_predictors())
    assert set(BANDWIDTHS) == {"scott", "silverman", "cv"}
    # "neighbour" is kde's alias: kde at bandwidth s draws what neighbour at scale s draws
    anchors = np.random.default_rng(0).normal(size=(5, 7))
    a = sample_embeddings(anchors, 9, "kde", np.random.default_rng(3), SamplerConfig(bandwidth=0.3))
    b = sample_embeddings(anchors, 9, "neighbour", np.random.default_rng(3), SamplerConfig(neighbour_scale=0.3))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def _toy_draw(z, n, rng, config, groups=None):
    """Every draw is the anchors' mean: drawn around no single anchor."""
    return np.repeat(z.mean(0, keepdims=True), n, axis=0), np.full(n, -1)


def test_a_sampler_is_one_registration(request, capsys) -> None:
    register_sampler(Sampler("toy-mean", _toy_draw, help="every draw is the anchors' mean (a test sampler)"))
    request.addfinalizer(lambda: SAMPLER_REGISTRY.pop("toy-mean"))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sample", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "toy-mean: every draw is the anchors' mean (a test sampler)" in help_text
    assert "toy-mean" in _choices("sample", "--method")
    anchors = np.random.default_rng(0).normal(size=(4, 3))
    drawn, origin = sample_embeddings(anchors, 2, "toy-mean", np.random.default_rng(0))
    np.testing.assert_allclose(drawn, np.repeat(anchors.mean(0, keepdims=True), 2, axis=0), rtol=1e-6)
    assert (origin == -1).all()
    SampleConfig(method="toy-mean")  # a valid method of the config too


class MeanOfTraining:
    """Predicts the training rows' mean for every row (a test predictor)."""

    def fit(self, x_train, y_train, x_val=None, y_val=None):
        self.mean_ = float(np.mean(y_train))
        self.chosen = "mean"
        return self

    def predict(self, x):
        return np.full(len(x), self.mean_)


def _toy(ctx):
    return MeanOfTraining()


def test_a_predictor_is_one_registration(request, tmp_path_factory) -> None:
    zoo, run = tiny_zoo_and_run(tmp_path_factory)
    register_predictor(Predictor("toy-mean", _toy, kinds=("number",), help="the training rows' mean"))
    request.addfinalizer(lambda: PREDICTOR_REGISTRY.pop("toy-mean"))
    out = tmp_path_factory.mktemp("toy") / "report"
    res = property_report(zoo, run, out, PredictConfig(feature_sets=("s(W)",), threads=1, resamples=0))
    toy = res[res["predictor"] == "toy-mean"]
    numbers = set(res.loc[res["kind"] == "number", "property"])
    assert set(toy["property"]) == numbers and len(toy) == len(numbers) and (toy["note"] == "").all()
    assert (toy["chosen"] == "mean").all() and set(res["predictor"]) == {"ridge", "gbt", "toy-mean"}
    # a constant prediction ranks nothing: Kendall's tau 0, and it does not beat ridge on R² everywhere
    assert (toy["kendall_tau"] == 0).all()
    assert "toy-mean: the training rows' mean" in (out / "results.md").read_text()
