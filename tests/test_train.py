"""The seeded trainer on small in-memory tasks (real torch training)."""

import numpy as np
import pytest
import torch

from eo_tasks.data.types import ModalityInfo, TaskData, TaskInfo, TensorSet
from eo_tasks.models.family import spec_for
from eo_tasks.models.spec import ArchConfig
from eo_tasks.train.config import TrainConfig
from eo_tasks.config import ConfigError
from eo_tasks.train.loop import DivergedError, Distill, predict_logits, soft_loss, train_model

MODS = (ModalityInfo("s2", "image", 4), ModalityInfo("season", "vector", 2))


def _split(n: int, seed: int, multilabel: bool = False) -> TensorSet:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, 16, 16, generator=g)
    season = torch.randn(n, 2, generator=g)
    score = x[:, 0].mean((1, 2)) * 4 + season[:, 0]
    if multilabel:
        labels = torch.stack([score > 0, x[:, 1].mean((1, 2)) > 0, score > 1], 1).float()
    else:
        labels = (score > 0).long() + (score > 1).long()
    return TensorSet({"s2": x, "season": season}, labels)


def _task(multilabel: bool = False) -> TaskData:
    info = TaskInfo("toy", ("a", "b", "c"), multilabel, MODS, 16)
    return TaskData(info, {s: _split(n, i, multilabel) for i, (s, n) in enumerate([("train", 600), ("val", 200), ("test", 200)])})


def _spec(multilabel: bool = False, fusion: str = "early_blowup"):
    arch = ArchConfig(fusion=fusion, channels=(6, 6), kernel_sizes=(3, 3), hidden=16)
    return spec_for(arch, MODS, 3, 16, multilabel=multilabel)


def test_learns_and_reports_every_epoch():
    seen = []
    cfg = TrainConfig(epochs=4, lr=3e-3, batch_size=32, seed=1)
    result = train_model(_spec(), _task(), cfg, callback=lambda e, w, m: seen.append((e, w.copy(), m)))
    assert [e for e, _, _ in seen] == [0, 1, 2, 3, 4]
    assert all(w.dtype == np.float32 and w.shape == (result.model.layout.num_params,) for _, w, _ in seen)
    first, last = result.history[0], result.history[-1]
    assert last["test_acc"] > max(first["test_acc"], 0.6)
    assert last["train_loss"] < first["train_loss"]
    assert last["gap"] == pytest.approx(last["train_acc"] - last["test_acc"])
    # the callback's last weights are the returned model's
    assert np.array_equal(seen[-1][1], result.model.layout.flatten(result.model.state_dict()))


def test_same_seed_bit_identical_other_seed_differs():
    cfg = TrainConfig(epochs=2, batch_size=32, seed=3)
    spec = _spec(fusion="late")
    a = train_model(spec, _task(), cfg).model
    b = train_model(spec, _task(), cfg).model
    c = train_model(spec, _task(), TrainConfig(epochs=2, batch_size=32, seed=4)).model
    flat = lambda m: m.layout.flatten(m.state_dict())
    assert np.array_equal(flat(a), flat(b))
    assert not np.array_equal(flat(a), flat(c))


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "adamw", "rmsprop"])
def test_optimizers_train(optimizer):
    cfg = TrainConfig(optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 3e-3, epochs=2, weight_decay=1e-4)
    result = train_model(_spec(), _task(), cfg)
    assert result.final["train_loss"] < result.history[0]["train_loss"]


def test_multilabel_reports_f1_and_map():
    result = train_model(_spec(multilabel=True), _task(multilabel=True), TrainConfig(epochs=3, lr=3e-3))
    final = result.final
    assert {"test_acc", "test_map", "train_map"} <= set(final)
    assert 0 <= final["test_acc"] <= 1 and final["test_map"] > 0.5


def test_divergence_raises():
    with pytest.raises(DivergedError, match="diverged at epoch 1"):
        train_model(_spec(), _task(), TrainConfig(optimizer="sgd", lr=1e6, momentum=0.0, epochs=3))


def test_mask_keeps_pruned_weights_zero_and_init_weights_used():
    spec = _spec()
    base = train_model(spec, _task(), TrainConfig(epochs=1)).model
    flat = base.layout.flatten(base.state_dict())
    mask = (np.abs(flat) > np.median(np.abs(flat))).astype(np.float32)
    weights = []
    result = train_model(spec, _task(), TrainConfig(epochs=2, seed=9), init_weights=flat, mask=mask,
                         callback=lambda e, w, m: weights.append(w))
    assert np.array_equal(weights[0], flat * mask)  # epoch 0 = masked start
    assert np.all(weights[-1][mask == 0] == 0)
    assert not np.array_equal(weights[-1], weights[0])


