"""Sampling per fusion mode (issue 14): a hyper-representation over every architecture of a
mixed-fusion zoo samples one architecture at a time (``--arch``: an index or a fusion mode
name). Anchors are that mode's models, draws decode to its layout, the sampled zoo's models
build and run, and the report's zero-shot and memorisation parts are about that mode only.
The zoo (early, late, late with a shared backbone; 4 models each, so 2 train models per
architecture to anchor on) is generated once with Ray."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_hyperrep_multiarch import task_inputs, tiny_config

from eo_tasks.config import ConfigError
from hyperrep.sampling.archs import resolve_arch

MODES = {0: "early", 1: "late_shared", 2: "late"}  # the variants' order is the architectures' order
ZOO = """
[data]
kind = "benge"
modalities = ["s2", "s1", "season"]
synthetic_n = 200
image_size = 16

[model]
channels = [4, 4]
kernel_sizes = [3, 3]
hidden = 8

[train]
epochs = 2
batch_size = 32
lr = 0.003

[population]
keep_epochs = [0, 1, 2]
variants = [{fusion = "early"}, {fusion = "late", shared_backbone = true}, {fusion = "late"}]

[population.grid]
seed = [0, 1, 2, 3]
"""
FAST_REPORT = ["--n", "3", "--anchors", "2", "--finetune-epochs", "1", "--finetune-models", "1",
               "--candidates", "2", "--seed", "1"]


@pytest.fixture(scope="module")
def fusion(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(ZOO.h5, RUN/): three fusion modes, and one tiny hyperrep over all of them."""
    from hyperrep.train import train_hyperrep
    from zoo import generate

    folder = tmp_path_factory.mktemp("fusion-sampling")
    (folder / "zoo.toml").write_text(ZOO)
    report = generate(folder / "zoo.toml", folder / "zoo.h5", max_workers=2, progress=None)
    assert report.status.get("done") == 12, report.status
    train_hyperrep(folder / "zoo.h5", tiny_config(), folder / "run")
    return folder / "zoo.h5", folder / "run"


def test_resolve_arch_names_and_errors() -> None:
    modes = {0: "early", 1: "late", 2: "late", 3: "late_shared"}
    assert resolve_arch("early", modes) == 0 and resolve_arch("late_shared", modes) == 3
    assert resolve_arch("2", modes) == 2 and resolve_arch(1, modes) == 1
    assert resolve_arch(None, {0: "early"}) is None  # one architecture: nothing to choose
    assert resolve_arch(None, modes, allowed=[3]) is None  # a one-architecture run of a mixed zoo
    assert resolve_arch("late", modes, allowed=[0, 2]) == 2  # only the run's count
    with pytest.raises(ConfigError, match=r"several architectures .*1 \(late\), 2 \(late\)"):
        resolve_arch("late", modes)
    with pytest.raises(ConfigError, match=r"no architecture .* 'single'.*0 \(early\), 1 \(late\)"):
        resolve_arch("single", modes)
    with pytest.raises(ConfigError, match=r"architecture 3 is not one of"):
        resolve_arch(3, modes, allowed=[0, 1])
    with pytest.raises(ConfigError, match=r"spans architectures 0 \(early\), 1 \(late\).*--arch"):
        resolve_arch(None, modes, allowed=[0, 1])


def test_a_mixed_run_needs_an_architecture(fusion) -> None:
    from hyperrep.sampling import SampleConfig, arch_modes, sample_models
    from hyperzoo.cli import main

    zoo_path, run = fusion
    assert arch_modes(zoo_path) == MODES
    with pytest.raises(ConfigError, match=r"0 \(early\), 1 \(late_shared\), 2 \(late\)"):
        sample_models(zoo_path, run, SampleConfig(n=2, anchors=2))
    with pytest.raises(ConfigError, match="early_blowup"):
        sample_models(zoo_path, run, SampleConfig(n=2, anchors=2), arch="early_blowup")
    out = Path(run).parent / "never.h5"
    assert main(["sample", "--zoo", str(zoo_path), "--run", str(run), "--out", str(out), "--no-report"]) == 2
    assert not out.exists()


@pytest.mark.parametrize("choice", ["late_shared", "0"])
def test_sample_one_fusion_mode(fusion, choice: str, tmp_path: Path) -> None:
    from hyperzoo.cli import main
    from zoo import Zoo

    zoo_path, run = fusion
    a = int(choice) if choice.isdigit() else next(k for k, m in MODES.items() if m == choice)
    out = tmp_path / "sampled.h5"
    rc = main(["sample", "--zoo", str(zoo_path), "--run", str(run), "--out", str(out), "--arch", choice,
               *FAST_REPORT])
    assert rc == 0
    with Zoo.open(zoo_path) as source:
        layout = source.layouts[a]
        mine = set(source.table.index[source.table["arch"] == a])
        names = dict(zip(source.table["name"], source.table.index))
    with Zoo.open(out) as zoo:
        assert zoo.layout == layout and list(zoo.table["status"]) == ["done"] * 3
        meta = json.loads(zoo.file.attrs["sampled"])
        assert meta["source_arch"] == a and meta["mode"] == MODES[a]
        assert set(meta["anchor_ids"]) <= mine and len(meta["anchor_ids"]) == 2
        spec = zoo.spec(0)
        assert (spec.arch.fusion, spec.arch.shared_backbone) == (MODES[a].split("_")[0], MODES[a] == "late_shared")
        for m in range(3):
            net = zoo.load_model(m)
            assert net.layout == layout
            with torch.no_grad():
                logits = net(task_inputs(spec))
            assert logits.shape == (4, spec.num_classes) and torch.isfinite(logits).all()

    report = tmp_path / "sampled-report"
    text = (report / "summary.md").read_text()
    assert f"architecture {a} of the zoo, fusion mode `{MODES[a]}`" in text
    zs = pd.read_csv(report / "zero_shot.csv")
    assert set(zs["source"]) == {"sampled", "anchor", "anchor reconstructed", "random init"}
    assert np.isfinite(zs["test_acc"]).all()
    anchors = zs.loc[zs["source"] == "anchor", "model"]
    assert {names[n] for n in anchors} <= mine
    mem = pd.read_csv(report / "memorisation.csv")
    assert (mem["source"] == "sampled").sum() == 3 and mem["agreement"].between(0, 1).all()
    # the memorisation check compares with this mode's training models only
    assert {names[n] for n in mem["nearest_weight"]} | {names[n] for n in mem["nearest_embedding"]} <= mine
    assert (report / "memorisation.md").is_file() and (report / "diversity.csv").is_file()


def test_sparsify_one_fusion_mode(fusion, tmp_path: Path) -> None:
    from hyperzoo.cli import main

    zoo_path, run = fusion
    base = ["sparsify", "--zoo", str(zoo_path), "--ratios", "0.5", "--finetune-epochs", "1", "--anchors", "2",
            "--n", "2", "--max-models", "1"]
    assert main([*base, "--out", str(tmp_path / "none")]) == 2  # a mixed zoo: which architecture?
    out = tmp_path / "sparsify"
    assert main([*base, "--run", str(run), "--arch", "late", "--out", str(out)]) == 0
    curves = pd.read_csv(out / "curves.csv")
    assert set(curves["source"]) == {"trained", "sampled", "robust-sampled"}
    assert "fusion mode `late`" in (out / "summary.md").read_text()
