"""`hyperzoo data ...` and `hyperzoo train` as a user calls them (in-process main)."""

import json

from hyperzoo.cli import main


def test_data_synth_then_info(tmp_path, capsys):
    out = tmp_path / "ms"
    assert main(["data", "synth", "--kind", "eurosat-ms", "--out", str(out), "--n", "20", "--seed", "1"]) == 0
    assert len(list(out.rglob("*.tif"))) == 20
    capsys.readouterr()
    assert main(["data", "info", "--data-root", str(out)]) == 0
    assert "eurosat-ms" in capsys.readouterr().out


def test_data_info_on_unknown_folder_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "junk.txt").write_text("x")
    assert main(["data", "info", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and err.count("\n") == 1


def test_train_prints_one_json_line(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        """
[data]
kind = "eurosat-ms"
synthetic_n = 100
image_size = 16
bands = ["B04", "B03", "B02", "B08"]
[model]
channels = [4, 4]
kernel_sizes = [3, 3]
hidden = 8
[train]
epochs = 1
batch_size = 16
"""
    )
    assert main(["train", "--quiet", "--config", str(cfg)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    metrics = json.loads(lines[0])
    assert metrics["epoch"] == 1 and metrics["synthetic"] is True and 0 <= metrics["test_acc"] <= 1
    assert metrics["params"] > 0


def test_train_with_unknown_key_names_it(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[train]\nepochs = 1\nlearning_rate = 0.1\n")
    assert main(["train", "--config", str(cfg)]) == 2
    assert "bad.toml.train: unknown key 'learning_rate'" in capsys.readouterr().err
