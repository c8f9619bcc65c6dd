"""Bad input and failing outputs across the pipeline: each gets one clear error naming the file
or key, or is handled; nothing already written is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from eo_tasks.data import DataConfig, DataError
from eo_tasks.data.materialise import load_task_data
from hyperzoo.cli import main
from zoo import NotAZooError, TruncatedZooError, Zoo
from zoo_configs import small_cnn_zoo

ROOT = Path(__file__).resolve().parents[1]


def _zoo_config(cache: Path, width: int = 4) -> str:
    return small_cnn_zoo(images=120, hidden=8, epochs=2, batch_size=16, lr=5e-3, cache=cache, channels=(width, 4),
                         population="[population.grid]\nseed = [0, 1, 2, 3]")


def _eurosat_rgb(root: Path, per_class: int = 4) -> Path:
    rng = np.random.default_rng(0)
    for cls in ("Forest", "River", "SeaLake"):
        (root / cls).mkdir(parents=True)
        for i in range(1, per_class + 1):
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(root / cls / f"{cls}_{i}.jpg")
    return root


def test_leaked_split_names_the_run_meta(tmp_path):
    """A report whose test models were in the run's training or validation split is refused,
    naming the run's meta.json (key ``split_models``, written by hyperrep training)."""
    import json

    import pandas as pd

    from eo_tasks.config import ConfigError
    from hyperrep.downstream.data import _check_run_split

    rows = pd.DataFrame({"model": [0, 1, 2, 3, 4, 5], "split": ["train", "train", "train", "val", "test", "test"]})
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"split_models": {"train": [0, 1, 4], "val": [3], "test": [2, 5]}}))
    with pytest.raises(ConfigError, match=r"meta\.json: test models \[4\]"):
        _check_run_split(tmp_path, rows, [])
    meta.write_text(json.dumps({"split_models": {"train": [0, 1, 2], "val": [3], "test": [4, 5]}}))
    notes: list[str] = []
    _check_run_split(tmp_path, rows, notes)  # the same split: nothing leaks, nothing to note
    assert notes == []


def test_corrupt_jpeg_names_the_file(tmp_path):
    root = _eurosat_rgb(tmp_path / "rgb")
    bad = root / "River" / "River_2.jpg"
    bad.write_bytes(bad.read_bytes()[:200])  # truncated mid-stream
    cfg = DataConfig(kind="eurosat-rgb", root=str(root), image_size=16, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DataError, match="River_2.jpg"):
        load_task_data(cfg)
    assert not list((tmp_path / "cache").rglob("*.pt")), "a failed build must not leave a cache entry"


def test_missing_and_wrong_shaped_tiff_name_the_file(tmp_path):
    from eo_tasks.data.synth import synthesize

    root = synthesize("eurosat-ms", tmp_path / "ms", n=20, seed=0)
    victim = sorted(root.rglob("*.tif"))[0]
    import tifffile

    tifffile.imwrite(victim, np.zeros((64, 64, 4), dtype=np.uint16))  # 4 bands instead of 13
    cfg = DataConfig(kind="eurosat-ms", root=str(root), image_size=16, cache_dir=str(tmp_path / "c1"))
    with pytest.raises(DataError, match=victim.name):
        load_task_data(cfg)

    broot = synthesize("benge", tmp_path / "benge", n=12, seed=0)
    band = sorted((broot / "sentinel-2").rglob("*_B08.tif"))[0]
    band.unlink()
    cfg = DataConfig(kind="benge", root=str(broot), image_size=16, cache_dir=str(tmp_path / "c2"))
    with pytest.raises(DataError, match="B08"):
        load_task_data(cfg)


@pytest.fixture(scope="module")
def zoos(tmp_path_factory):
    """Two tiny zoos of different architectures (a real local Ray runtime) and a tiny hyperrep run."""
    from zoo import generate, spec_from_text
    from zoo.runner import init_local_ray

    tmp = tmp_path_factory.mktemp("robust")
    os.environ.pop("RAY_ADDRESS", None)
    init_local_ray(num_cpus=2)  # imports Ray first: its runtime stays on loopback
    import ray

    try:
        paths = {}
        for width in (4, 6):
            paths[width] = tmp / f"zoo{width}.h5"
            text = _zoo_config(tmp / "cache", width)
            generate(spec_from_text(text), paths[width], progress=None)
    finally:
        ray.shutdown()
    rep_cfg = tmp / "rep.toml"
    rep_cfg.write_text((ROOT / "configs" / "hyperrep" / "tiny.toml").read_text().replace("epochs = 40", "epochs = 2"))
    assert main(["hyperrep", "train", "--quiet", "--zoo", str(paths[4]), "--config", str(rep_cfg),
                 "--out", str(tmp / "run")]) == 0
    return tmp, paths


