from dataclasses import dataclass, field

import pytest

from eo_tasks.config import ConfigError, from_dict, load
from eo_tasks.train.run import RunConfig


@dataclass(frozen=True)
class Inner:
    a: int = 1
    b: tuple[float, ...] = (1.0,)


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)
    maybe: str | None = None


def test_nested_values_and_types():
    cfg = from_dict(Outer, {"name": "y", "inner": {"a": 3, "b": [1, 2.5]}})
    assert cfg.inner == Inner(a=3, b=(1.0, 2.5))
    assert cfg.maybe is None


@pytest.mark.parametrize(
    "raw, needle",
    [
        ({"nmae": "y"}, "config: unknown key 'nmae'"),
        ({"inner": {"c": 1}}, "config.inner: unknown key 'c'"),
        ({"inner": {"a": "3"}}, "config.inner.a: expected an integer"),
        ({"inner": {"a": True}}, "config.inner.a: expected an integer"),
        ({"inner": {"b": ["x"]}}, "config.inner.b[0]: expected a number"),
        ({"inner": 3}, "config.inner: expected a table"),
    ],
)
def test_errors_name_the_key(raw, needle):
    with pytest.raises(ConfigError) as err:
        from_dict(Outer, raw)
    assert needle in str(err.value)


def test_literal_and_validation_errors_name_the_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[train]\noptimizer = "adagrad"\n')
    with pytest.raises(ConfigError, match=r"run\.toml\.train\.optimizer: expected one of"):
        load(RunConfig, path)
    path.write_text("[model]\nchannels = [8, 8]\nkernel_sizes = [3]\n")
    with pytest.raises(ConfigError, match=r"run\.toml\.model: channels and kernel_sizes"):
        load(RunConfig, path)
    path.write_text("[data\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load(RunConfig, path)
    with pytest.raises(ConfigError, match="cannot read config"):
        load(RunConfig, tmp_path / "missing.toml")


def test_shipped_train_configs_load():
    from pathlib import Path

    for path in sorted((Path(__file__).parents[1] / "configs" / "train").glob("*.toml")):
        load(RunConfig, path)
