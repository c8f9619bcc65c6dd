"""One command-line vocabulary (issue 33): walking the whole ``hyperzoo`` parser, every option has
help; ``--zoo``, ``--data-root``, ``--quiet``, ``--overwrite`` and ``--seed`` have one help text
wherever they appear; every command that writes refuses an existing output without
``--overwrite``; the old spellings still work and say so; the exit statuses are 0 / 1 / 2 / 130.
Also the checkpoint selections of a hyper-representation config ("all", "last:K", "every:K"),
resolved on a real zoo file."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pytest

from hyperzoo.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
SHARED = ("--zoo", "--data-root", "--quiet", "--overwrite", "--seed")


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(command words, its parser) for every command of the tree, nested ones too."""
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*prefix, name))


def leaves() -> dict[str, argparse.ArgumentParser]:
    return {" ".join(words): p for words, p in commands(build_parser()) if words
            and not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)}


def options(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in p._actions for s in a.option_strings if s.startswith("--") and s != "--help"}


def test_the_walk_finds_every_command():
    found = set(leaves())
    assert {"zoo generate", "zoo info", "zoo snapshot", "zoo import", "hyperrep train", "hyperrep embed",
            "hyperrep probes", "hyperrep ablate", "predict", "sample", "sparsify", "demo", "data synth",
            "data info", "train"} <= found, found


def test_every_option_and_argument_has_help():
    missing = [f"{cmd}: {a.option_strings or a.dest}" for cmd, p in leaves().items() for a in p._actions
               if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()]
    assert not missing, missing


def test_shared_options_have_one_help_text_each():
    texts: dict[str, set[str]] = {flag: set() for flag in SHARED}
    for cmd, p in leaves().items():
        for flag, action in options(p).items():
            if flag in texts:
                texts[flag].add(action.help)
    for flag, helps in texts.items():
        assert len(helps) == 1, (flag, helps)
    where = {flag: sorted(cmd for cmd, p in leaves().items() if flag in options(p)) for flag in SHARED}
    assert {"zoo info", "zoo snapshot", "predict", "sample", "sparsify", "hyperrep train"} <= set(where["--zoo"])
    assert {"data info", "train", "sample", "sparsify", "hyperrep probes", "demo"} <= set(where["--data-root"])
    assert {"sample", "sparsify"} <= set(where["--quiet"])


def test_every_command_that_writes_takes_overwrite_and_one_finetune_default():
    for cmd, p in leaves().items():
        opts = options(p)
        if "--out" in opts:
            assert "--overwrite" in opts, cmd
        if "--finetune-epochs" in opts:
            assert opts["--finetune-epochs"].default == 1, cmd
        # a zoo file is --zoo and a dataset folder --data-root: no other spelling but the deprecated ones
        for flag, action in opts.items():
            if flag in ("--root", "--data-dir", "--zoo-file"):
                assert action.help.startswith("deprecated"), (cmd, flag)
        for action in p._actions:
            if not action.option_strings and action.dest in ("zoo", "data_root", "root"):
                assert action.help.startswith("deprecated"), (cmd, action.dest)


def test_exit_statuses_are_documented_in_the_epilog(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert re.findall(r"\b(\d+) (?:done|a bad|an internal|interrupted)", text) == ["0", "2", "1", "130"], text
    assert "busy" in text


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_a_busy_zoo_exits_1_with_its_message(tmp_path, capsys):
    from zoo.lock import WriterLock

    out = tmp_path / "busy.h5"
    with WriterLock(out):  # another driver's lock on OUT
        code = main(["zoo", "generate", "--config", str(ROOT / "configs" / "zoos" / "tiny.toml"), "--out", str(out)])
    assert code == 1
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("hyperzoo zoo generate: error: ") and "another process is writing" in err
    assert not out.exists()


@pytest.mark.parametrize("argv", [
    ["hyperrep", "embed", "--run", "r", "--zoo", "z.h5", "--out", "{f}"],
    ["hyperrep", "probes", "--zoo", "z.h5", "--out", "{f}"],
    ["sample", "--zoo", "z.h5", "--run", "r", "--out", "{f}"],
    ["sparsify", "--zoo", "z.h5", "--out", "{d}"],
    ["zoo", "snapshot", "--zoo", "z.h5", "--out", "{f}"],
    ["zoo", "import", "src", "--format", "unterthiner", "--out", "{f}"],
    ["data", "synth", "--kind", "eurosat-rgb", "--out", "{d}", "--n", "20"],
    ["demo", "--out", "{d}"],
])
def test_an_existing_output_is_refused_without_overwrite(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "made-earlier.h5").write_bytes(b"keep me")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "keep.txt").write_text("keep me")
    argv = [a.format(f="made-earlier.h5", d="folder") for a in argv]
    target = "made-earlier.h5" if "made-earlier.h5" in argv else "folder"
    assert main(argv) == 2
    err = _one_line(capsys.readouterr().err)
    assert target in err and "--overwrite" in err, err
    assert (tmp_path / "made-earlier.h5").read_bytes() == b"keep me"
    assert (tmp_path / "folder" / "keep.txt").read_text() == "keep me"