def test_train_eval_size_is_seeded_subset():
    cfg = TrainConfig(epochs=1, train_eval_size=100)
    a = train_model(_spec(), _task(), cfg).final
    b = train_model(_spec(), _task(), cfg).final
    assert a == b


def test_eval_epochs_evaluates_only_those_and_trains_the_same_weights():
    cfg = TrainConfig(epochs=4, lr=3e-3, batch_size=32, seed=5)
    every, some = [], []
    train_model(_spec(), _task(), cfg, callback=lambda e, w, m: every.append((e, w.copy(), m)))
    result = train_model(_spec(), _task(), cfg, callback=lambda e, w, m: some.append((e, w.copy(), m)),
                         eval_epochs=(0, 2, 4))
    assert [e for e, _, _ in some] == [0, 2, 4]
    assert [h["epoch"] for h in result.history] == [0.0, 2.0, 4.0]
    for (e, w, m), (e_all, w_all, m_all) in zip(some, [every[0], every[2], every[4]]):
        assert e == e_all and np.array_equal(w, w_all) and m == m_all


def test_channels_last_training_flattens_like_a_contiguous_copy():
    result = train_model(_spec(fusion="late"), _task(), TrainConfig(epochs=1, batch_size=32, seed=2))
    state = result.model.state_dict()
    contiguous = {k: v.contiguous() for k, v in state.items()}
    layout = result.model.layout
    assert np.array_equal(layout.flatten(state), layout.flatten(contiguous))
    # and a model rebuilt from the flat vector (contiguous weights) predicts the same logits
    rebuilt = type(result.model)(result.model.spec, seed=None)
    rebuilt.load_state_dict(layout.unflatten(layout.flatten(state)))
    batch = {k: v[:50] for k, v in _task().splits["test"].inputs.items()}
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(batch), result.model.eval()(batch), rtol=1e-5, atol=1e-5)


def test_soft_loss_is_zero_at_the_teacher_and_the_scaled_kl_elsewhere():
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    assert soft_loss(teacher, teacher, 2.0, multilabel=False).item() == pytest.approx(0.0, abs=1e-7)
    p, q = torch.softmax(teacher / 2, 1), torch.softmax(student / 2, 1)
    expected = 4 * (p * (p.log() - q.log())).sum(1).mean()
    assert soft_loss(student, teacher, 2.0, multilabel=False).item() == pytest.approx(expected.item(), rel=1e-5)
    multi = soft_loss(student, teacher, 1.0, multilabel=True).item()
    assert multi > soft_loss(teacher, teacher, 1.0, multilabel=True).item()


@pytest.mark.parametrize("multilabel", [False, True])
def test_distilling_from_itself_leaves_a_model_where_it_is(multilabel):
    # a student that starts as its teacher has nothing to learn from the soft loss alone (weight 1):
    # plain SGD leaves it where it was, while the labels alone move it
    spec = _spec(multilabel)
    task = _task(multilabel)
    flat = train_model(spec, task, TrainConfig(epochs=1)).model
    flat = flat.layout.flatten(flat.state_dict())
    cfg = TrainConfig(epochs=1, optimizer="sgd", momentum=0.0, lr=0.05, seed=3)
    kept = train_model(spec, task, cfg, init_weights=flat, distill=Distill(flat, 1.0)).model
    moved = train_model(spec, task, cfg, init_weights=flat).model
    assert np.allclose(kept.layout.flatten(kept.state_dict()), flat, atol=1e-5)
    assert not np.allclose(moved.layout.flatten(moved.state_dict()), flat, atol=1e-3)


def test_distillation_pulls_a_student_towards_its_teacher():
    spec = _spec()
    task = _task()
    teacher = train_model(spec, task, TrainConfig(epochs=3, seed=1)).model
    flat = teacher.layout.flatten(teacher.state_dict())
    cfg = TrainConfig(epochs=2, seed=5)
    def disagreement(model):
        return (predict_logits(model, task.splits["test"]).argmax(1)
                != predict_logits(teacher, task.splits["test"]).argmax(1)).float().mean().item()
    taught = train_model(spec, task, cfg, distill=Distill(flat, 1.0)).model  # from a fresh init
    alone = train_model(spec, task, cfg).model
    assert disagreement(taught) < disagreement(alone)


@pytest.mark.parametrize("kwargs", [{"weight": 0.0}, {"weight": 1.5}, {"weight": 0.5, "temperature": 0.0}])
def test_bad_distillation_is_a_config_error(kwargs):
    with pytest.raises(ConfigError, match="distillation"):
        Distill(np.zeros(3, np.float32), **kwargs)
