"""Magnitude pruning: exact counts, weights only, deterministic; masked fine-tuning keeps zeros;
the gradual schedule and the protected layers."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from eo_tasks.data.types import ModalityInfo, TaskData, TaskInfo, TensorSet
from eo_tasks.models.family import build_model, flat_weights, layout_for, spec_for
from eo_tasks.models.spec import ArchConfig
from eo_tasks.train.config import TrainConfig
from eo_tasks.config import ConfigError
from eo_tasks.train.prune import (
    PruneConfig,
    cubic_ratios,
    lamp_scores,
    magnitude_mask,
    prunable_slices,
    protected_layers,
    prune_and_finetune,
    sparsify_model,
    sparsity,
)

MODS = (ModalityInfo("rgb", "image", 3),)


def _spec(hidden: int = 8):
    return spec_for(ArchConfig(channels=(4, 4), kernel_sizes=(3, 3), hidden=hidden), MODS, 3, 8)


def _weight_index(layout) -> np.ndarray:
    return np.concatenate([np.arange(s.start, s.stop) for s in prunable_slices(layout)])


@pytest.mark.parametrize("scope", ["global", "layer", "lamp"])
@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.333, 0.5, 0.9, 1.0])
def test_exact_count_weights_only(scope: str, ratio: float) -> None:
    spec = _spec()
    layout = layout_for(spec)
    flat = flat_weights(build_model(spec, seed=3))
    mask = magnitude_mask(flat, layout, ratio, scope)
    widx = _weight_index(layout)
    assert mask.dtype == np.float32 and set(np.unique(mask)) <= {0.0, 1.0}
    assert int((mask[widx] == 0).sum()) == round(ratio * widx.size)
    others = np.setdiff1d(np.arange(layout.num_params), widx)  # biases
    assert others.size > 0 and (mask[others] == 1).all()


def test_global_prunes_the_smallest_magnitudes() -> None:
    spec = _spec()
    layout = layout_for(spec)
    flat = flat_weights(build_model(spec, seed=1))
    mask = magnitude_mask(flat, layout, 0.4, "global")
    widx = _weight_index(layout)
    pruned, kept = widx[mask[widx] == 0], widx[mask[widx] == 1]
    assert np.abs(flat[pruned]).max() <= np.abs(flat[kept]).min()


def test_layer_scope_prunes_each_layer_by_the_ratio() -> None:
    spec = _spec()
    layout = layout_for(spec)
    flat = flat_weights(build_model(spec, seed=1))
    # make one layer tiny: global pruning would take it whole, per-layer must not
    first = prunable_slices(layout)[0]
    flat = flat.copy()
    flat[first] *= 1e-6
    g = magnitude_mask(flat, layout, 0.5, "global")
    l = magnitude_mask(flat, layout, 0.5, "layer")
    assert (g[first] == 0).all()
    for s in prunable_slices(layout):
        n = s.stop - s.start
        assert abs(int((l[s] == 0).sum()) - 0.5 * n) <= 1


def test_lamp_scores_by_hand_and_scale_free_per_layer() -> None:
    spec = _spec()
    layout = layout_for(spec)
    flat = flat_weights(build_model(spec, seed=1)).copy()
    slices = prunable_slices(layout)
    first = slices[0]
    flat[first] = 0.0
    flat[first.start:first.start + 3] = [3.0, -1.0, 2.0]  # squares 1, 4, 9 after 0s: tails 14, 13, 9
    scores = lamp_scores(flat, layout)
    assert scores[first.start:first.start + 3] == pytest.approx([1.0, 1 / 14, 4 / 13])
    assert (scores[first.start + 3:first.stop] == 0).all()  # zeros (already pruned) score 0
    widx = _weight_index(layout)
    assert (np.delete(scores, widx) == 0).all()
    # a layer scaled down by 1e6 keeps its share (global magnitude pruning would empty it) and
    # within every layer the pruned weights are its smallest
    flat = flat_weights(build_model(spec, seed=1)).copy()
    base = magnitude_mask(flat, layout, 0.9, "lamp")
    flat[slices[1]] *= 1e-6
    mask = magnitude_mask(flat, layout, 0.9, "lamp")
    assert np.array_equal(mask, base) and (magnitude_mask(flat, layout, 0.9, "global")[slices[1]] == 0).all()
    for s in slices:
        kept = mask[s] == 1
        assert kept.any()  # a layer's largest weight scores 1: never pruned below 100%
        assert np.abs(flat[s][~kept]).max() <= np.abs(flat[s][kept]).min()


def test_ties_are_deterministic_and_bad_input_rejected() -> None:
    spec = _spec()
    layout = layout_for(spec)
    flat = np.ones(layout.num_params, dtype=np.float32)
    a = magnitude_mask(flat, layout, 0.5)
    b = magnitude_mask(flat.copy(), layout, 0.5)
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="ratio"):
        magnitude_mask(flat, layout, 1.5)
    with pytest.raises(ValueError, match="scope"):
        magnitude_mask(flat, layout, 0.5, "neuron")
    with pytest.raises(ValueError, match="shape"):
        magnitude_mask(flat[:-1], layout, 0.5)
    flat[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        magnitude_mask(flat, layout, 0.5)


def _task_data(n: int = 96, seed: int = 0) -> TaskData:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 3, 8, 8, generator=g) + labels.view(-1, 1, 1, 1).float()  # learnable
    sets = {s: TensorSet({"rgb": x[i::3].clone()}, labels[i::3].clone()) for i, s in enumerate(("train", "val", "test"))}
    info = TaskInfo("synthetic-test", ("a", "b", "c"), False, MODS, 8)
    return TaskData(info, sets)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_prune_and_finetune_keeps_the_mask(scope: str) -> None:
    spec = _spec()
    layout = layout_for(spec)
    data = _task_data()
    cfg = TrainConfig(epochs=1, batch_size=16, lr=1e-2, seed=0)
    flat = flat_weights(build_model(spec, seed=0))
    out, metrics = prune_and_finetune(spec, data, cfg, flat, 0.7, epochs=2, scope=scope)
    mask = magnitude_mask(flat, layout, 0.7, scope)
    assert out.shape == flat.shape and out.dtype == np.float32
    assert (out[mask == 0] == 0).all()
    assert not np.array_equal(out[mask == 1], flat[mask == 1])  # it did train
    assert metrics["sparsity"] == pytest.approx(sparsity(out, layout)) and metrics["sparsity"] >= 0.7 - 1e-3
    assert metrics["epoch"] == 2 and metrics["ratio"] == 0.7
    for key in ("test_acc", "pruned_test_acc", "pruned_train_loss", "gap"):
        assert np.isfinite(metrics[key]), key
    again, _ = prune_and_finetune(spec, data, cfg, flat, 0.7, epochs=2, scope=scope)
    assert np.array_equal(out, again)


def test_cubic_schedule_ends_at_the_target() -> None:
    steps = cubic_ratios(0.9, 4)
    assert len(steps) == 4 and steps[-1] == 0.9
    assert all(a < b for a, b in zip(steps, steps[1:]))
    assert steps[0] == pytest.approx(0.9 * (1 - 0.75**3))  # big cuts first
    assert cubic_ratios(0.5, 1) == [0.5]


@pytest.mark.parametrize("scope", ["global", "layer", "lamp"])
@pytest.mark.parametrize("ratio", [0.5, 0.7, 0.8])
def test_protect_caps_the_input_and_output_layers(scope: str, ratio: float) -> None:
    spec = _spec()
    layout = layout_for(spec)
    flat = flat_weights(build_model(spec, seed=2))
    slices = prunable_slices(layout)
    guarded = protected_layers(layout)
    assert [layout.layers[i].name for i in guarded] == ["rgb.conv0", "head.out"]
    mask = magnitude_mask(flat, layout, ratio, scope, protect=0.5)
    widx = _weight_index(layout)
    assert int((mask[widx] == 0).sum()) == round(ratio * widx.size)  # the total is unchanged
    for i in guarded:
        s = slices[i]
        assert int((mask[s] == 0).sum()) <= (s.stop - s.start) // 2
    if scope == "global":  # still the smallest magnitudes among what the caps allow
        free = np.concatenate([np.arange(s.start, s.stop) for i, s in enumerate(slices) if i not in guarded])
        pruned, kept = free[mask[free] == 0], free[mask[free] == 1]
        assert np.abs(flat[pruned]).max() <= np.abs(flat[kept]).min()
    assert np.array_equal(magnitude_mask(flat, layout, ratio, scope, protect=1.0),
                          magnitude_mask(flat, layout, ratio, scope))
    with pytest.raises(ValueError, match="protect"):
        magnitude_mask(flat, layout, 0.99, scope, protect=0.0)


@pytest.mark.parametrize("scope", ["global", "layer", "lamp"])
def test_gradual_schedule_is_exact_masked_and_seeded(scope: str) -> None:
    spec = _spec()
    layout = layout_for(spec)
    data = _task_data()
    cfg = TrainConfig(epochs=5, batch_size=16, lr=1e-2, seed=0)
    flat = flat_weights(build_model(spec, seed=0))
    plan = PruneConfig(scope=scope, schedule="gradual", steps=3, step_epochs=1, finetune_epochs=1, protect=0.6)
    out, metrics = sparsify_model(spec, data, cfg, flat, 0.8, plan)
    widx = _weight_index(layout)
    # exactly round(0.8 * n) weights are zero: every step's pruned weights stayed at zero through
    # the fine-tunes after it, and the final mask is the exact magnitude mask of the last step
    assert int((out[widx] == 0).sum()) == round(0.8 * widx.size)
    assert metrics["sparsity"] == pytest.approx(round(0.8 * widx.size) / widx.size)
    assert metrics["finetune_epochs"] == 3 and plan.total_epochs == 3 and metrics["epoch"] == 1
    for i in protected_layers(layout):
        s = prunable_slices(layout)[i]
        assert int((out[s] == 0).sum()) <= math.floor(0.6 * (s.stop - s.start))
    assert np.isfinite(metrics["pruned_test_acc"]) and metrics["wall_s"] > 0
    _, dense = sparsify_model(spec, data, cfg, flat, 0.0, plan)
    untouched = sparsify_model(spec, data, cfg, flat, 0.0, PruneConfig(finetune_epochs=0))[1]
    assert dense["start_test_acc"] == untouched["test_acc"]  # ratio 0's start is the model as given
    again, _ = sparsify_model(spec, data, cfg, flat, 0.8, plan)
    assert np.array_equal(out, again)
    other, _ = sparsify_model(spec, data, dataclasses.replace(cfg, seed=1), flat, 0.8, plan)
    assert not np.array_equal(out, other)


def test_oneshot_plan_is_prune_and_finetune() -> None:
    spec = _spec()
    data = _task_data()
    cfg = TrainConfig(epochs=5, batch_size=16, lr=1e-2, seed=0)
    flat = flat_weights(build_model(spec, seed=0))
    a, _ = prune_and_finetune(spec, data, cfg, flat, 0.6, epochs=1, scope="layer")
    b, m = sparsify_model(spec, data, cfg, flat, 0.6, PruneConfig(scope="layer", finetune_epochs=1))
    assert np.array_equal(a, b) and m["finetune_epochs"] == 1
    _, old = prune_and_finetune(spec, data, cfg, flat, 0.6, epochs=1, scope="layer")
    assert not {"wall_s", "kept_epoch", "finetune_epochs"} & set(old) and not any(k.startswith("start_") for k in old)


@pytest.mark.parametrize("kwargs, word", [
    ({"schedule": "cubic"}, "schedule"), ({"scope": "neuron"}, "scope"), ({"steps": 0}, "steps"),
    ({"step_epochs": -1}, "step_epochs"), ({"finetune_epochs": -1}, "finetune_epochs"), ({"protect": 1.5}, "protect"),
    ({"keep": "best-test"}, "keep"), ({"lr_scale": 0.0}, "lr_scale"), ({"distill": 1.5}, "distill"),
])
def test_bad_prune_options_are_a_config_error(kwargs, word) -> None:
    with pytest.raises(ConfigError, match=word):
        PruneConfig(**kwargs)


def _untrained():
    """(spec, layout, data, flat weights of a fresh model) for the twin tests."""
    spec = _spec()
    return spec, layout_for(spec), _task_data(), flat_weights(build_model(spec, seed=0))


def test_best_val_keeps_the_best_validation_epoch_and_the_mask() -> None:
    spec, layout, data, flat = _untrained()
    cfg = TrainConfig(epochs=5, batch_size=16, lr=3e-2, seed=0)
    plan = PruneConfig(finetune_epochs=4, keep="best-val", lr_scale=0.5)
    out, metrics = sparsify_model(spec, data, cfg, flat, 0.7, plan)
    last, last_metrics = sparsify_model(spec, data, cfg, flat, 0.7, dataclasses.replace(plan, keep="last"))
    widx = _weight_index(layout)
    assert int((out[widx] == 0).sum()) == round(0.7 * widx.size)
    assert 0 <= metrics["kept_epoch"] <= 4 and last_metrics["kept_epoch"] == 4
    assert metrics["val_acc"] >= last_metrics["val_acc"]
    assert metrics["finetune_epochs"] == 4
    again, _ = sparsify_model(spec, data, cfg, flat, 0.7, plan)
    assert np.array_equal(out, again)


def test_distilled_twins_keep_the_mask_and_differ_from_plain_ones() -> None:
    spec, layout, data, flat = _untrained()
    cfg = TrainConfig(epochs=5, batch_size=16, lr=1e-2, seed=0)
    plan = PruneConfig(schedule="gradual", steps=2, step_epochs=1, finetune_epochs=1, distill=0.5)
    out, metrics = sparsify_model(spec, data, cfg, flat, 0.6, plan)
    plain, _ = sparsify_model(spec, data, cfg, flat, 0.6, dataclasses.replace(plan, distill=0.0))
    widx = _weight_index(layout)
    assert int((out[widx] == 0).sum()) == round(0.6 * widx.size)
    assert not np.array_equal(out, plain)
    assert np.array_equal(out, sparsify_model(spec, data, cfg, flat, 0.6, plan)[0])
    assert "distilled" in plan.describe() and "distilled" not in PruneConfig().describe()
