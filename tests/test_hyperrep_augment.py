"""Batched augmentations: permutations keep every fusion mode's function; noise, erasing, windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eo_tasks.models import build_model, load_flat
from hyperrep.augment import Augmenter, Permuter, erase, noise
from hyperrep.config import AugmentSection
from hyperrep.tokens import Tokenizer
from test_hyperrep_tokens import FUSIONS, make_spec, zoo_weights


def random_inputs(spec, n: int, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    s = spec.image_size
    return {i.name: torch.randn((n, i.channels, s, s) if i.kind == "image" else (n, i.channels), generator=gen)
            for i in spec.inputs}


@pytest.mark.parametrize("case", sorted(FUSIONS))
def test_batched_index_equals_layout_permutation_index(case: str) -> None:
    layout = build_model(make_spec(case)).layout
    permuter = Permuter(layout)
    perms = permuter.random_perms(4, torch.Generator().manual_seed(1))
    idx = permuter.index(perms)
    assert idx.shape == (4, layout.num_params)
    for b in range(4):
        expect = layout.permutation_index({name: p[b].numpy() for name, p in perms.items()})
        assert np.array_equal(idx[b].numpy(), expect)
    # a partial set of groups permutes only those
    first = layout.groups[0].name
    part = permuter.index({first: perms[first]})
    assert np.array_equal(part[0].numpy(), layout.permutation_index({first: perms[first][0].numpy()}))


@pytest.mark.parametrize("case", sorted(FUSIONS))
def test_permuted_models_compute_the_same_function(case: str) -> None:
    spec = make_spec(case, channels=(5, 6, 4))
    flat = zoo_weights(spec, n=3)
    permuted = Permuter(build_model(spec).layout)(flat, torch.Generator().manual_seed(7))
    assert (permuted != flat).float().mean() > 0.5  # the permutation really moved the weights
    inputs = random_inputs(spec, 16, seed=2)
    model = build_model(spec).eval()
    with torch.no_grad():
        for b in range(3):
            before = load_flat(model, flat[b])(inputs)
            after = load_flat(model, permuted[b])(inputs)
            torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    # sorted weights per tensor are unchanged: a permutation, not a change of values
    assert torch.equal(permuted.sort(dim=1).values, flat.sort(dim=1).values)


def test_noise_and_erasing_respect_the_mask() -> None:
    spec = make_spec("late")
    tok = Tokenizer(build_model(spec).layout, token_size=16)
    tokens = tok.tokenize(zoo_weights(spec, n=8))
    mask = torch.from_numpy(tok.mask)
    gen = torch.Generator().manual_seed(0)
    noisy = noise(tokens, mask, add=0.1, mul=0.1, generator=gen)
    assert (noisy[:, ~mask] == 0).all() and (noisy[:, mask] != tokens[:, mask]).all()
    assert torch.equal(noise(tokens, mask, 0.0, 0.0, gen), tokens)
    blocked = erase(tokens, prob_block=1.0, size=(0.2, 0.2), prob_scatter=0.0, generator=gen)
    for b in range(8):  # exactly one rectangle of ceil(0.2 T) x ceil(0.2 D) entries is zeroed
        rows, cols = (blocked[b] != tokens[b]).nonzero(as_tuple=True)
        erased = torch.zeros_like(mask)
        erased[rows, cols] = True
        r, c = erased.any(1).nonzero().flatten(), erased.any(0).nonzero().flatten()
        assert len(r) <= int(np.ceil(0.2 * tok.num_tokens)) and len(c) <= int(np.ceil(0.2 * tok.token_size))
        assert (blocked[b][r.min() : r.max() + 1, c.min() : c.max() + 1] == 0).all()
    scattered = erase(tokens, prob_block=0.0, size=(0.1, 0.1), prob_scatter=0.3, generator=gen)
    zeroed = ((scattered == 0) & (tokens != 0))[:, mask].float().mean().item()
    assert 0.25 < zeroed < 0.35


def test_views_are_seeded_and_windows_match_the_full_tokens() -> None:
    spec = make_spec("early_blowup")
    tok = Tokenizer(build_model(spec).layout)
    flat = zoo_weights(spec, n=5)
    cfg = AugmentSection(window=6, noise_add=0.0, noise_mul=0.0, erase_block=0.0)
    aug = Augmenter(tok, cfg)
    a = aug.view(flat, torch.Generator().manual_seed(3))
    b = aug.view(flat, torch.Generator().manual_seed(3))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.token_index, b.token_index)
    assert a.inputs.shape == (5, 6, tok.token_size)
    full = tok.tokenize(a.target_flat)
    for i in range(5):
        assert torch.equal(a.target[i], full[i, a.token_index[i]])
        assert torch.equal(a.inputs[i], a.target[i])  # no noise configured
        assert (a.token_index[i].diff() == 1).all()
    c = aug.view(flat, torch.Generator().manual_seed(4))
    assert not torch.equal(a.target_flat, c.target_flat)  # other permutations