def test_truncated_and_foreign_hdf5(zoos, tmp_path, capsys):
    _, paths = zoos
    data = paths[4].read_bytes()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[: len(data) // 2])
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    for path, kind, needle in ((truncated, TruncatedZooError, "truncated.h5"),
                               (foreign, NotAZooError, "not a hyperzoo zoo file")):
        with pytest.raises(kind, match=needle):
            Zoo.open(path)
        assert main(["zoo", "info", "--zoo", str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(path.name) in err[0]
    with Zoo.open(paths[4]) as z:  # the original is untouched
        assert (z.table["status"] == "done").all()


def test_zoo_of_another_architecture_given_to_a_run(zoos, tmp_path, capsys):
    tmp, paths = zoos
    out = tmp_path / "emb.h5"
    code = main(["hyperrep", "embed", "--quiet", "--run", str(tmp / "run"), "--zoo", str(paths[6]), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "zoo6.h5" in err and err.count("\n") == 1
    assert not out.exists()


def test_unknown_keys_in_every_config_kind(zoos, tmp_path, capsys):
    tmp, paths = zoos
    bad_zoo = tmp_path / "zoo.toml"
    bad_zoo.write_text(_zoo_config(tmp / "cache") + "\n[population.random]\nn = 2\nseed = 0\nlrr = {choice=[1]}\n")
    assert main(["zoo", "generate", "--config", str(bad_zoo), "--out", str(tmp_path / "z.h5")]) == 2
    assert "lrr" in capsys.readouterr().err
    bad_rep = tmp_path / "rep.toml"
    bad_rep.write_text("[model]\nwidth = 3\n")
    assert main(["hyperrep", "train", "--zoo", str(paths[4]), "--config", str(bad_rep), "--out", str(tmp_path / "r")]) == 2
    assert "width" in capsys.readouterr().err
    assert not (tmp_path / "z.h5").exists()


def test_unwritable_output_path(zoos, tmp_path, capsys):
    tmp, _ = zoos
    cfg = tmp_path / "zoo.toml"
    cfg.write_text(_zoo_config(tmp / "cache"))
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    assert main(["zoo", "generate", "--quiet", "--config", str(cfg), "--out", str(blocker / "zoo.h5")]) == 2
    assert "not-a-dir" in capsys.readouterr().err
    assert blocker.read_text() == "a file where a folder should be"


DISK_FULL_DRIVER = """
import os, resource, sys
from zoo import generate, spec_from_text
from zoo.runner import init_local_ray
os.environ.pop("RAY_ADDRESS", None)
init_local_ray(num_cpus=2)          # Ray's own processes start without the limit
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # then the driver's files may not grow past it
try:
    generate(spec_from_text(open(sys.argv[1]).read()), sys.argv[2], progress=print, max_workers=1)
except OSError as err:
    print("WRITE FAILED:", err)
    sys.exit(3)
"""


def test_disk_full_mid_run_records_no_model_without_its_data(zoos, tmp_path):
    """The zoo file may not grow past a limit (as on a full disk): the run stops with an error,
    every model marked done has its weights on disk, and a rerun completes the rest."""
    tmp, paths = zoos
    cfg = tmp_path / "zoo.toml"
    cfg.write_text(_zoo_config(tmp / "cache"))
    script = tmp_path / "driver.py"
    script.write_text(DISK_FULL_DRIVER)
    out = tmp_path / "full.h5"
    complete = paths[4].stat().st_size
    limit = int(complete * 0.8)
    run = subprocess.run([sys.executable, str(script), str(cfg), str(out), str(limit)], capture_output=True,
                         text=True, timeout=300)
    # HDF5 cannot close a file it failed to flush, so the process may crash after the error;
    # what matters is the one clear message first and the file's state afterwards
    assert run.returncode != 0
    assert "WRITE FAILED" in run.stdout and "could not write model" in run.stdout, run.stdout[-2000:]
    assert "rerun the same command" in run.stdout
    try:  # depending on where the write failed the file reads as is, or asks for the rerun
        with Zoo.open(out) as partial:
            assert (partial.table["status"] != "done").any()
    except TruncatedZooError as err:
        assert "rerun it to recover" in str(err)
    from zoo import generate, spec_from_text
    from zoo.runner import init_local_ray

    init_local_ray(num_cpus=2)
    import ray

    try:
        generate(spec_from_text(cfg.read_text()), out, progress=None)
    finally:
        ray.shutdown()
    with Zoo.open(out) as z, Zoo.open(paths[4]) as reference:
        assert (z.table["status"] == "done").all()
        first_run = z.table.index[z.table["run"] == 1].tolist()
        assert 0 < len(first_run) < len(z.table), "some models finished before the disk filled, none twice"
        for m in range(len(reference.table)):  # same seeds: equal to the clean run, bit for bit
            for epoch in z.epochs:
                np.testing.assert_array_equal(z.weights(m, epoch), reference.weights(m, epoch))
