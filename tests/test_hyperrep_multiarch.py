"""One hyper-representation over every architecture of a mixed-fusion zoo (issue 14): the
stratified selection, training with no ``[data] arch`` key, permutation per architecture,
decoding to the architecture asked for, run folders (format 2, and format 1 still loading)
and embedding files. The zoo is configs/zoos/tiny_fusion.toml (every fusion mode on
synthetic ben-ge stand-ins), generated once with Ray; the hyper-representation is
configs/hyperrep/tiny.toml, shortened."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eo_tasks.config import ConfigError, dump_toml
from eo_tasks.data.splits import SPLITS
from hyperrep.augment import Augmenter, Permuter
from hyperrep.config import HyperRepConfig
from hyperrep.data import WeightSet, ZooWeights, from_zoo
from hyperrep.embed import embed_zoo, load_embeddings
from hyperrep.run import HyperRep
from hyperrep.train import train_hyperrep

ROOT = Path(__file__).resolve().parents[1]
# configs/hyperrep/tiny.toml (no [data] arch: every architecture), shortened for a test
FAST = {"train": {"epochs": 3, "batch_size": 4, "device": "cpu", "threads": 1, "checkpoint_every": 1},
        "loss": {"probe_size": 8, "probe_pool": 32}}


@pytest.fixture(scope="module")
def mixed_zoo(tiny_fusion_zoo: Path) -> Path:
    return tiny_fusion_zoo  # configs/zoos/tiny_fusion.toml, generated once per session (conftest)


def modes(zoo) -> dict[int, tuple[str, bool]]:
    """Fusion mode and shared backbone of each architecture of ``zoo``."""
    arch = zoo.table["arch"].to_numpy()
    specs = {a: zoo.spec(int(np.flatnonzero(arch == a)[0])).arch for a in range(len(zoo.layouts))}
    return {a: (s.fusion, s.shared_backbone) for a, s in specs.items()}


def tiny_config(**tables: dict) -> HyperRepConfig:
    raw = HyperRepConfig.load(ROOT / "configs/hyperrep/tiny.toml").to_dict()
    assert raw["data"]["arch"] == -1  # the shipped config names no architecture
    for layer in (FAST, tables):
        for name, values in layer.items():
            raw[name] = {**raw[name], **values}
    return HyperRepConfig.from_dict(raw)


@pytest.fixture(scope="module")
def mixed_run(mixed_zoo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("mixed-run") / "run"
    train_hyperrep(mixed_zoo, tiny_config(), run)
    return run


def task_inputs(spec, n: int = 4) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(5)
    s = spec.image_size
    return {i.name: torch.randn((n, i.channels, s, s) if i.kind == "image" else (n, i.channels), generator=gen)
            for i in spec.inputs}


def test_selection_of_all_architectures_is_stratified(mixed_zoo: Path) -> None:
    from zoo import MultipleArchitecturesError, Zoo

    with Zoo.open(mixed_zoo) as zoo:
        every = zoo.select(arch="all", seed=3)
        archs = tuple(range(len(zoo.layouts)))
        assert len(set(modes(zoo).values())) == len(archs) >= 5  # every fusion mode, late shared or not
        assert every.archs == archs and set(every.layouts) == set(archs)
        with pytest.raises(MultipleArchitecturesError):
            _ = every.layout
        with pytest.raises(MultipleArchitecturesError):
            zoo.select()  # None keeps meaning "the one architecture they use"
        arch_of = zoo.table["arch"].to_numpy()
        assert (every.checkpoints["arch"].to_numpy() == arch_of[every.checkpoints["model"]]).all()
        for a in every.archs:
            alone = zoo.select(arch=a, seed=3)
            assert alone.arch == a and alone.layout == every.layouts[a]
            for s in SPLITS:  # each architecture split as if it were selected alone
                mine = every.splits[s][arch_of[every.splits[s]] == a]
                assert mine.tolist() == alone.splits[s].tolist() and len(mine) >= 1
        pair = zoo.select(arch=[2, 0], seed=3)
        assert pair.archs == (0, 2) and set(pair.checkpoints["arch"]) == {0, 2}
        with pytest.raises(ConfigError, match="not in this zoo"):
            zoo.select(arch=[7])


def test_one_hyperrep_over_every_architecture(mixed_zoo: Path, mixed_run: Path) -> None:
    from zoo import Zoo

    data = from_zoo(mixed_zoo, tiny_config().data)
    with Zoo.open(mixed_zoo) as zoo:
        archs, arch_of = tuple(range(len(zoo.layouts))), zoo.table["arch"].to_numpy()
        alone = {a: zoo.select(arch=a) for a in archs}
    assert isinstance(data, ZooWeights) and data.archs == archs
    rep = HyperRep.load(mixed_run)
    assert rep.archs == archs and rep.dims.num_archs == len(archs)
    meta = json.loads((mixed_run / "meta.json").read_text())
    assert meta["run_format"] == 3 and meta["archs"] == list(archs) and set(meta["spec_archs"]) == set(archs)
    for a in archs:  # each architecture's models split as when selected alone
        assert meta["arch_models"][str(a)] == {s: len(alone[a].splits[s]) for s in SPLITS}
        for s in SPLITS:
            assert set(alone[a].splits[s].tolist()) == {m for m in meta["split_models"][s] if arch_of[m] == a}
    # branches are told apart: every branch's first conv is a layer of its own
    names = [name for name, _ in rep.space.layer_keys]
    assert {"s1.conv0", "s2.conv0", "fused.conv0", "shared.conv0"} <= set(names)
    history = [line.split(",") for line in (mixed_run / "history.csv").read_text().splitlines()]
    assert len(history) == 1 + FAST["train"]["epochs"] and all(np.isfinite(float(v)) for row in history[1:] for v in row)
    for name in ("layout", "tokenizer", "embedding_dim"):
        with pytest.raises(ValueError, match="architecture"):
            getattr(rep, name)

    with Zoo.open(mixed_zoo) as zoo:
        for a in rep.archs:
            model = int(np.flatnonzero(zoo.table["arch"].to_numpy() == a)[-1])
            spec = zoo.spec(model)
            assert rep.layouts[a] == zoo.layouts[a]
            w = zoo.weights(model)
            # permuting this architecture's neurons (its own symmetry groups, as training
            # augments) leaves the model's outputs unchanged
            perm = Permuter(rep.layouts[a])(torch.from_numpy(np.stack([w, w])), torch.Generator().manual_seed(a))
            assert Augmenter(rep.tokenizers[a], rep.config.augment).permuter.layout == zoo.layouts[a]
            assert not torch.equal(perm[0], torch.from_numpy(w))
            inputs = task_inputs(spec)
            with torch.no_grad():
                before = zoo.load_model(model)(inputs)
                for p in perm:
                    after = rep.build_model(p, spec=spec)(inputs)
                    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)
            # decoding takes the target architecture: decode(embed(w)) is a model of w's
            emb = rep.embed(w, arch=a)
            assert emb.shape == (rep.embedding_dims[a],)
            flat = rep.decode(emb, arch=a)
            assert flat.shape == w.shape == (zoo.layouts[a].num_params,)
            with pytest.raises(ValueError, match="specs"):  # relu and tanh models: name the spec
                rep.build_model(flat, arch=a)
            net = rep.build_model(flat, spec=spec, arch=a)
            assert net.layout == zoo.layouts[a] and modes(zoo)[a] == (net.spec.arch.fusion,
                                                                      net.spec.arch.shared_backbone)
            with torch.no_grad():
                out = net(inputs)
            assert out.shape == before.shape and torch.isfinite(out).all()
            assert rep.pool(emb, arch=a).shape == (rep.pooled_dim,)
            np.testing.assert_allclose(rep.reconstruct(w, arch=a), flat, atol=1e-6)
        with pytest.raises(ValueError, match="pass arch="):
            rep.embed(w)
        with pytest.raises(ValueError, match="weights must be"):
            rep.embed(w, arch=0)  # the last architecture's model is not the first's
        with pytest.raises(ValueError, match="not one of"):
            rep.decode(emb, arch=5)


def test_embedding_file_of_a_mixed_zoo(mixed_zoo: Path, mixed_run: Path, tmp_path: Path) -> None:
    from zoo import Zoo

    rep = HyperRep.load(mixed_run)
    out = embed_zoo(mixed_run, mixed_zoo, tmp_path / "emb.h5")
    pooled = load_embeddings(out)  # lengths differ: the pooled embedding of every row
    assert list(pooled.columns[:4]) == ["model", "epoch", "split", "arch"]
    with Zoo.open(mixed_zoo) as zoo:
        n = len(zoo.metrics)
        per_arch = zoo.table["arch"].to_numpy()[zoo.metrics["model"].to_numpy()]
    assert pooled.shape == (n, 4 + rep.pooled_dim) and set(pooled["arch"]) == set(rep.archs)
    meta = json.loads((mixed_run / "meta.json").read_text())
    for s in SPLITS:
        assert set(pooled.loc[pooled["split"] == s, "model"]) == set(meta["split_models"][s])
    with Zoo.open(mixed_zoo) as zoo:
        for a in rep.archs:
            rows = load_embeddings(out, arch=a)
            assert rows.shape == ((per_arch == a).sum(), 3 + rep.embedding_dims[a])
            row = rows.iloc[4]
            w = zoo.weights(int(row["model"]), int(row["epoch"]))
            np.testing.assert_allclose(row.iloc[3:].to_numpy(float), rep.embed(w, arch=a), atol=1e-5)
            mine = pooled[(pooled["arch"] == a) & (pooled["model"] == row["model"]) & (pooled["epoch"] == row["epoch"])]
            np.testing.assert_allclose(mine.iloc[0, 4:].to_numpy(float), rep.pool(rep.embed(w, arch=a), arch=a),
                                       atol=1e-5)


def test_mixed_training_resumes_exactly(mixed_zoo: Path, tmp_path: Path) -> None:
    cfg = tiny_config(train={"epochs": 2}, loss={"probe": "random"})  # random probes feed every mode
    data = from_zoo(mixed_zoo, cfg.data)
    straight = train_hyperrep(data, cfg, tmp_path / "straight")

    def stop(line: str) -> None:
        if line.startswith("epoch 2/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_hyperrep(data, cfg, tmp_path / "resumed", progress=stop)
    resumed = train_hyperrep(data, cfg, tmp_path / "resumed")
    assert resumed.resumed_from == 1
    a = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a) and "enc_pos.arch.weight" in a
    assert resumed.history[-1]["train_loss"] == straight.history[-1]["train_loss"]


def test_one_architecture_of_a_mixed_zoo_and_format_1(mixed_zoo: Path, tmp_path: Path) -> None:
    cfg = tiny_config(data={"arch": 1}, train={"epochs": 1}, loss={"behaviour": 0.0})
    data = from_zoo(mixed_zoo, cfg.data)
    assert isinstance(data, WeightSet) and data.arch == 1
    assert isinstance(from_zoo(mixed_zoo, tiny_config(data={"arch": [0, 2]}).data), ZooWeights)
    run = tmp_path / "run"
    train_hyperrep(data, cfg, run)
    rep = HyperRep.load(run)
    assert rep.archs == (1,) and rep.layout == data.layout  # one architecture: no arch= needed
    assert "enc_pos.arch.weight" not in torch.load(run / "model.pt", weights_only=True)
    w = data.weights[:3]
    emb = rep.embed(w)
    assert emb.shape == (3, rep.embedding_dim) and rep.decode(emb).shape == w.shape
    np.testing.assert_array_equal(rep.embed(w, arch=1), emb)

    # the same run written as format 1 (one layout, one norm object, no arch keys) loads alike
    old = tmp_path / "old"
    old.mkdir()
    for name in ("model.pt", "config.toml"):
        (old / name).write_bytes((run / name).read_bytes())
    (old / "layout.json").write_text(rep.layout.to_json())
    (old / "norm.json").write_text(rep.standardizer.to_json())
    meta = json.loads((run / "meta.json").read_text())
    for key in ("archs", "layers", "embedding_dims", "pooled_dim", "spec_archs", "arch_models"):
        meta.pop(key)
    meta["dims"].pop("num_archs")
    (old / "meta.json").write_text(json.dumps({**meta, "run_format": 1}))
    again = HyperRep.load(old)
    assert again.archs == (1,)  # config.toml's data.arch names it
    np.testing.assert_array_equal(again.embed(w), emb)
    raw = HyperRepConfig.load(old / "config.toml").to_dict()
    raw["data"]["arch"] = -1
    (old / "config.toml").write_text(dump_toml(raw))
    assert HyperRep.load(old).archs == (0,)  # unnamed: 0, and no arch= is needed either
    np.testing.assert_array_equal(HyperRep.load(old).embed(w), emb)
