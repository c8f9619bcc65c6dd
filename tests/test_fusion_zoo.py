"""One zoo over every fusion mode (configs/zoos/tiny_fusion.toml, real Ray and HDF5): the modes,
their inputs, per-checkpoint cloudy/clear accuracy, config errors, and property prediction
across the architectures (role-wise s(W), one split for all)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from eo_tasks.config import ConfigError
from eo_tasks.data.types import ModalityInfo, TaskData, TaskInfo, TensorSet
from eo_tasks.models import ArchConfig, InputSpec, ModelSpec, build_model, fusion_inputs
from eo_tasks.train.config import TrainConfig
from eo_tasks.train.loop import evaluate, train_model
from hyperrep.downstream import PredictConfig, Rows
from zoo.spec import spec_from_text

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "zoos" / "tiny_fusion.toml"
MODES = {"single": ["s2"], "early": ["s2", "s1"], "early_blowup": ["s2", "s1", "season"], "late": ["s2", "s1"],
         "late_shared": ["s2", "s1"]}
S2, S1, SEASON = ModalityInfo("s2", "image", 4), ModalityInfo("s1", "image", 2), ModalityInfo("season", "vector", 4)


@pytest.fixture(scope="module")
def fusion_zoo(tiny_fusion_zoo: Path) -> Path:
    return tiny_fusion_zoo  # TINY, generated once per session with real Ray (conftest)


# ---- the zoo ----------------------------------------------------------------------
def test_every_mode_with_its_own_inputs_and_sky_metrics(fusion_zoo: Path) -> None:
    from zoo import Zoo

    with Zoo.open(fusion_zoo) as zoo:
        table, metrics = zoo.table, zoo.metrics
        modes = {}
        for m in range(zoo.num_models):
            spec = zoo.spec(m)
            mode = spec.arch.fusion + ("_shared" if spec.arch.shared_backbone else "")
            modes.setdefault(mode, set()).add(int(table.loc[m, "arch"]))
            assert [i.name for i in spec.inputs] == MODES[mode], mode
        assert sorted(modes) == sorted(MODES)
        assert all(len(archs) == 1 for archs in modes.values()) and len(zoo.layouts) == 5
        assert table["fusion"].value_counts().to_dict() == {"single": 4, "early": 4, "early_blowup": 4, "late": 8}
        # every kept checkpoint has accuracy on cloudy and on clear test patches
        assert len(metrics) == 20 * 3
        for col in ("test_acc_cloudy", "test_acc_clear"):
            assert col in metrics and np.isfinite(metrics[col]).all() and metrics[col].between(0, 1).all()
        # test_acc is the patch-weighted mean of the two
        data = zoo.task_data()
        cloudy = data.splits["test"].meta["cloud_fraction"] >= 0.5
        share = cloudy.mean()
        assert 0.1 < share < 0.6
        mixed = share * metrics["test_acc_cloudy"] + (1 - share) * metrics["test_acc_clear"]
        np.testing.assert_allclose(mixed, metrics["test_acc"], atol=1e-5)


def test_a_mode_the_data_cannot_feed_is_one_config_error(fusion_zoo: Path, tmp_path: Path) -> None:
    from zoo.runner import generate

    text = TINY.read_text().replace('modalities = ["s2", "s1", "season"]', 'modalities = ["s2", "s1"]')
    with pytest.raises(ConfigError) as err:
        generate(spec_from_text(text, where="bad.toml"), tmp_path / "bad.h5", progress=None)
    message = str(err.value)
    assert "\n" not in message and "population member 2" in message
    assert "fusion 'early_blowup'" in message and "data.modalities" in message
    assert not (tmp_path / "bad.h5").exists()
    with pytest.raises(ConfigError, match=r"fusion 'late' fuses several image modalities.*data.modalities"):
        fusion_inputs(ArchConfig(fusion="late"), [S2, SEASON])


def test_fusion_inputs_per_mode() -> None:
    mods = [S2, S1, SEASON]
    got = {f: [m.name for m in fusion_inputs(ArchConfig(fusion=f), mods)]
           for f in ("single", "early", "early_blowup", "late")}
    assert got == {k: v for k, v in MODES.items() if k != "late_shared"}
    with pytest.raises(ConfigError, match="needs an image modality"):
        fusion_inputs(ArchConfig(fusion="single"), [SEASON])
    with pytest.raises(ConfigError, match="'early_blowup' blows up vector modalities"):
        fusion_inputs(ArchConfig(fusion="early_blowup"), [S2, S1])


def test_population_variants_are_checked() -> None:
    base = TINY.read_text()
    spec = spec_from_text(base)
    assert len(spec.population.variants) == 5
    with pytest.raises(ConfigError, match=r"variants\[0\]\.fusion: 'fusion' is varied by the grid"):
        spec_from_text(base.replace('activation = ["relu", "tanh"]', 'fusion = ["single"]'))
    with pytest.raises(ConfigError, match=r"variants\[1\]\.fusion: expected one of"):
        spec_from_text(base.replace('{fusion = "early"}', '{fusion = "middle"}'))
    with pytest.raises(ConfigError, match="two variants are the same"):
        spec_from_text(base.replace('{fusion = "early"}', '{fusion = "single"}'))


def test_variants_set_the_architecture() -> None:
    from zoo.population import expand

    text = (ROOT / "configs" / "zoos" / "tiny_wildpark.toml").read_text()
    members = expand(spec_from_text(text))
    archs = [(m.arch.channels, m.arch.kernel_sizes, m.arch.hidden) for m in members]
    assert archs[:3] == [((4, 6), (5, 3), 8), ((4, 4, 8), (3, 3, 3), 0), ((6,), (3,), 12)]
    assert len(set(archs)) == 3 and len(members) == 9
    # each member draws its own recipe, so the three architectures of draw 0 differ in it too
    assert len({tuple((k, v) for k, v in m.overrides if k in ("lr", "optimizer")) for m in members[:3]}) == 3
    wild = spec_from_text((ROOT / "configs" / "zoos" / "eurosat_wildpark.toml").read_text())
    assert len(wild.population.variants) >= 12 and len(expand(wild)) >= 600
    bad = text.replace("{channels = [6], kernel_sizes = [3], hidden = 12}", "{channels = [6, 8, 8], hidden = 12}")
    with pytest.raises(ConfigError, match=r"channels \[6, 8, 8\] \(population.variants\[2\].channels\) with "
                                          r"kernel_sizes \[3, 3\] \(model\)"):
        spec_from_text(bad)
    with pytest.raises(ConfigError, match=r"variants\[0\]\.hidden: hidden must be >= 0"):
        spec_from_text(text.replace("hidden = 8}", "hidden = -1}"))
    with pytest.raises(ConfigError, match=r"variants\[0\]\.channels: channels must be positive"):
        spec_from_text(text.replace("{channels = [4, 6]", "{channels = [4, 0]"))
    with pytest.raises(ConfigError, match=r"variants\[0\]\.kernel_sizes: expected an integer, got '3'"):
        spec_from_text(text.replace("kernel_sizes = [5, 3]", 'kernel_sizes = [5, "3"]'))


def test_a_zoo_of_several_architectures(tmp_path: Path) -> None:
    """configs/zoos/tiny_wildpark.toml generated for real: one layout per architecture,
    each model's stored spec its own architecture, and a model loads with its weights."""
    from zoo import Zoo, generate, load_spec

    out = tmp_path / "wild.h5"
    report = generate(load_spec(ROOT / "configs" / "zoos" / "tiny_wildpark.toml"), out, max_workers=2, progress=None)
    assert report.trained == 9 and report.status.get("done") == 9
    with Zoo.open(out) as zoo:
        assert zoo.num_models == 9 and len(zoo.layouts) == 3
        depths = [len(zoo.spec(m).arch.channels) for m in range(zoo.num_models)]
        assert depths == [2, 3, 1] * 3
        arch = zoo.table["arch"].to_numpy()
        assert [zoo.layouts[a].num_params for a in arch[:3]] == [zoo.weights(m).shape[-1] for m in range(3)]
        spec = zoo.spec(4)
        x = {spec.inputs[0].name: torch.randn(2, spec.inputs[0].channels, 16, 16)}
        with torch.no_grad():
            assert zoo.load_model(4)(x).shape == (2, spec.num_classes)


