"""The README's main job, `hyperzoo demo --quick`, from an empty folder to its summary; the
summary quotes exactly what the individual commands print and write."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pandas as pd
import pytest

from hyperzoo.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
EUROSAT = dict(zoo_config=CONFIGS / "zoos" / "eurosat_rgb.toml", rep_config=CONFIGS / "hyperrep" / "eurosat.toml")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    return out


def test_demo_writes_every_artefact(demo):
    for name in ("zoo.h5", "zoo.toml", "zoo_accuracy.png", "run/model.pt", "run/curves.png", "embeddings.h5",
                 "predict/results.csv", "predict/embedding_pca.png", "sampled.h5", "sample/summary.md",
                 "sparsify/curves.csv", "sparsify/curves.png", "summary.md"):
        assert (demo / name).exists(), name
    summary = (demo / "summary.md").read_text()
    assert "Synthetic data" in summary and "not EuroSAT" in summary
    for image in ("zoo_accuracy.png", "run/curves.png", "predict/embedding_pca.png", "sparsify/curves.png"):
        assert f"]({image})" in summary


def test_summary_matches_what_each_command_prints(demo):
    summary = (demo / "summary.md").read_text()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["zoo", "info", str(demo / "zoo.h5")]) == 0
    for line in out.getvalue().strip().splitlines():
        assert line in summary, line
    history = pd.read_csv(demo / "run" / "history.csv")
    assert f"val_r2 = {history['val_r2'].iloc[-1]:.4g}" in summary
    assert f"validation reconstruction R² {history['val_r2'].iloc[-1]:.3f}" in summary  # the at-a-glance table
    zero_shot = pd.read_csv(demo / "sample" / "zero_shot.csv")
    best = zero_shot.groupby("source")["test_acc"].max()
    for source in ("sampled", "anchor", "random init"):
        assert f"{source} {best[source]:.3f} / " in summary, source
    predict_summary = (demo / "predict" / "summary.md").read_text().strip().splitlines()
    table_rows = [line for line in predict_summary if line.startswith("| ")]
    assert table_rows and all(row in summary for row in table_rows)
    for report in ("sample", "sparsify"):  # each report quotes its own step, not `hyperzoo demo`
        assert (demo / report / "command.txt").read_text().startswith(f"hyperzoo {report} --zoo "), report
    sparsify_rows = [line for line in (demo / "sparsify" / "summary.md").read_text().splitlines() if line.startswith("| ")]
    assert all(row in summary for row in sparsify_rows)


def test_demo_configs_ship_inside_the_package():
    """The demo reads its configs as package data (a wheel carries them), never from a checkout."""
    import tomllib
    from importlib.resources import files

    from hyperrep import HyperRepConfig
    from hyperzoo.demo import demo_config
    from zoo import spec_from_text

    shipped = sorted(p.name for p in (files("hyperzoo") / "configs" / "demo").iterdir() if p.name.endswith(".toml"))
    assert shipped == ["hyperrep.toml", "hyperrep_quick.toml", "zoo.toml", "zoo_quick.toml"]
    assert not (CONFIGS / "demo").exists()  # one copy: the package's
    for name in ("zoo.toml", "zoo_quick.toml"):
        spec_from_text(demo_config(name), where=name)
    for name in ("hyperrep.toml", "hyperrep_quick.toml"):
        HyperRepConfig.from_dict(tomllib.loads(demo_config(name)), where=name)


def test_demo_rejects_bad_data_argument(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "x"), "--data", "eurosat-rgb"]) == 2
    assert "KIND:PATH" in capsys.readouterr().err
    assert main(["demo", "--quick", "--out", str(tmp_path / "x"), "--data", f"benge:{tmp_path / 'missing'}"]) == 2
    assert "missing" in capsys.readouterr().err


def test_eurosat_plan_reuses_a_zoo_and_names_its_rerun_command(tmp_path):
    from hyperzoo.demo import eurosat_plan

    zoo = tmp_path / "made-earlier.h5"
    zoo.write_bytes(b"")
    data = tmp_path / "eurosat-rgb"
    data.mkdir()
    plan = eurosat_plan(tmp_path / "out", str(data), zoo=str(zoo), **EUROSAT)
    assert (tmp_path / "out" / "zoo.h5").resolve() == zoo.resolve()
    commands = [s.argv[:2] for s in plan.steps]
    assert ["zoo", "generate"] not in commands and ["hyperrep", "train"] in commands
    assert plan.rerun.endswith(f"--zoo {zoo}") and str(data) in plan.rerun
    fresh = eurosat_plan(tmp_path / "fresh", str(data), **EUROSAT)
    assert fresh.steps[0].argv[:2] == ["zoo", "generate"]
    assert f'root = "{data}"' in (tmp_path / "fresh" / "zoo.toml").read_text()
    with pytest.raises(FileNotFoundError, match="missing"):
        eurosat_plan(tmp_path / "x", str(tmp_path / "missing"), **EUROSAT)