def test_overwrite_replaces_a_dataset_but_never_a_foreign_folder(tmp_path, capsys):
    out = tmp_path / "ms"
    synth = ["data", "synth", "--kind", "eurosat-ms", "--out", str(out), "--n", "20"]
    assert main(synth) == 0
    assert main([*synth, "--seed", "1"]) == 2  # exists: refused
    assert main([*synth, "--seed", "1", "--overwrite"]) == 0
    assert len(list(out.rglob("*.tif"))) == 20
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("mine")
    capsys.readouterr()
    assert main(["data", "synth", "--kind", "eurosat-ms", "--out", str(foreign), "--n", "20", "--overwrite"]) == 2
    assert "does not hold a dataset" in capsys.readouterr().err
    assert (foreign / "thesis.tex").read_text() == "mine"


def _deprecation(err: str, old: str, new: str) -> None:
    lines = [line for line in err.splitlines() if "deprecated" in line]
    assert len(lines) == 1 and old in lines[0] and new in lines[0], err


def test_old_spellings_still_work_and_warn(tmp_path, capsys):
    out = tmp_path / "rgb"
    assert main(["data", "synth", "--kind", "eurosat-rgb", "--out", str(out), "--n", "20"]) == 0
    capsys.readouterr()
    assert main(["data", "info", str(out)]) == 0  # the positional folder
    done = capsys.readouterr()
    assert "eurosat-rgb" in done.out
    _deprecation(done.err, "DIR", "--data-root")
    assert main(["data", "info", "--data-root", str(out)]) == 0
    assert "deprecated" not in capsys.readouterr().err
    parser = build_parser()
    args = parser.parse_args(["hyperrep", "probes", "--zoo", "z.h5", "--out", "p.npz", "--root", str(out)])
    assert args.data_root == str(out)
    _deprecation(capsys.readouterr().err, "--root", "--data-root")
    args = parser.parse_args(["zoo", "snapshot", "z.h5", "--out", "s.h5"])
    assert args.zoo == "z.h5"
    _deprecation(capsys.readouterr().err, "ZOO", "--zoo")
    assert main(["zoo", "info"]) == 2  # neither spelling: the new one is asked for
    assert "--zoo is required" in _one_line(capsys.readouterr().err)