def test_shared_backbone_zero_pads_the_narrower_modality() -> None:
    inputs = (InputSpec("s2", 4), InputSpec("s1", 2))
    arch = ArchConfig(fusion="late", channels=(3, 5), kernel_sizes=(3, 3), hidden=6)
    shared = build_model(ModelSpec(replace(arch, shared_backbone=True), inputs, 3, 8), seed=1)
    separate = build_model(ModelSpec(arch, (InputSpec("s2", 4), InputSpec("s1", 4)), 3, 8), seed=2)
    tied = {k: shared.state_dict()[k.replace("backbones.s2.", "backbones.shared.")
                                    .replace("backbones.s1.", "backbones.shared.")] for k in separate.state_dict()}
    separate.load_state_dict(tied)
    g = torch.Generator().manual_seed(0)
    x = {"s2": torch.randn(5, 4, 8, 8, generator=g), "s1": torch.randn(5, 2, 8, 8, generator=g)}
    padded = dict(x, s1=torch.cat([x["s1"], torch.zeros(5, 2, 8, 8)], dim=1))
    with torch.no_grad():
        torch.testing.assert_close(shared.eval()(x), separate.eval()(padded))


def test_trainer_records_cloudy_and_clear_accuracy_every_epoch() -> None:
    g = torch.Generator().manual_seed(0)

    def split(n: int) -> TensorSet:
        x = torch.randn(n, 4, 8, 8, generator=g)
        labels = (x[:, 0].mean((1, 2)) > 0).long()
        return TensorSet({"s2": x}, labels, {"cloud_fraction": np.linspace(0, 1, n)})

    data = TaskData(TaskInfo("toy", ("a", "b"), False, (S2,), 8), {"train": split(64), "val": split(16),
                                                                  "test": split(40)})
    spec = ModelSpec(ArchConfig(channels=(3,), kernel_sizes=(3,), hidden=4), (InputSpec("s2", 4),), 2, 8)
    seen = []
    result = train_model(spec, data, TrainConfig(epochs=2, batch_size=16), callback=lambda e, w, m: seen.append(m))
    assert len(seen) == 3 and all({"test_acc_cloudy", "test_acc_clear"} <= set(m) for m in seen)
    test = data.splits["test"]
    cloudy = test.meta["cloud_fraction"] >= 0.5
    assert seen[-1]["test_acc_cloudy"] == evaluate(result.model, test.subset(cloudy), False)["acc"]
    assert seen[-1]["test_acc_clear"] == evaluate(result.model, test.subset(~cloudy), False)["acc"]
    del data.splits["test"].meta["cloud_fraction"]  # no flag: no columns
    plain = train_model(spec, data, TrainConfig(epochs=1, batch_size=16))
    assert "test_acc_cloudy" not in plain.final


