"""The CLI's error policy (eo_tasks.command): what the user has to fix is one line and exit 2,
anything else is a bug and shows its traceback (exit 1). Options are checked before any
file is read, so these tests need no zoo."""

from __future__ import annotations

import errno

import pytest

from eo_tasks.command import run_command
from eo_tasks.config import ConfigError
from eo_tasks.data.errors import DataError
from eo_tasks.options import Interval
from hyperzoo.cli import main


def raising(err: BaseException):
    def handler() -> None:
        raise err

    return handler


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("argv, option", [
    (["predict", "--zoo", "z.h5", "--no-run", "--out", "o", "--threads", "-1"], "--threads"),
    (["predict", "--zoo", "z.h5", "--no-run", "--out", "o", "--epochs", "3", "-2"], "--epochs"),
    (["predict", "--zoo", "z.h5", "--run", "r", "--no-run", "--out", "o"], "--no-run"),
    (["sample", "--zoo", "z.h5", "--run", "r", "--out", "s.h5", "--n", "0"], "--n"),
    (["sample", "--zoo", "z.h5", "--run", "r", "--out", "s.h5", "--anchors", "1"], "--anchors"),
    (["sample", "--zoo", "z.h5", "--run", "r", "--out", "s.h5", "--n", "3", "--select", "4"], "--select"),
    (["sample", "--zoo", "z.h5", "--run", "r", "--out", "s.h5", "--bandwidth", "wide"], "--bandwidth"),
    (["sample", "--zoo", "z.h5", "--run", "r", "--out", "s.h5", "--late", "0"], "--late"),
    (["sparsify", "--zoo", "z.h5", "--out", "o", "--ratios", "0.5,1.2"], "--ratios"),
    (["sparsify", "--zoo", "z.h5", "--out", "o", "--drop", "0"], "--drop"),
    (["sparsify", "--zoo", "z.h5", "--out", "o", "--robust-shift", "0.5"], "--robust-shift"),
    (["sparsify", "--zoo", "z.h5", "--out", "o", "--threads", "-1"], "--threads"),
    (["sample", "--zoo", "z.h5", "--run", "r", "--out", "s.h5", "--threads", "-2"], "--threads"),
    (["hyperrep", "embed", "--run", "r", "--zoo", "z.h5", "--out", "e.h5", "--batch-size", "0"], "--batch-size"),
    (["hyperrep", "embed", "--run", "r", "--zoo", "z.h5", "--out", "e.h5", "--device", "gpu0"], "--device"),
    (["hyperrep", "embed", "--run", "r", "--zoo", "z.h5", "--out", "e.h5", "--views", "0"], "--views"),
    (["hyperrep", "train", "--zoo", "z.h5", "--config", "c.toml", "--out", "r", "--device", "tpu"], "--device"),
    (["data", "synth", "--kind", "benge", "--out", "d", "--n", "3"], "--n"),
])
def test_a_bad_option_is_one_line_naming_it(argv, option, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths that do not exist: the option is refused first
    assert main(argv) == 2
    err = _one_line(capsys)
    assert err.startswith(f"hyperzoo {argv[0]}: error: {option}"), err
    assert not any(tmp_path.iterdir())  # nothing written


def test_typed_and_path_errors_are_one_line(capsys) -> None:
    for fail in (raising(ConfigError("run.toml.train: unknown key 'lrr'")),
                 raising(DataError("/data/eurosat: no EuroSAT layout found")),
                 lambda: open("/nonexistent/folder/file.txt"),
                 raising(OSError(errno.ENOSPC, "No space left on device", "/out/zoo.h5"))):
        assert run_command(fail, "hyperzoo x") == 2
        assert _one_line(capsys).startswith("hyperzoo x: error: ")


def test_an_invalid_zoo_file_is_one_line(tmp_path, capsys) -> None:
    import h5py

    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = [1, 2, 3]
    assert main(["predict", "--zoo", str(foreign), "--no-run", "--out", str(tmp_path / "report")]) == 2
    assert str(foreign) in _one_line(capsys)
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("error", [ValueError("bad internal state"), KeyError("missing"), RuntimeError("bug"),
                                   OSError("an OSError that names no path")])
def test_anything_else_shows_its_traceback(error, capsys) -> None:
    assert run_command(raising(error), "hyperzoo x") == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "in handler" in err
    assert f"{type(error).__name__}" in err.splitlines()[-1]


def test_interrupt_is_130(capsys) -> None:
    assert run_command(raising(KeyboardInterrupt()), "hyperzoo x") == 130
    assert capsys.readouterr().err == "hyperzoo x: interrupted\n"


def test_multi_line_messages_become_one_line(capsys) -> None:
    assert run_command(raising(ConfigError("a.toml: invalid TOML\n  at line 3\n")), "p") == 2
    assert capsys.readouterr().err == "p: error: a.toml: invalid TOML at line 3\n"


def test_interval() -> None:
    assert 0.5 in Interval(0, 1, closed="neither") and 1 not in Interval(0, 1, closed="neither")
    assert 2 in Interval(1, None, integer=True) and 2.5 not in Interval(1, None, integer=True)
    assert True not in Interval() and float("nan") not in Interval() and float("inf") not in Interval(0, None)
    assert str(Interval(0, 1, closed="right")) == "a number in (0, 1]"
    assert str(Interval(1, None, integer=True)) == "an integer >= 1"