def test_eurosat_results_script_takes_data_root_and_the_old_data(tmp_path, capsys, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("eurosat_results", ROOT / "scripts" / "eurosat_results.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    missing = str(tmp_path / "no-eurosat")
    for argv in (["--data-root", missing], ["--data", missing]):
        with pytest.raises(FileNotFoundError, match="--data-root: EuroSAT RGB folder"):
            script.main([*argv, "--out", str(tmp_path / "out"), "--only", "256"])
    _deprecation(capsys.readouterr().err, "--data", "--data-root")


def test_demo_takes_data_root_with_data_kind(tmp_path, capsys):
    from hyperzoo.demo_cli import data_argument

    parser = build_parser()
    args = parser.parse_args(["demo", "--data-kind", "benge", "--data-root", "/d/benge"])
    assert data_argument(args) == "benge:/d/benge"
    assert data_argument(parser.parse_args(["demo", "--data", "benge:/d/benge"])) == "benge:/d/benge"
    assert main(["demo", "--out", str(tmp_path / "x"), "--data-root", str(tmp_path)]) == 2
    assert "--data-kind" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "x").exists()


# --- checkpoint selections of a hyper-representation config, on a real zoo file -----------------

KEPT = [0, 1, 2, 3, 5]


@pytest.fixture(scope="module")
def five_checkpoint_zoo(tmp_path_factory) -> Path:
    """configs/zoos/tiny.toml trained 5 epochs, keeping 0, 1, 2, 3 and 5: a zoo the EuroSAT
    list of epochs does not fit."""
    from zoo import generate

    text = (ROOT / "configs" / "zoos" / "tiny.toml").read_text()
    text = text.replace("epochs = 2\n", "epochs = 5\n", 1).replace("lr = [3e-3, 1e-2]", "lr = [3e-3]")
    text = text.replace("[population.grid]", f"[population]\nkeep_epochs = {KEPT}\n\n[population.grid]")
    config = tmp_path_factory.mktemp("five") / "five.toml"
    config.write_text(text)
    out = config.with_suffix(".h5")
    report = generate(config, out, max_workers=2, progress=None)
    assert report.status.get("done") == 2, report.status
    return out


def _epochs(zoo: Path, selection) -> list[int]:
    from hyperrep.config import DataSection
    from hyperrep.data import zoo_weights

    data = zoo_weights(zoo, DataSection(epochs=selection))
    return sorted(set(np.concatenate([ws.epoch for ws in data.sets]).tolist()))


@pytest.mark.parametrize("selection, expected", [
    ("all", KEPT), ((), KEPT), ("last:2", [3, 5]), ("last:9", KEPT), ("every:2", [0, 2, 5]), ("every:3", [0, 3, 5]),
    ((1, 5), [1, 5]),
])
def test_epoch_selections_resolve_against_the_kept_epochs(five_checkpoint_zoo, selection, expected):
    assert _epochs(five_checkpoint_zoo, selection) == expected


def test_a_list_of_epochs_the_zoo_did_not_keep_is_refused(five_checkpoint_zoo):
    from eo_tasks import ConfigError

    with pytest.raises(ConfigError, match=r"epochs \[4, 15\] are not kept .* \"all\""):
        _epochs(five_checkpoint_zoo, (0, 4, 15))


@pytest.mark.parametrize("bad", ["al", "last", "last:0", "every:-1", "every:x", "first:2", "all:3"])
def test_a_bad_selection_is_a_config_error_naming_the_key(bad, tmp_path):
    from eo_tasks import ConfigError
    from hyperrep import HyperRepConfig

    config = tmp_path / "rep.toml"
    config.write_text(f'[data]\nepochs = "{bad}"\n')
    with pytest.raises(ConfigError, match=r"rep\.toml\.data: epochs: expected .*\"last:K\".*" + re.escape(repr(bad))):
        HyperRepConfig.load(config)


def test_the_eurosat_configs_serve_any_zoo(five_checkpoint_zoo):
    """The shipped EuroSAT configs select every kept checkpoint: on this zoo, all five (their old
    list named epoch 15, which a zoo of fewer epochs does not keep)."""
    from hyperrep import HyperRepConfig
    from hyperrep.ablation import Ablation
    from hyperrep.data import zoo_weights

    for name in ("eurosat", "eurosat_generate", "eurosat_published"):
        cfg = HyperRepConfig.load(ROOT / "configs" / "hyperrep" / f"{name}.toml")
        assert cfg.data.epochs == "all", name
        data = zoo_weights(five_checkpoint_zoo, cfg.data)
        assert sorted(set(np.concatenate([ws.epoch for ws in data.sets]).tolist())) == KEPT, name
    for path in sorted((ROOT / "configs" / "ablation").glob("*.toml")):
        ablation = Ablation.load(path)
        # "last:N" is relative to the zoo too (the fresh zoo's ablation decodes each model's last 4)
        for cfg in ablation.variants.values():
            epochs = str(cfg.data.epochs)
            assert epochs == "all" or epochs.startswith("last:"), path
            if epochs.startswith("last:"):
                data = zoo_weights(five_checkpoint_zoo, cfg.data)
                kept = sorted(set(np.concatenate([ws.epoch for ws in data.sets]).tolist()))
                assert kept == KEPT[-int(epochs.split(":")[1]):], path