# ---- property prediction across the architectures --------------------------------
def test_downstream_reads_every_architecture_with_role_wise_stats(fusion_zoo: Path) -> None:
    from hyperrep.downstream import evaluate as predict
    from hyperrep.downstream import load_data, select_properties
    from hyperrep.downstream.roles import RoleStats

    data, sources = load_data(fusion_zoo)
    assert data.mixed and sorted(data.layouts) == [0, 1, 2, 3, 4] and "architectures" in sources
    rows = data.rows
    assert set(rows["fusion_mode"]) == set(MODES)
    # one split by model, stratified: every architecture has train, val and test models
    assert rows.groupby("model")["split"].nunique().max() == 1
    assert (rows.groupby("arch")["split"].nunique() == 3).all()
    np.testing.assert_allclose(rows["cloudy_drop"], rows["test_acc_clear"] - rows["test_acc_cloudy"])
    # s(W) per layer role: one width for every architecture, every role present in these CNNs
    stats = data.weight_stats()
    roles = RoleStats(data.layouts)
    assert roles.roles == ("stem", "conv1", "head.hidden", "head.out")
    assert stats.shape == (len(rows), len(roles.feature_names)) and np.isfinite(stats).all()
    present = [i for i, n in enumerate(roles.feature_names) if n.endswith(":present")]
    assert (stats[:, present] == 1).all()
    for a, layout in data.layouts.items():  # the padding is never read
        one = rows.index[rows["arch"] == a]
        alone = RoleStats({a: layout}).transform(data.weights[one, : layout.num_params], np.full(len(one), a))
        np.testing.assert_array_equal(alone, stats[one])
    props = {p.name for p in select_properties(rows)[0]}
    assert {"test_acc", "test_acc_cloudy", "test_acc_clear", "cloudy_drop", "fusion", "fusion_mode"} <= props
    config = PredictConfig(feature_sets=("W", "s(W)"), predictors=("ridge",), threads=1, jobs=1, resamples=20)
    ev = predict(data, config)
    res = ev.results.set_index(["feature_set", "property"])
    assert np.isfinite(res.loc[("s(W)", "fusion_mode"), "balanced_accuracy"])
    assert np.isfinite(res.loc[("s(W)", "test_acc_cloudy"), "r2"])
    assert res.loc[("W", "test_acc"), "note"].startswith("n/a: several architectures")
    # the functional view: every architecture answers the same probes, one width for all
    probed, sources = load_data(fusion_zoo, None, Rows(probes=8))
    classes = probed.probes.shape[1] // 8
    assert probed.probes.shape == (len(probed.rows), 8 * classes) and "training split" in sources["probes"]
    np.testing.assert_allclose(probed.probes.reshape(len(probed.rows), 8, classes).sum(-1), 1.0, rtol=1e-5)
    ev = predict(probed, replace(config, feature_sets=("probe", "probe+s(W)", "recipe")))
    res = ev.results.set_index(["feature_set", "property"])
    assert np.isfinite(res.loc[("probe", "test_acc_cloudy"), "r2"])
    assert np.isfinite(res.loc[("probe+s(W)", "cloudy_drop"), "r2"])
    assert res.loc[("recipe", "fusion_mode"), "note"] == "n/a: recipe holds fusion_mode itself"


