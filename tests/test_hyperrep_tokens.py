"""Tokenizer, standardisation and config of hyperrep, on real fusion-CNN layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from eo_tasks.config import ConfigError, dump_toml
from eo_tasks.models import ArchConfig, InputSpec, LayerSpec, Layout, build_model, flat_weights, spec_for
from hyperrep.config import HyperRepConfig
from hyperrep.tokens import Standardizer, Tokenizer

ROOT = Path(__file__).resolve().parents[1]
RGB, S1, SEASON = InputSpec("rgb", 3), InputSpec("s1", 2), InputSpec("season", 4, "vector")
FUSIONS = {
    "single": ([RGB], {}),
    "early": ([RGB, S1], {}),
    "early_blowup": ([RGB, S1, SEASON], {}),
    "late": ([RGB, S1, SEASON], {}),
    "late_shared": ([RGB, InputSpec("s2", 3), SEASON], {"shared_backbone": True}),
    "single_nohidden": ([RGB], {"hidden": 0}),
}


def make_spec(case: str, channels=(4, 6), image_size: int = 16):
    inputs, extra = FUSIONS[case]
    fusion = case.split("_")[0] if case != "early_blowup" else case
    kw = {"channels": channels, "kernel_sizes": (3,) * len(channels), "hidden": 8, **extra}
    return spec_for(ArchConfig(fusion=fusion, **kw), inputs, 5, image_size)


def zoo_weights(spec, n: int = 3) -> torch.Tensor:
    return torch.from_numpy(np.stack([flat_weights(build_model(spec, seed=s)) for s in range(n)]))


@pytest.mark.parametrize("case", sorted(FUSIONS))
@pytest.mark.parametrize("token_size", [0, 7])
def test_round_trip_is_exact(case: str, token_size: int) -> None:
    spec = make_spec(case)
    flat = zoo_weights(spec)
    tok = Tokenizer(build_model(spec).layout, token_size=token_size)
    tokens = tok.tokenize(flat)
    assert tokens.shape == (3, tok.num_tokens, tok.token_size)
    assert torch.equal(tok.detokenize(tokens), flat)
    assert torch.equal(tok.detokenize(tok.tokenize(flat[0])), flat[0])  # unbatched
    assert (tokens[:, ~torch.from_numpy(tok.mask)] == 0).all()  # padding is zero
    if token_size == 7:  # neurons longer than 7 values were chunked
        assert tok.num_tokens > sum(neurons_per_layer(spec))


def neurons_per_layer(spec) -> list[int]:
    model = build_model(spec)
    return [model.state_dict()[layer.weight].shape[0] for layer in model.layout.layers]


def test_token_holds_incoming_weights_then_bias() -> None:
    spec = make_spec("late")
    model = build_model(spec, seed=3)
    layout = model.layout
    tok = Tokenizer(layout)
    tokens = tok.tokenize(torch.from_numpy(flat_weights(model)))
    state = model.state_dict()
    for li, layer in enumerate(layout.layers):
        rows = np.flatnonzero(tok.positions[:, 1] == li)
        assert tok.positions[rows, 2].tolist() == list(range(len(rows)))  # one token per neuron here
        for n, row in enumerate(rows):
            expect = torch.cat([state[layer.weight][n].reshape(-1), state[layer.bias][n : n + 1]])
            assert torch.equal(tokens[row, : len(expect)], expect)
            assert tok.mask[row].sum() == len(expect)
    assert tok.positions[:, 0].tolist() == list(range(tok.num_tokens))


def test_chunks_share_layer_and_neuron_positions() -> None:
    spec = make_spec("single")
    tok = Tokenizer(build_model(spec).layout, token_size=10)
    # conv1 neurons hold 4*9 weights + 1 bias = 37 values -> 4 chunks of <= 10
    conv1 = tok.positions[tok.positions[:, 1] == 1]
    assert len(conv1) == 6 * 4
    assert conv1[:4, 2].tolist() == [0, 0, 0, 0] and conv1[4, 2] == 1
    assert tok.mask[tok.positions[:, 1] == 1].sum() == 6 * 37


def test_max_token_size_caps_the_automatic_size() -> None:
    spec = make_spec("late")
    tok = Tokenizer(build_model(spec).layout, token_size=0, max_token_size=50)
    assert tok.token_size == 50
    assert torch.equal(tok.detokenize(tok.tokenize(zoo_weights(spec))), zoo_weights(spec))


def test_unowned_parameters_get_their_own_tokens() -> None:
    shapes = {"a.weight": (3, 2), "a.bias": (3,), "scale": (5,)}
    layout = Layout.from_shapes(shapes, (LayerSpec("a", "linear", "a.weight", "a.bias"),), ())
    tok = Tokenizer(layout, token_size=2)
    flat = torch.randn(4, layout.num_params, generator=torch.Generator().manual_seed(0))
    assert torch.equal(tok.detokenize(tok.tokenize(flat)), flat)
    assert tok.num_layers == 2 and tok.has_other
    names, _ = Standardizer.groups_of(layout)
    assert names == ("a.weight", "a.bias", "other")


def test_shared_parameters_are_rejected() -> None:
    shapes = {"a.weight": (3, 2), "a.bias": (3,)}
    layers = (LayerSpec("a", "linear", "a.weight", "a.bias"), LayerSpec("b", "linear", "a.weight", None))
    with pytest.raises(ValueError, match="shares parameters"):
        Tokenizer(Layout.from_shapes(shapes, layers, ()))


def test_standardizer_is_per_layer_and_part() -> None:
    spec = make_spec("early")
    layout = build_model(spec).layout
    flat = zoo_weights(spec, n=6)
    flat[:, layout.slice("head.out.bias")] += 5.0  # a shifted group must get its own mean
    std = Standardizer.fit(layout, flat[:4].numpy())
    z = std.forward(flat[:4])
    for g, name in enumerate(std.names):
        values = z[:, torch.from_numpy(std.group == g)].double()
        assert abs(values.mean().item()) < 1e-5, name
        assert values.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-4), name
    assert torch.allclose(std.inverse(std.forward(flat)), flat, atol=1e-5)
    back = Standardizer.from_json(std.to_json(), layout)
    assert np.allclose(back.mean, std.mean) and np.allclose(back.std, std.std)
    with pytest.raises(ValueError, match="do not match"):
        Standardizer.from_json(std.to_json(), build_model(make_spec("late")).layout)


def test_configs_load_and_reject_unknown_keys(tmp_path: Path) -> None:
    for name in ("tiny", "eurosat"):
        cfg = HyperRepConfig.load(ROOT / "configs" / "hyperrep" / f"{name}.toml")
        assert cfg.model.embedding == "tokens" and cfg.model.lat_dim <= 128
    cfg = HyperRepConfig.load(ROOT / "configs" / "hyperrep" / "tiny.toml")
    path = tmp_path / "back.toml"
    path.write_text(dump_toml(cfg.to_dict()))
    assert HyperRepConfig.load(path) == cfg
    path.write_text("[model]\nd_modle = 32\n")
    with pytest.raises(ConfigError, match=r"model.*d_modle"):
        HyperRepConfig.load(path)
    path.write_text("[model]\nd_model = 30\nheads = 4\n")
    with pytest.raises(ConfigError, match="divisible"):
        HyperRepConfig.load(path)
    path.write_text("[loss]\ngamma = 1.5\n")
    with pytest.raises(ConfigError, match="gamma"):
        HyperRepConfig.load(path)
