"""The fusion-CNN family: layouts, flat round trips, neuron symmetries, seeding, init, errors."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from eo_tasks.data import ModalityInfo
from eo_tasks.models import (
    ArchConfig,
    AxisBlock,
    InputSpec,
    Layout,
    ModelSpec,
    SymmetryGroup,
    build_model,
    flat_weights,
    layout_for,
    load_flat,
    spec_for,
)

SIZE = 16
ACTIVATIONS = ("relu", "tanh", "gelu", "sigmoid", "leaky_relu")
# Unequal widths and kernels so that a wrong axis or block in a group cannot pass by symmetry.
SMALL = dict(channels=(4, 6, 5), kernel_sizes=(3, 1, 5), hidden=7)
CASES = {
    "single": ("single", [InputSpec("rgb", 3)], {}),
    "single_nohidden": ("single", [InputSpec("rgb", 3)], {"hidden": 0}),
    "early": ("early", [InputSpec("s2", 4), InputSpec("s1", 2)], {}),
    "early_blowup": ("early_blowup", [InputSpec("s2", 4), InputSpec("season", 3, "vector")], {}),
    "late": ("late", [InputSpec("s2", 4), InputSpec("s1", 2), InputSpec("season", 3, "vector")], {}),
    "late_shared": (
        "late",
        [InputSpec("a", 3), InputSpec("b", 3), InputSpec("season", 2, "vector")],
        {"shared_backbone": True},
    ),
}


def make_spec(case: str, activation: str = "relu", **arch_kw) -> ModelSpec:
    fusion, inputs, extra = CASES[case]
    arch = ArchConfig(fusion=fusion, activation=activation, **{**SMALL, **extra, **arch_kw})
    return ModelSpec(arch=arch, inputs=tuple(inputs), num_classes=3, image_size=SIZE)


def random_inputs(spec: ModelSpec, batch: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    s = spec.image_size
    out = {
        i.name: torch.randn((batch, i.channels, s, s) if i.kind == "image" else (batch, i.channels), generator=g)
        for i in spec.inputs
    }
    out["label"] = torch.zeros(batch, dtype=torch.long)  # samples carry extra keys
    return out


@pytest.mark.parametrize("case", CASES)
def test_flat_round_trip_matches_state_dict(case: str) -> None:
    model = build_model(make_spec(case), seed=3)
    state, layout = model.state_dict(), model.layout
    assert [t.name for t in layout.tensors] == list(state)
    assert not list(model.buffers())
    offset = 0
    for t in layout.tensors:
        assert t.shape == tuple(state[t.name].shape) and t.offset == offset
        offset += t.size
    flat = flat_weights(model)
    assert flat.dtype == np.float32 and flat.shape == (layout.num_params,) == (offset,)
    for name, value in layout.unflatten(flat).items():
        assert torch.equal(value, state[name])
    other = load_flat(build_model(make_spec(case), seed=4), flat)
    assert np.array_equal(flat_weights(other), flat)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("case", CASES)
def test_group_permutations_keep_the_function(case: str, activation: str) -> None:
    spec = make_spec(case, activation)
    model = build_model(spec, seed=1).eval()
    x = random_inputs(spec)
    flat = flat_weights(model)
    perms = model.layout.random_permutations(np.random.default_rng(7))
    moved = flat[model.layout.permutation_index(perms)]
    assert not np.array_equal(moved, flat)
    permuted = load_flat(build_model(spec, seed=2), moved).eval()
    with torch.no_grad():
        expected, got = model(x), permuted(x)
    assert expected.shape == (5, spec.num_classes)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_groups_cover_every_hidden_neuron_and_nothing_else(case: str) -> None:
    spec = make_spec(case)
    layout = layout_for(spec)
    tmap = layout.tensor_map
    out_members = {(m.tensor, m.axis, m.start, m.block, g.size) for g in layout.groups for m in g.members}
    assert [l.name for l in layout.layers][-1] == "head.out"
    for layer in layout.layers[:-1]:
        width = tmap[layer.weight].shape[0]
        assert (layer.weight, 0, 0, 1, width) in out_members, layer.name
        assert (layer.bias, 0, 0, 1, width) in out_members, layer.name
    touched = {(m.tensor, m.axis) for g in layout.groups for m in g.members}
    assert ("head.out.weight", 0) not in touched and ("head.out.bias", 0) not in touched
    assert not any(t.endswith("conv0.weight") and axis == 1 for t, axis in touched)  # raw input channels
    # the head's input axis: exactly the image features are permuted, raw vector inputs are not
    first = "head.hidden.weight" if spec.arch.hidden else "head.out.weight"
    covered = np.zeros(tmap[first].shape[1], dtype=int)
    for g in layout.groups:
        for m in g.members:
            if (m.tensor, m.axis) == (first, 1):
                covered[m.start : m.start + g.size * m.block] += 1
    n_vector = sum(i.channels for i in spec.inputs if i.kind == "vector") if spec.arch.fusion == "late" else 0
    assert covered.tolist() == [1] * (len(covered) - n_vector) + [0] * n_vector


@pytest.mark.parametrize("case", CASES)
def test_layout_and_spec_json_round_trip(case: str) -> None:
    spec = make_spec(case)
    layout = build_model(spec).layout
    assert Layout.from_json(layout.to_json()) == layout
    assert layout_for(spec) == layout
    assert ModelSpec.from_json(spec.to_json()) == spec


def test_seeds_fix_weights_without_touching_global_rng() -> None:
    spec = make_spec("late")
    before = torch.random.get_rng_state()
    a, b, c = (flat_weights(build_model(spec, seed=s)) for s in (11, 11, 12))
    assert torch.equal(before, torch.random.get_rng_state())
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(flat_weights(build_model(spec, seed=None)), a)


def _expected_std(init: str, fan_in: int, fan_out: int, gain: float) -> float:
    return {
        "uniform": 1 / math.sqrt(3 * fan_in),
        "normal": 1 / math.sqrt(fan_in),
        "kaiming_uniform": gain / math.sqrt(fan_in),
        "kaiming_normal": gain / math.sqrt(fan_in),
        "xavier": gain * math.sqrt(2 / (fan_in + fan_out)),
    }[init]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("init", ("uniform", "normal", "kaiming_uniform", "kaiming_normal", "xavier"))
def test_init_scale(init: str, activation: str) -> None:
    arch = ArchConfig(channels=(8, 8, 8), kernel_sizes=(3, 3, 3), hidden=64, activation=activation, init=init)
    spec = ModelSpec(arch=arch, inputs=(InputSpec("rgb", 3),), num_classes=10, image_size=32)
    state = build_model(spec, seed=0).state_dict()
    assert all(torch.isfinite(v).all() for v in state.values())
    gain = {"relu": 2**0.5, "gelu": 2**0.5, "leaky_relu": (2 / 1.0001) ** 0.5, "tanh": 5 / 3, "sigmoid": 1.0}
    checks = [("head.hidden", 128, 64, gain[activation]), ("head.out", 64, 10, 1.0), ("backbones.rgb.conv1", 72, 72, gain[activation])]
    for name, fan_in, fan_out, g in checks:
        w, b = state[f"{name}.weight"], state[f"{name}.bias"]
        want = _expected_std(init, fan_in, fan_out, g)
        assert abs(w.std().item() / want - 1) < 0.12, (name, w.std().item(), want)
        assert abs(w.mean().item()) < 0.1 * want
        assert b.abs().max() <= 1 / math.sqrt(fan_in) and b.abs().max() > 0
        if not init.endswith("normal"):
            assert w.abs().max() <= want * math.sqrt(3) + 1e-7


def test_parameter_counts_of_typical_configs() -> None:
    arch = ArchConfig(channels=(8, 8, 8), kernel_sizes=(3, 3, 3), hidden=32)
    rgb = spec_for(arch, [ModalityInfo("rgb", "image", 3)], num_classes=10, image_size=32)
    # convs 3*8*9+8, 2x (8*8*9+8); hidden 128*32+32; out 32*10+10
    assert build_model(rgb).layout.num_params == 224 + 2 * 584 + 4128 + 330 == 5850
    ms = spec_for(arch, [ModalityInfo("ms", "image", 13)], num_classes=10, image_size=32)
    assert layout_for(ms).num_params == 5850 + 10 * 8 * 9
    late = spec_for(
        replace(arch, fusion="late"),
        [ModalityInfo("s2", "image", 12), ModalityInfo("s1", "image", 2), ModalityInfo("season", "vector", 4)],
        num_classes=19, image_size=32, multilabel=True,
    )
    assert 2_000 < layout_for(late).num_params < 20_000


def test_early_blowup_equals_early_fusion_of_constant_maps() -> None:
    blowup = build_model(make_spec("early_blowup"), seed=5).eval()
    image_spec = ModelSpec(
        arch=replace(blowup.spec.arch, fusion="early"),
        inputs=(InputSpec("s2", 4), InputSpec("season", 3)),
        num_classes=3,
        image_size=SIZE,
    )
    early = load_flat(build_model(image_spec), flat_weights(blowup)).eval()
    x = random_inputs(blowup.spec)
    maps = dict(x, season=x["season"][:, :, None, None].expand(-1, -1, SIZE, SIZE))
    with torch.no_grad():
        torch.testing.assert_close(early(maps), blowup(x))


def test_shared_backbone_equals_late_fusion_with_tied_weights() -> None:
    shared = build_model(make_spec("late_shared"), seed=5).eval()
    separate = build_model(make_spec("late_shared", shared_backbone=False), seed=6).eval()
    tied = {}
    for key in separate.state_dict():
        src = key.replace("backbones.a.", "backbones.shared.").replace("backbones.b.", "backbones.shared.")
        tied[key] = shared.state_dict()[src]
    separate.load_state_dict(tied)
    x = random_inputs(shared.spec)
    with torch.no_grad():
        torch.testing.assert_close(separate(x), shared(x))
        # the raw vector input reaches the head
        assert not torch.allclose(shared(dict(x, season=x["season"] + 1)), shared(x))


BAD = [
    (dict(image_size=20), "multiple of 2\\*\\*3"),
    (dict(inputs=(InputSpec("a", 3), InputSpec("b", 3))), "exactly one image"),
    (dict(inputs=(InputSpec("a", 3), InputSpec("v", 2, "vector"))), "exactly one image"),
    (dict(fusion="early", inputs=(InputSpec("a", 3), InputSpec("v", 2, "vector"))), "early_blowup"),
    (dict(shared_backbone=True), "late fusion only"),
    (dict(kernel_sizes=(3, 2, 3)), "odd"),
    (dict(hidden=-1), "hidden"),
    (dict(num_classes=0), "num_classes"),
    (dict(fusion="late", inputs=(InputSpec("v", 2, "vector"),)), "at least one image"),
    (dict(fusion="late", inputs=(InputSpec("a", 3), InputSpec("a", 3))), "twice"),
    (dict(inputs=(InputSpec("a.b", 3),)), "without '.'"),
    (dict(inputs=(InputSpec("a", 0),)), "channels"),
    (dict(inputs=(InputSpec("a", 3, "table"),)), "kind"),  # type: ignore[arg-type]
    (dict(inputs=()), "no inputs"),
]


@pytest.mark.parametrize(("change", "match"), BAD)
def test_bad_specs_raise_clear_errors(change: dict, match: str) -> None:
    arch_keys = {"fusion", "shared_backbone", "kernel_sizes", "hidden"}
    arch = replace(ArchConfig(), **{k: v for k, v in change.items() if k in arch_keys})
    spec_kw = dict(inputs=(InputSpec("rgb", 3),), num_classes=3, image_size=32)
    spec_kw.update({k: v for k, v in change.items() if k not in arch_keys})
    spec = ModelSpec(arch=arch, **spec_kw)
    with pytest.raises(ValueError, match=match):
        build_model(spec)
    with pytest.raises(ValueError, match=match):
        layout_for(spec)


def test_bad_inputs_and_vectors_raise_clear_errors() -> None:
    spec = make_spec("late")
    model = build_model(spec)
    x = random_inputs(spec)
    with pytest.raises(ValueError, match="'s1' missing"):
        model({k: v for k, v in x.items() if k != "s1"})
    with pytest.raises(ValueError, match="'season' has shape"):
        model(dict(x, season=torch.zeros(5, 4)))
    with pytest.raises(ValueError, match="flat vector has shape"):
        load_flat(model, np.zeros(model.layout.num_params + 1, dtype=np.float32))
    with pytest.raises(ValueError, match="activation"):
        ArchConfig(activation="swish")  # type: ignore[arg-type]


def test_layout_rejects_overlapping_groups_and_unflatten_copies() -> None:
    layout = layout_for(make_spec("single"))
    g = layout.groups[0]
    clash = SymmetryGroup("clash", g.size, (g.members[0],))
    with pytest.raises(ValueError, match="overlap"):
        Layout.from_shapes({t.name: t.shape for t in layout.tensors}, layout.layers, (*layout.groups, clash))
    bad_axis = SymmetryGroup("bad", 2, (AxisBlock(layout.tensors[1].name, 1, 0, 1),))
    with pytest.raises(ValueError, match="no axis"):
        Layout.from_shapes({t.name: t.shape for t in layout.tensors}, layout.layers, (bad_axis,))
    flat = np.zeros(layout.num_params, dtype=np.float32)
    state = layout.unflatten(flat)
    flat[:] = 1.0
    assert all(not v.any() for v in state.values())
    assert layout.unflatten(torch.zeros(layout.num_params, dtype=torch.float64))["head.out.bias"].dtype == torch.float32