def test_pooled_embeddings_of_every_architecture(fusion_zoo: Path, tmp_path: Path) -> None:
    from hyperrep.config import HyperRepConfig
    from hyperrep.downstream import evaluate as predict
    from hyperrep.downstream import load_data
    from hyperrep.run import HyperRep
    from hyperrep.train import train_hyperrep

    raw = HyperRepConfig.load(ROOT / "configs/hyperrep/tiny.toml").to_dict()  # no [data] arch: all of them
    raw["train"].update(epochs=2, batch_size=8, device="cpu", threads=1, checkpoint_every=1)
    raw["loss"].update(behaviour=0.0)
    train_hyperrep(fusion_zoo, HyperRepConfig.from_dict(raw), tmp_path / "run")
    rep = HyperRep.load(tmp_path / "run")
    assert len(rep.archs) == 5
    data, sources = load_data(fusion_zoo, tmp_path / "run")
    assert data.mixed and data.embeddings is None and "run" in sources
    assert data.pooled.shape == (len(data.rows), rep.pooled_dim) and np.isfinite(data.pooled).all()
    # the same split the run was trained on, every architecture in every split
    assert (data.rows.groupby("arch")["split"].nunique() == 3).all()
    row = data.rows.index[data.rows["arch"] == 3][0]
    layout = data.layouts[3]
    one = rep.pool(rep.embed(data.weights[row, : layout.num_params][None], arch=3), arch=3)
    np.testing.assert_allclose(one[0], data.pooled[row], rtol=1e-5, atol=1e-6)
    ev = predict(data, PredictConfig(feature_sets=("pool(emb)", "emb"), predictors=("ridge",), threads=1, jobs=1,
                                     resamples=20))
    res = ev.results.set_index(["feature_set", "property"])
    assert np.isfinite(res.loc[("pool(emb)", "fusion_mode"), "balanced_accuracy"])
    assert res.loc[("emb", "test_acc"), "note"].startswith("n/a: several architectures")
