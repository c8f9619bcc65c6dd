"""Population TOML: parsing, validation errors naming the key, expansion into members."""

from __future__ import annotations

from pathlib import Path

import pytest

from eo_tasks.config import ConfigError
from zoo.population import expand
from zoo.spec import load_spec, spec_from_text

ROOT = Path(__file__).resolve().parents[1]

BASE = """
[data]
kind = "eurosat-rgb"
synthetic_n = 120
image_size = 16

[model]
channels = [4, 4]
kernel_sizes = [3, 3]

[train]
epochs = 3
"""


def test_shipped_configs_parse() -> None:
    tiny = load_spec(ROOT / "configs/zoos/tiny.toml")
    assert len(expand(tiny)) == 4 and tiny.train.epochs == 2
    assert tiny.keep_epochs == (0, 1, 2)
    real = load_spec(ROOT / "configs/zoos/eurosat_rgb.toml")
    members = expand(real)
    assert len(members) >= 240 and real.train.epochs >= 15 and real.data.image_size == 32
    lrs = [m.train.lr for m in members]
    assert min(lrs) >= 1e-4 and max(lrs) <= 1e-2
    assert {m.train.optimizer for m in members} == {"adam", "sgd"}
    for key in ("activation", "init", "dropout", "weight_decay"):
        values = {getattr(m.arch, key, None) if key != "weight_decay" else m.train.weight_decay for m in members}
        assert len(values) > 1, key
    assert len({m.train.seed for m in members}) == len(members)


def test_grid_times_random_draws_and_default_seeds() -> None:
    spec = spec_from_text(BASE + """
[population.grid]
optimizer = ["adam", "sgd"]
activation = ["relu", "tanh"]

[population.random]
n = 3
seed = 7
lr = {log_uniform = [1e-4, 1e-2]}
dropout = {choice = [0.0, 0.25]}
batch_size = {int_uniform = [16, 64]}
""")
    members = expand(spec)
    assert len(members) == 2 * 2 * 3
    assert [m.train.seed for m in members] == list(range(12))  # train.seed + index
    assert [(m.train.optimizer, m.arch.activation) for m in members[:4]] == [("adam", "relu")] * 3 + [("adam", "tanh")]
    assert all(1e-4 <= m.train.lr <= 1e-2 for m in members)
    assert all(16 <= m.train.batch_size <= 64 and isinstance(m.train.batch_size, int) for m in members)
    assert {m.arch.dropout for m in members} <= {0.0, 0.25}
    assert len({m.train.lr for m in members}) == 12
    again = expand(spec_from_text(spec.source_text))
    assert [m.train.lr for m in again] == [m.train.lr for m in members]  # seeded draws
    other = expand(spec_from_text(spec.source_text.replace("seed = 7", "seed = 8")))
    assert [m.train.lr for m in other] != [m.train.lr for m in members]


def test_explicit_seeds_and_subset_seed() -> None:
    spec = spec_from_text(BASE + "[population.grid]\nseed = [5, 5, 6]\n")
    members = expand(spec)
    assert [m.train.seed for m in members] == [5, 5, 6]
    assert members[0].subset_seed == members[1].subset_seed != members[2].subset_seed


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("[population.grid]\nlearning_rate = [1e-3]\n", "population.grid.learning_rate"),
        ("[population.grid]\nlr = [1e-3, \"fast\"]\n", "population.grid.lr[1]"),
        ("[population.grid]\nlr = [1e-3, -1.0]\n", "population.grid.lr[1]"),
        ("[population.grid]\noptimizer = [\"adam\", \"adagrad\"]\n", "population.grid.optimizer[1]"),
        ("[population.grid]\nlr = []\n", "population.grid.lr"),
        ("[population.random]\nn = 2\nlr = {gaussian = [0, 1]}\n", "population.random.lr"),
        ("[population.random]\nn = 2\nlr = {log_uniform = [0, 1]}\n", "population.random.lr.log_uniform"),
        ("[population.random]\nn = 2\nseed = {uniform = [0, 1]}\n", "population.random.seed"),
        ("[population.random]\nlr = {uniform = [0.1, 0.2]}\n", "population.random.n"),
        ("[population.random]\nn = 2\ndropout = {uniform = [0.0, 1.5]}\n", "population.random.dropout.uniform[1]"),
        ("[population]\nkeep_epochs = [0, 9]\n", "population.keep_epochs[1]"),
        ("[population]\nkeep_every = 2\n", "keep_every"),
        ("[sparsify]\nratios = [0.5, 1.5]\n", "sparsify"),
        ("[resources]\ncpus_per_task = 0\n", "resources"),
        ("[resources]\ngpu = 1\n", "'gpu'"),
        ("[population.grid]\nseed = [0, -1]\n", "population.grid.seed[1]"),
        ("[extra]\nx = 1\n", "'extra'"),
    ],
)
def test_bad_values_name_the_key(extra: str, needle: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BASE + extra)
    with pytest.raises(ConfigError) as err:
        load_spec(path)
    assert needle in str(err.value) and str(path) in str(err.value)


def test_bad_base_key_names_section(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BASE.replace("epochs = 3", "epochs = 3\nepoch = 3"))
    with pytest.raises(ConfigError, match=r"train: unknown key 'epoch'"):
        load_spec(path)


def test_config_hash_ignores_layout_and_resources_but_not_values() -> None:
    a = spec_from_text(BASE + "[population.grid]\nseed = [0, 1]\n")
    spaced = spec_from_text("# a comment\n" + BASE.replace("epochs = 3", "epochs   =   3  # three") +
                            "\n[population.grid]\nseed = [0, 1]\n[resources]\nmax_retries = 5\n")
    explicit_default = spec_from_text(BASE.replace("epochs = 3", "epochs = 3\nbatch_size = 64") +
                                      "[population.grid]\nseed = [0, 1]\n")
    changed = spec_from_text(BASE.replace("epochs = 3", "epochs = 4") + "[population.grid]\nseed = [0, 1]\n")
    assert a.config_hash == spaced.config_hash == explicit_default.config_hash
    assert a.config_hash != changed.config_hash
