"""Parts of sampling that need no zoo: embedding samplers, permutation alignment, baselines."""

from __future__ import annotations

import numpy as np
import pytest

from eo_tasks.models import ArchConfig, InputSpec, ModelSpec, build_model, flat_weights
from hyperrep.sampling.align import align, aligned_distances
from hyperrep.sampling.baselines import noise_baseline
from hyperrep.sampling.samplers import SamplerConfig, joint_bandwidth, residual_methods, sample_embeddings, sampler_names


def _anchors(q: int = 6, d: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((q, d)) * np.arange(1, d + 1) + 10).astype(np.float32)


@pytest.mark.parametrize("method", sampler_names())
def test_samplers_are_seeded_and_shaped(method) -> None:
    anchors = _anchors()
    groups = np.array([0, 0, 1, 1, 1]) if method == "kde-layer" else None  # the layer of each dimension
    a, oa = sample_embeddings(anchors, 50, method, np.random.default_rng(1), groups=groups)
    b, ob = sample_embeddings(anchors, 50, method, np.random.default_rng(1), groups=groups)
    c, _ = sample_embeddings(anchors, 50, method, np.random.default_rng(2), groups=groups)
    assert a.shape == (50, 5) and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.array_equal(a, b) and np.array_equal(oa, ob) and not np.array_equal(a, c)
    if method in residual_methods():  # the samplers that draw around one anchor
        assert ((oa >= 0) & (oa < 6)).all()
    else:
        assert (oa == -1).all()


def test_uniform_stays_in_the_anchor_box_and_neighbour_near_its_anchor() -> None:
    anchors = _anchors()
    u, _ = sample_embeddings(anchors, 500, "uniform", np.random.default_rng(0))
    assert (u >= anchors.min(0) - 1e-5).all() and (u <= anchors.max(0) + 1e-5).all()
    near, origin = sample_embeddings(anchors, 500, "neighbour", np.random.default_rng(0),
                                     SamplerConfig(neighbour_scale=0.01))
    scale = anchors.std(0)
    assert (np.abs(near - anchors[origin]) / scale).max() < 0.1


def test_kde_bandwidth_rules() -> None:
    z = np.random.default_rng(0).standard_normal((20, 3))
    assert joint_bandwidth(z, "scott") == pytest.approx(20 ** (-1 / 7))
    assert joint_bandwidth(z, "silverman") == pytest.approx((20 * 5 / 4) ** (-1 / 7))
    assert 0.05 <= joint_bandwidth(z, "cv") <= 2.0
    assert joint_bandwidth(z, 0.3) == 0.3


def test_sampler_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="q >= 2"):
        sample_embeddings(_anchors(q=1), 3, "kde", np.random.default_rng(0))
    with pytest.raises(ValueError, match="method"):
        sample_embeddings(_anchors(), 3, "gan", np.random.default_rng(0))
    with pytest.raises(ValueError, match="bandwidth"):
        SamplerConfig(bandwidth="wide")


@pytest.mark.parametrize("fusion", ["single", "late"])
def test_a_permuted_copy_aligns_back_to_distance_zero(fusion) -> None:
    if fusion == "single":
        inputs = (InputSpec("rgb", 3),)
    else:
        inputs = (InputSpec("s2", 4), InputSpec("s1", 2), InputSpec("season", 4, "vector"))
    spec = ModelSpec(ArchConfig(fusion=fusion, channels=(6, 8), kernel_sizes=(3, 3), hidden=12), inputs, 5, 16)
    model = build_model(spec, seed=1)
    a, layout = flat_weights(model), model.layout
    rng = np.random.default_rng(0)
    for _ in range(3):
        b = a[layout.permutation_index(layout.random_permutations(rng))]
        result = align(a, b, layout)
        assert result.plain_distance > 1.0
        assert result.distance == pytest.approx(0.0, abs=1e-6)
        assert np.array_equal(b[result.index], a)
    # another model: alignment can only bring it closer
    other = flat_weights(build_model(spec, seed=2))
    aligned, plain = aligned_distances(other, a[None, :], layout)
    assert 0 < aligned[0] < plain[0]


def test_noise_baseline_matches_a_target_accuracy_curve() -> None:
    """With an accuracy that falls with the noise norm, the bisection finds the sigma that
    gives the target."""
    spec = ModelSpec(ArchConfig(channels=(4,), kernel_sizes=(3,), hidden=0), (InputSpec("rgb", 3),), 3, 8)
    model = build_model(spec, seed=0)
    anchors = np.stack([flat_weights(model), flat_weights(build_model(spec, seed=1))])
    scale = np.linalg.norm(anchors[0])

    def fake_accuracy(weights: np.ndarray) -> np.ndarray:  # a real, deterministic function of the weights
        dist = np.min(np.linalg.norm(weights[:, None, :] - anchors[None], axis=2), axis=1)
        return np.exp(-dist / scale)

    base = noise_baseline(anchors, ["a", "b"], model.layout, 8, 0.6, fake_accuracy, seed=0, steps=20)
    assert base.weights.shape == (8, model.layout.num_params)
    assert np.mean(base.val_acc) == pytest.approx(0.6, abs=0.02)
    again = noise_baseline(anchors, ["a", "b"], model.layout, 8, 0.6, fake_accuracy, seed=0, steps=20)
    assert np.array_equal(again.weights, base.weights) and again.knob == base.knob


def test_diversity_sees_through_permutations_and_caps_the_pairs() -> None:
    from hyperrep.sampling.diversity import diversity_table

    spec = ModelSpec(ArchConfig(channels=(6, 8), kernel_sizes=(3, 3), hidden=12), (InputSpec("rgb", 3),), 5, 16)
    model = build_model(spec, seed=1)
    a, layout = flat_weights(model), model.layout
    rng = np.random.default_rng(0)
    copies = np.stack([a] + [a[layout.permutation_index(layout.random_permutations(rng))] for _ in range(3)])
    others = np.stack([flat_weights(build_model(spec, seed=s)) for s in range(2, 8)])
    bad = np.vstack([others, np.full((1, layout.num_params), np.nan)])
    table = diversity_table({"copies": copies, "others": bad}, layout, max_models=4, seed=0).set_index("source")
    assert table.loc["copies", "pairs"] == 6 and table.loc["copies", "mean_dist_aligned"] == pytest.approx(0, abs=1e-6)
    assert table.loc["copies", "mean_dist_plain"] > 1.0
    # the non-finite model is left out; of the 6 others, a seeded 4 (6 pairs) take part
    assert table.loc["others", "n"] == 4 and table.loc["others", "pairs"] == 6
    assert 0 < table.loc["others", "mean_dist_aligned"] < table.loc["others", "mean_dist_plain"]
    again = diversity_table({"copies": copies, "others": bad}, layout, max_models=4, seed=0).set_index("source")
    assert again.equals(table)
