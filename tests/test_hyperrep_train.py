"""hyperrep end to end on a real tiny zoo (generated once with Ray for this module):
loading, overfitting, contrastive structure, the CLI, run folders, resume and embedding files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eo_tasks.config import ConfigError, dump_toml
from eo_tasks.data.splits import SPLITS
from hyperrep.augment import Permuter
from hyperrep.config import DataSection, HyperRepConfig
from hyperrep.data import from_zoo
from hyperrep.embed import load_embeddings
from hyperrep.run import HyperRep
from hyperrep.runfolder import RUN_FORMAT
from hyperrep.train import train_hyperrep
from zoo_configs import generate_ten_cnns

SMALL = {"d_model": 32, "depth": 1, "heads": 2, "lat_dim": 8, "latent_tokens": 4, "proj_dim": 16}
QUIET = {"noise_add": 0.0, "noise_mul": 0.0, "erase_block": 0.0}


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_ten_cnns(tmp_path_factory.mktemp("hyperrep-zoo"))


def config(**tables: dict) -> HyperRepConfig:
    base: dict = {"model": dict(SMALL), "train": {"epochs": 4, "batch_size": 8, "lr": 3e-3, "device": "cpu",
                                                 "threads": 1, "checkpoint_every": 1}}
    for name, values in tables.items():
        base[name] = {**base.get(name, {}), **values}
    return HyperRepConfig.from_dict(base)


def test_from_zoo_splits_by_model(tiny_zoo: Path) -> None:
    from zoo import Zoo, ZooDataset

    ws = from_zoo(tiny_zoo, DataSection())
    assert len(ws) == 10 * 4 and ws.layout.num_params == ws.weights.shape[1]
    owners = {s: set(ws.model[ws.split == s].tolist()) for s in SPLITS}
    assert not (owners["train"] & owners["val"]) and not (owners["train"] & owners["test"])
    assert owners["train"] == set(ZooDataset(tiny_zoo, "train", properties=()).splits["train"].tolist())
    with Zoo.open(tiny_zoo) as zoo:
        for i in (0, 17, 39):
            assert np.array_equal(ws.weights[i], zoo.weights(int(ws.model[i]), int(ws.epoch[i])))
            assert ws.specs[ws.spec_id[i]].arch.activation == zoo.table["activation"][ws.model[i]]
    assert len(ws.specs) == 2 and ws.spec is None  # relu and tanh models share one layout
    assert set(from_zoo(tiny_zoo, DataSection(min_epoch=2)).epoch.tolist()) == {2, 3}
    with pytest.raises(ValueError, match="epochs"):
        from_zoo(tiny_zoo, DataSection(epochs=(7,)))


def test_autoencoder_overfits_the_tiny_zoo(tmp_path: Path, tiny_zoo: Path) -> None:
    cfg = config(
        model={"d_model": 64, "depth": 2, "heads": 4, "lat_dim": 16, "latent_tokens": 8},
        train={"epochs": 50, "schedule": "constant", "warmup": 0.0, "weight_decay": 0.0, "checkpoint_every": 50},
        loss={"gamma": 0.0},
        augment={"permute": False, **QUIET},
    )
    history = train_hyperrep(tiny_zoo, cfg, tmp_path / "run").history
    first, last = history[0]["train_recon"], history[-1]["train_recon"]
    assert last * 10 <= first, (first, last)


def test_contrastive_training_brings_permuted_views_together(tmp_path: Path, tiny_zoo: Path) -> None:
    cfg = config(train={"epochs": 40}, loss={"gamma": 0.5},
                 augment={"noise_add": 0.02, "noise_mul": 0.02, "erase_block": 0.2})
    ws = from_zoo(tiny_zoo, cfg.data)
    rep = train_hyperrep(ws, cfg, tmp_path / "run").rep
    final = torch.from_numpy(ws.weights[ws.epoch == 3])  # one checkpoint of each of the 10 models
    permuter = Permuter(ws.layout)
    gen = torch.Generator().manual_seed(123)
    # the embedding keeps the neurons' order (it decodes to the permuted model); the
    # contrastive projection is where augmented views of one model come together
    a, b = rep.project(permuter(final, gen)), rep.project(permuter(final, gen))
    same = np.linalg.norm(a - b, axis=1)
    cross = np.linalg.norm(a[:, None] - a[None], axis=-1)
    others = cross[~np.eye(len(a), dtype=bool)].reshape(len(a), -1)
    assert same.mean() < 0.5 * others.mean(), (same, others.mean())
    assert (same < np.median(others, axis=1)).mean() >= 0.8, (same, np.median(others, axis=1))


def test_cli_run_folder_embed_and_api(tmp_path: Path, tiny_zoo: Path) -> None:
    from hyperzoo.cli import main
    from zoo import Zoo

    cfg_path, run, emb_path = tmp_path / "rep.toml", tmp_path / "run", tmp_path / "emb.h5"
    cfg_path.write_text(dump_toml(config(train={"epochs": 3}).to_dict()))
    assert main(["hyperrep", "train", "--zoo", str(tiny_zoo), "--config", str(cfg_path), "--out", str(run),
                 "--quiet"]) == 0
    for name in ("model.pt", "checkpoint.pt", "config.toml", "layout.json", "norm.json", "meta.json",
                 "history.csv", "curves.png"):
        assert (run / name).is_file(), name
    state = torch.load(run / "model.pt", weights_only=True)
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 3 and set(state) == set(ckpt["model"])
    resolved = HyperRepConfig.load(run / "config.toml")
    assert resolved.tokens.token_size > 0 and resolved.train.epochs == 3
    with open(run / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(float(r["epoch"])) for r in rows] == [1, 2, 3]
    assert all(np.isfinite(float(r["val_r2"])) for r in rows)
    meta = json.loads((run / "meta.json").read_text())
    assert meta["models"] == {"train": 7, "val": 2, "test": 1} and meta["run_format"] == RUN_FORMAT == 3
    ws = from_zoo(tiny_zoo, resolved.data)
    assert meta["split_models"] == {s: sorted(set(ws.model[ws.split == s].tolist())) for s in SPLITS}
    assert all(type(m) is int for ids in meta["split_models"].values() for m in ids)
    assert not list(run.glob(".*.tmp"))  # every file renamed into place

    assert main(["hyperrep", "embed", "--run", str(run), "--zoo", str(tiny_zoo), "--out", str(emb_path),
                 "--quiet"]) == 0
    df = load_embeddings(emb_path)
    rep = HyperRep.load(run)
    E = rep.embedding_dim  # one 8-value latent per weight token
    assert E == rep.dims.num_tokens * 8 and list(df.columns[:3]) == ["model", "epoch", "split"]
    assert df.shape == (40, 3 + E)
    with Zoo.open(tiny_zoo) as zoo:
        merged = df.merge(zoo.metrics, on=["model", "epoch"], how="left", validate="one_to_one")
        assert merged["test_acc"].notna().all()
        assert df.merge(zoo.table, left_on="model", right_index=True).shape[0] == 40
        row = df.iloc[13]
        weights = zoo.weights(int(row["model"]), int(row["epoch"]))
        spec = zoo.spec(int(row["model"]))
    np.testing.assert_allclose(row[[f"e{i}" for i in range(E)]].to_numpy(float), rep.embed(weights), atol=1e-5)
    ws = from_zoo(tiny_zoo, rep.config.data)
    split_of = dict(zip(ws.model.tolist(), ws.split.tolist()))
    assert all(split_of[m] == s for m, s in zip(df["model"], df["split"]))

    # --views K: each checkpoint read as its mean over K neuron orders (as predict --views), seeded
    views = [str(tmp_path / f"views{i}.h5") for i in range(2)]
    for path in views:
        assert main(["hyperrep", "embed", "--run", str(run), "--zoo", str(tiny_zoo), "--out", path,
                     "--views", "4", "--quiet"]) == 0
    a, b = load_embeddings(views[0]), load_embeddings(views[1])
    cols = [f"e{i}" for i in range(E)]
    assert a.equals(b) and a[["model", "epoch"]].equals(df[["model", "epoch"]])
    assert not np.allclose(a[cols].to_numpy(), df[cols].to_numpy())
    with Zoo.open(tiny_zoo) as zoo:  # one chunk of 40 checkpoints: HyperRep.embed on them, seed 0
        every = zoo.weights_many(a["model"].to_numpy(), a["epoch"].to_numpy())
    np.testing.assert_allclose(a[cols].to_numpy(), rep.embed(every, views=4, seed=0), atol=1e-5)

    # the numpy API: one vector or a batch; decode and reconstruct give weights
    batch = np.stack([weights, weights * 1.01])
    assert rep.embed(weights).shape == (E,) and rep.embed(batch).shape == (2, E)
    assert rep.decode(rep.embed(batch)).shape == batch.shape
    np.testing.assert_allclose(rep.reconstruct(weights), rep.decode(rep.embed(weights)), atol=1e-6)
    with pytest.raises(ValueError, match="weights must be"):
        rep.embed(weights[:-1])
    with pytest.raises(ValueError, match="specs"):
        rep.build_model(weights)  # relu and tanh models: the spec must be named
    net = rep.build_model(rep.reconstruct(weights), spec=spec)
    assert net(zoo_inputs(spec)).shape == (4, spec.num_classes)


def zoo_inputs(spec) -> dict[str, torch.Tensor]:
    s = spec.image_size
    return {i.name: torch.randn(4, i.channels, s, s) for i in spec.inputs}


def test_resume_continues_exactly(tmp_path: Path, tiny_zoo: Path) -> None:
    cfg = config(train={"epochs": 4})
    ws = from_zoo(tiny_zoo, cfg.data)
    straight = train_hyperrep(ws, cfg, tmp_path / "straight")

    def stop_after_epoch_3(line: str) -> None:
        if line.startswith("epoch 3/"):
            raise KeyboardInterrupt  # a kill after the epoch-2 checkpoint was written

    with pytest.raises(KeyboardInterrupt):
        train_hyperrep(ws, cfg, tmp_path / "resumed", progress=stop_after_epoch_3)
    assert torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)["epoch"] == 2
    resumed = train_hyperrep(ws, cfg, tmp_path / "resumed")
    assert resumed.resumed_from == 2 and len(resumed.history) == 4
    a = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.history[-1]["train_loss"] == straight.history[-1]["train_loss"]
    other = config(train={"epochs": 4, "lr": 1e-3})
    with pytest.raises(ConfigError, match="different config"):
        train_hyperrep(ws, other, tmp_path / "resumed")


def test_behavioural_loss_with_windows_and_two_activations(tmp_path: Path, tiny_zoo: Path) -> None:
    cfg = config(train={"epochs": 2}, loss={"behaviour": 1.0, "probe_size": 8},
                 augment={"window": 10})
    out = train_hyperrep(tiny_zoo, cfg, tmp_path / "run")
    assert all(np.isfinite(h["train_behaviour"]) and h["train_behaviour"] > 0 for h in out.history)
    assert len(json.loads((tmp_path / "run" / "meta.json").read_text())["specs"]) == 2


def test_probe_and_pool_settings_are_checked(tmp_path: Path, tiny_zoo: Path) -> None:
    import dataclasses

    ws = from_zoo(tiny_zoo, DataSection())
    with pytest.raises(ConfigError, match="pool"):  # a flat projection head cannot read windows
        train_hyperrep(ws, config(model={"pool": "flat"}, augment={"window": 10}), tmp_path / "flat")
    loose = dataclasses.replace(ws, source="")  # weights that did not come from a zoo file
    with pytest.raises(ValueError, match="probe"):
        train_hyperrep(loose, config(loss={"behaviour": 1.0}), tmp_path / "data-probe")
    out = train_hyperrep(loose, config(train={"epochs": 1}, loss={"behaviour": 1.0, "probe": "random"}),
                         tmp_path / "random-probe")
    assert out.history[0]["train_behaviour"] > 0
    summary = train_hyperrep(ws, config(train={"epochs": 1}, model={"embedding": "summary", "pool": "flat"}),
                             tmp_path / "summary").rep
    assert summary.embedding_dim == 4 * 8 and summary.embed(ws.weights[:3]).shape == (3, 32)


def test_newer_run_format_and_a_broken_run(tmp_path: Path, tiny_zoo: Path, capsys: pytest.CaptureFixture) -> None:
    from hyperzoo.cli import main

    run = tmp_path / "run"
    train_hyperrep(tiny_zoo, config(train={"epochs": 1}), run)
    embed = ["hyperrep", "embed", "--quiet", "--run", str(run), "--zoo", str(tiny_zoo), "--out", str(tmp_path / "e.h5")]
    meta = json.loads((run / "meta.json").read_text())
    (run / "meta.json").write_text(json.dumps({**meta, "run_format": RUN_FORMAT + 1}))
    with pytest.raises(ConfigError, match=f"meta.json: run_format {RUN_FORMAT + 1} is newer"):
        HyperRep.load(run)
    assert main(embed) == 2  # what the user fixes (update hyperzoo): one line naming the file
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(run / "meta.json") in err

    # a run folder in a state no check foresees: an internal error, shown with its traceback
    (run / "meta.json").write_text(json.dumps(meta))
    state = torch.load(run / "model.pt", weights_only=True)
    torch.save({k: v for k, v in list(state.items())[1:]}, run / "model.pt")
    assert main(embed) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "load_state_dict" in err
    assert not (tmp_path / "e.h5").exists()


def test_the_published_scale_config_trains_on_the_cpu_too(tmp_path: Path, tiny_zoo: Path) -> None:
    """configs/hyperrep/eurosat_published.toml is meant for a GPU; its model and loss run on the
    CPU path as well (one epoch, the tiny zoo's checkpoints instead of EuroSAT's)."""
    import dataclasses

    cfg = HyperRepConfig.load(Path(__file__).resolve().parents[1] / "configs/hyperrep/eurosat_published.toml")
    assert (cfg.model.d_model, cfg.model.depth, cfg.model.lat_dim, cfg.train.epochs) == (256, 8, 64, 100)
    assert (cfg.loss.behaviour, cfg.loss.gamma, cfg.loss.probe_size) == (9.0, 0.05, 256)
    cfg = dataclasses.replace(cfg, data=DataSection(), train=dataclasses.replace(
        cfg.train, epochs=1, device="cpu", threads=1, checkpoint_every=1))
    out = train_hyperrep(tiny_zoo, cfg, tmp_path / "run")
    assert len(out.history) == 1 and all(np.isfinite(v) for v in out.history[0].values()), out.history
    assert out.history[0]["train_behaviour"] > 0
    assert sum(p.numel() for p in out.rep.net.parameters()) > 4_000_000


def test_embedding_views_average_out_the_neuron_order(tmp_path: Path, tiny_zoo: Path) -> None:
    ws = from_zoo(tiny_zoo, config().data)
    rep = train_hyperrep(ws, config(train={"epochs": 1}), tmp_path / "run").rep
    final = torch.from_numpy(ws.weights[ws.epoch == 3])
    permuted = Permuter(ws.layout)(final, torch.Generator().manual_seed(7))  # the same models
    np.testing.assert_array_equal(rep.embed(final, views=1), rep.embed(final))
    np.testing.assert_array_equal(rep.embed(final, views=4, seed=3), rep.embed(final, views=4, seed=3))
    assert not np.array_equal(rep.embed(final, views=4, seed=3), rep.embed(final, views=4, seed=4))
    one = np.linalg.norm(rep.embed(final) - rep.embed(permuted), axis=1)
    # two means over 64 random permutations estimate the same average over all of them
    many = np.linalg.norm(rep.embed(final, views=64) - rep.embed(permuted, views=64, seed=1), axis=1)
    assert many.mean() < 0.5 * one.mean(), (many, one)
    with pytest.raises(ValueError, match="views must be >= 1"):
        rep.embed(final, views=0)


def test_a_saved_probe_file_stands_in_for_the_dataset(tmp_path: Path, tiny_zoo: Path) -> None:
    """`hyperzoo hyperrep probes` saves the pool training draws; a run given the file (say, on a
    GPU machine sent the zoo alone) never opens the dataset and trains exactly alike."""
    from eo_tasks.data.errors import DataError
    from hyperrep.data import task_inputs
    from hyperrep.probes import load_probe_inputs
    from hyperzoo.cli import main

    probes = tmp_path / "probes.npz"
    assert main(["hyperrep", "probes", "--zoo", str(tiny_zoo), "--out", str(probes), "--n", "16"]) == 0
    pool = load_probe_inputs(probes, tiny_zoo, 16, 0)
    expected = task_inputs(tiny_zoo, 16, 0)
    assert pool.keys() == expected.keys() and all(torch.equal(pool[k], expected[k]) for k in pool)

    loss = {"behaviour": 1.0, "probe_size": 8, "probe_pool": 16}
    with_data = train_hyperrep(tiny_zoo, config(train={"epochs": 1}, loss=loss), tmp_path / "data").history
    nowhere = str(tmp_path / "no-dataset-here")
    with pytest.raises(DataError, match="probe"):  # the folder is read unless a probe file is given
        train_hyperrep(tiny_zoo, config(train={"epochs": 1}, loss={**loss, "probe_root": nowhere}), tmp_path / "x")
    from_file = train_hyperrep(tiny_zoo, config(train={"epochs": 1}, loss={
        **loss, "probe_root": nowhere, "probe_file": str(probes)}), tmp_path / "file").history
    assert [h["train_behaviour"] for h in from_file] == [h["train_behaviour"] for h in with_data]
    from eo_tasks.config import to_dict

    toml = tmp_path / "run.toml"  # the command line's --probes does the same
    toml.write_text(dump_toml(to_dict(config(train={"epochs": 1}, loss={**loss, "probe_root": nowhere}))))
    assert main(["hyperrep", "train", "--quiet", "--zoo", str(tiny_zoo), "--config", str(toml),
                 "--out", str(tmp_path / "cli"), "--probes", str(probes)]) == 0
    cli = list(csv.DictReader((tmp_path / "cli" / "history.csv").open()))
    assert float(cli[0]["train_behaviour"]) == pytest.approx(with_data[0]["train_behaviour"], rel=1e-6)

    with pytest.raises(DataError, match=f"{probes}: holds 16 probe inputs drawn with seed 0"):
        train_hyperrep(tiny_zoo, config(train={"epochs": 1, "seed": 1}, loss={**loss, "probe_file": str(probes)}),
                       tmp_path / "seed")
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    with pytest.raises(DataError, match="bad.npz: not a probe file"):
        load_probe_inputs(tmp_path / "bad.npz", tiny_zoo, 16, 0)
