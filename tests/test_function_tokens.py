"""Function tokens (issue 36, item 3): the encoder also reads each model's responses to the
run's fixed probe set. On real zoos generated with Ray (configs/zoos/tiny_fusion.toml: every
fusion mode; configs/zoos/tiny_wildpark.toml: three architectures of different depths) and
real training runs (configs/hyperrep/tiny.toml, shortened): permutation invariance of the
function tokens, every architecture of a mixed zoo embedding and decoding, run folders
reloading and resuming, and function tokens off giving the weight-only network."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eo_tasks import ConfigError, dump_toml
from hyperrep.augment import Augmenter, Permuter
from hyperrep.config import AugmentSection, HyperRepConfig
from hyperrep.data import from_zoo, task_inputs
from hyperrep.embed import embed_zoo, load_embeddings
from hyperrep.model import FunctionDims, HyperRepNet
from hyperrep.run import HyperRep
from hyperrep.runfolder import config_identity
from hyperrep.train import train_hyperrep

ROOT = Path(__file__).resolve().parents[1]
PROBES = 6
FAST = {"train": {"epochs": 2, "batch_size": 4, "device": "cpu", "threads": 1, "checkpoint_every": 1},
        "loss": {"probe_size": 8, "probe_pool": 32}}


def tiny_config(**tables: dict) -> HyperRepConfig:
    raw = HyperRepConfig.load(ROOT / "configs/hyperrep/tiny.toml").to_dict()
    for layer in (FAST, tables):
        for name, values in layer.items():
            raw[name] = {**raw[name], **values}
    return HyperRepConfig.from_dict(raw)


# the fusion zoo reads probes of its own task (and keeps the behavioural loss on); the
# wildpark zoo standard-normal ones (the source for zoos without task data)
ZOOS = {"tiny_fusion_zoo": {"function": {"probes": PROBES, "source": "data", "seed": 3}},
        "tiny_wildpark_zoo": {"function": {"probes": PROBES, "source": "random"}, "loss": {"behaviour": 0.0}}}


@pytest.fixture(scope="module", params=sorted(ZOOS))
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    """(zoo, run folder, training outcome) of a short run with function tokens."""
    zoo = request.getfixturevalue(request.param)
    run = tmp_path_factory.mktemp("function-run") / "run"
    return zoo, run, train_hyperrep(zoo, tiny_config(**ZOOS[request.param]), run)


def last_model_of(zoo, arch: int) -> int:
    return int(np.flatnonzero(zoo.table["arch"].to_numpy() == arch)[-1])


def test_function_tokens_ignore_neuron_permutations(trained) -> None:
    from zoo import Zoo

    zoo_path, run, _ = trained
    rep = HyperRep.load(run)
    gen = torch.Generator().manual_seed(0)
    with Zoo.open(zoo_path) as zoo:
        for a in rep.archs:
            model = last_model_of(zoo, a)
            spec = zoo.spec(model)
            w = torch.from_numpy(zoo.weights(model)).float()[None]
            flat = rep.standardizers[a].forward(w)
            perm = Permuter(rep.layouts[a])(flat.expand(3, -1), gen)
            tok = rep.tokenizers[a]
            for p in perm:  # the weight tokens change, the function tokens do not
                assert not torch.allclose(tok.tokenize(p), tok.tokenize(flat[0]))
            clean = rep.responses(flat, a, spec)
            assert clean.shape == (1, PROBES, rep.probes.classes)
            torch.testing.assert_close(rep.responses(perm, a, spec), clean.expand(3, -1, -1), atol=1e-4, rtol=1e-4)
            # they are the model's own logits on the stored probes, standardised
            with torch.no_grad():
                logits = zoo.load_model(model).eval()(rep.probes.inputs)
            torch.testing.assert_close(clean[0], (logits - rep.probes.mean) / rep.probes.std, atol=1e-4, rtol=1e-4)
            # a noisy view's are what its noisy weights compute, not the clean ones
            noisy = Augmenter(tok, AugmentSection(noise_add=0.2, noise_mul=0.2, erase_block=0.0)).view(flat, gen)
            assert not torch.allclose(rep.responses(noisy.whole(tok), a, spec), clean, atol=1e-3)
            torch.testing.assert_close(noisy.whole(tok), tok.detokenize(noisy.inputs))


def test_every_architecture_embeds_and_decodes(trained) -> None:
    from zoo import Zoo

    zoo_path, run, outcome = trained
    rep = HyperRep.load(run)
    lat = rep.config.model.lat_dim
    meta = json.loads((run / "meta.json").read_text())
    assert meta["run_format"] == 3 and meta["function"]["count"] == PROBES
    assert meta["pooled_dim"] == rep.pooled_dim == (len(rep.space.layer_keys) + 2) * lat
    stored = torch.load(run / "probes.pt", weights_only=True)
    assert {k: list(v.shape[1:]) for k, v in stored["inputs"].items()} == meta["function"]["inputs"]
    if rep.config.function.source == "data":  # the task's training split, as task_inputs draws it
        drawn = task_inputs(zoo_path, PROBES, rep.config.function.seed)
        assert all(torch.equal(stored["inputs"][k], drawn[k].float()) for k in drawn)
    assert all(np.isfinite(h["train_function"]) for h in outcome.history)
    with Zoo.open(zoo_path) as zoo:
        assert rep.archs == tuple(range(len(zoo.layouts))) and len(rep.archs) >= 3
        for a in rep.archs:
            model = last_model_of(zoo, a)
            spec, w = zoo.spec(model), zoo.weights(model)
            emb = rep.embed(w, arch=a, spec=spec)
            assert emb.shape == (rep.embedding_dims[a],) == ((rep.tokenizers[a].num_tokens + PROBES) * lat,)
            assert meta["embedding_dims"][str(a)] == rep.embedding_dims[a]
            flat = rep.decode(emb, arch=a)
            assert flat.shape == w.shape == (zoo.layouts[a].num_params,) and np.isfinite(flat).all()
            net = rep.build_model(flat, spec=spec, arch=a)
            with torch.no_grad():
                out = net(rep.probes.inputs)
            assert out.shape == (PROBES, rep.probes.classes) and torch.isfinite(out).all()
            assert rep.pool(emb, arch=a).shape == (rep.pooled_dim,)
            if len(rep.arch_specs[a]) > 1:  # relu and tanh models: the function needs the spec
                with pytest.raises(ValueError, match="pass spec="):
                    rep.embed(w, arch=a)


def test_run_folder_reloads_and_embeds_alike(trained, tmp_path: Path) -> None:
    from zoo import Zoo

    zoo_path, run, outcome = trained
    rep = HyperRep.load(run)
    assert rep.probes.count == PROBES and "function.embed.weight" in torch.load(run / "model.pt", weights_only=True)
    with Zoo.open(zoo_path) as zoo:
        for a in rep.archs:
            arch_rows = np.flatnonzero(zoo.table["arch"].to_numpy() == a)[:3]
            w = np.stack([zoo.weights(int(m)) for m in arch_rows])
            specs = [zoo.spec(int(m)) for m in arch_rows]
            np.testing.assert_allclose(rep.embed(w, arch=a, spec=specs), outcome.rep.embed(w, arch=a, spec=specs),
                                       atol=1e-5)
    out = embed_zoo(run, zoo_path, tmp_path / "emb.h5")
    pooled = load_embeddings(out)
    assert pooled.shape[1] == 4 + rep.pooled_dim and set(pooled["arch"]) == set(rep.archs)
    with Zoo.open(zoo_path) as zoo:
        row = load_embeddings(out, arch=rep.archs[-1]).iloc[2]
        m, e = int(row["model"]), int(row["epoch"])
        np.testing.assert_allclose(row.iloc[3:].to_numpy(float),
                                   rep.embed(zoo.weights(m, e), arch=rep.archs[-1], spec=zoo.spec(m)), atol=1e-5)


def test_function_run_resumes_exactly(tiny_wildpark_zoo: Path, tmp_path: Path) -> None:
    cfg = tiny_config(**ZOOS["tiny_wildpark_zoo"])
    data = from_zoo(tiny_wildpark_zoo, cfg.data)
    straight = train_hyperrep(data, cfg, tmp_path / "straight")

    def stop(line: str) -> None:
        if line.startswith("epoch 2/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_hyperrep(data, cfg, tmp_path / "resumed", progress=stop)
    resumed = train_hyperrep(data, cfg, tmp_path / "resumed")  # reads the probes back from the folder
    assert resumed.resumed_from == 1
    a = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.history[-1]["train_function"] == straight.history[-1]["train_function"]


def test_function_tokens_off_is_the_weight_only_network(tiny_wildpark_zoo: Path, tmp_path: Path) -> None:
    cfg = tiny_config(train={"epochs": 1}, loss={"behaviour": 0.0})
    assert cfg.function.probes == 0 and "function" not in config_identity(cfg)  # old checkpoints resume
    run = tmp_path / "run"
    rep = train_hyperrep(tiny_wildpark_zoo, cfg, run).rep
    state = torch.load(run / "model.pt", weights_only=True)
    assert rep.probes is None and not (run / "probes.pt").exists()
    assert not any(k.startswith("function") for k in state)
    meta = json.loads((run / "meta.json").read_text())
    assert "function" not in meta and meta["pooled_dim"] == (len(rep.space.layer_keys) + 1) * cfg.model.lat_dim
    # with function tokens: the same parameters plus the function ones (the projection head
    # reads one more pooled slot), every shared one drawn with the same values
    torch.manual_seed(0)
    off = HyperRepNet(rep.dims, cfg.model).state_dict()
    torch.manual_seed(0)
    on = HyperRepNet(rep.dims, cfg.model, FunctionDims(PROBES, 10)).state_dict()
    assert [k for k in on if not k.startswith("function.")] == list(off) == list(state)
    assert all(torch.equal(on[k], off[k]) for k in off if not k.startswith("projection."))
    w = from_zoo(tiny_wildpark_zoo, cfg.data).sets[0].weights[:3]
    emb = rep.embed(w, arch=0)
    with pytest.raises(ValueError, match="no function tokens"):
        rep.net.encode(rep.tokenizers[0].tokenize(torch.zeros(1, rep.layouts[0].num_params)),
                       rep.positions(1, 0), torch.zeros(1, PROBES, 10))

    # the folder as run format 2 wrote it (no [function] table, no function key) loads alike
    raw = HyperRepConfig.load(run / "config.toml").to_dict()
    raw.pop("function")
    (run / "config.toml").write_text(dump_toml(raw))
    (run / "meta.json").write_text(json.dumps({**meta, "run_format": 2}))
    old = HyperRep.load(run)
    np.testing.assert_array_equal(old.embed(w, arch=0), emb)
    assert old.decode(emb, arch=0).shape == w.shape


def test_function_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="probes"):
        tiny_config(function={"probes": -1})
    with pytest.raises(ConfigError, match="unknown key"):
        tiny_config(function={"tokens": 3})
    with pytest.raises(ConfigError, match="source"):
        tiny_config(function={"source": "labels"})
