"""End to end on a tiny synthetic population with a real Ray runtime: the file a run makes,
failures, divergence, worker crashes, determinism, resume after the driver is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from eo_tasks.config import ConfigError
from eo_tasks.train.loop import evaluate
from zoo import Zoo, ZooBusyError, generate
from zoo.lock import WriterLock
from zoo.runner import init_local_ray
from zoo_configs import small_cnn_zoo

ROOT = Path(__file__).resolve().parents[1]


def _config(cache: Path, population: str, extra: str = "", epochs: int = 2) -> str:
    return small_cnn_zoo(images=120, hidden=8, epochs=epochs, batch_size=16, lr=5e-3, population=population,
                         extra=extra, cache=cache)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def ray_runtime():
    """One local Ray runtime for the module: starting Ray takes seconds. Ray is imported by
    ``init_local_ray`` first (not at the top of this module): it reads its loopback switch then."""
    os.environ.pop("RAY_ADDRESS", None)
    init_local_ray(num_cpus=2)
    import ray

    yield ray
    ray.shutdown()


def test_local_runtime_listens_on_loopback_only(ray_runtime) -> None:
    assert ray_runtime.util.get_node_ip_address() == "127.0.0.1"
    assert {node["NodeManagerAddress"] for node in ray_runtime.nodes()} == {"127.0.0.1"}
    me = psutil.Process()
    listening = []
    for proc in [me, *me.children(recursive=True)]:  # this driver and the Ray processes it started
        try:
            conns = proc.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        listening += [(proc.name(), c.laddr.ip) for c in conns if c.status == psutil.CONN_LISTEN]
    assert listening, "found no listening socket of the local Ray runtime"
    assert all(ip in ("127.0.0.1", "::ffff:127.0.0.1") for _, ip in listening), listening


def test_ray_imported_too_early_refuses_a_networked_runtime() -> None:
    """Ray reads its loopback switch at import: a process that imported it before cannot get a
    loopback-only local runtime, and is told so instead of getting one on the network."""
    script = ("import ray\nfrom zoo.runner import RayNotOnLoopbackError, init_local_ray\n"
              "try:\n    init_local_ray(num_cpus=1)\nexcept RayNotOnLoopbackError:\n    print('refused')\n"
              "print(ray.is_initialized())\n")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["refused", "False"]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_tiny_population(tmp_path: Path, cache: Path, ray_runtime, capsys) -> None:
    text = _config(cache, "[population.grid]\nseed = [0, 0, 1, 2]\n", "[sparsify]\nratios = [0.5]\n")
    cfg, out = _write(tmp_path, "zoo.toml", text), tmp_path / "zoo.h5"
    report = generate(cfg, out, faults={2: "raise"}, progress=None)
    assert report.status == {"done": 3, "failed": 1, "diverged": 0} and report.trained == 4
    with Zoo.open(out) as zoo:
        t = zoo.table
        assert t["status"].tolist() == ["done", "done", "failed", "done"]
        assert "injected fault: this model raises" in t.loc[2, "error"] and "RuntimeError" in t.loc[2, "error"]
        assert (t.loc[[0, 1, 3], "error"] == "").all()
        assert np.isfinite(t["wall_time"]).all() and (t["run"] == 1).all()
        assert t["seed"].tolist() == [0, 0, 1, 2] and (t["train_size"] == 84).all()
        m = zoo.metrics
        assert sorted(set(m["model"])) == [0, 1, 3] and len(m) == 3 * 3  # the failed model stored nothing
        assert np.allclose(m["gap"], m["train_acc"] - m["test_acc"])
        # same seed -> identical weights at every checkpoint; another seed -> different ones
        for epoch in zoo.epochs:
            np.testing.assert_array_equal(zoo.weights(0, epoch), zoo.weights(1, epoch))
        assert not np.array_equal(zoo.weights(0), zoo.weights(3))
        # the stored module reproduces its stored test accuracy exactly
        data = zoo.task_data()  # rebuilt from the config stored in the file
        for model in (0, 3):
            for epoch in (0, 2):
                stored = m[(m.model == model) & (m.epoch == epoch)].iloc[0]
                got = evaluate(zoo.load_model(model, epoch), data.splits["test"], multilabel=False)
                assert got["acc"] == stored["test_acc"] and got["loss"] == pytest.approx(stored["test_loss"], rel=1e-6)
        tm = zoo.twin_metrics
        assert sorted(tm["model"]) == [0, 1, 3] and np.allclose(tm["sparsity"], 0.5, atol=1e-3)
        twin = zoo.twin_weights(3, 0.5)
        assert (twin == 0).sum() >= 0.5 * zoo.layout.num_params * 0.9
        finished = t["finished_at"].to_numpy()
    # the same command again: nothing left to do, nothing rewritten
    again = generate(cfg, out, progress=None)
    assert again.trained == 0 and again.already == 4
    with Zoo.open(out) as zoo:
        np.testing.assert_array_equal(zoo.table["finished_at"].to_numpy(), finished)
    # a second driver on the same file is refused while the first holds it
    with WriterLock(out), pytest.raises(ZooBusyError, match="another process is writing"):
        generate(cfg, out, progress=None)
    # another config against the file: refused, unless overwrite
    other = _write(tmp_path, "other.toml", text.replace("seed = [0, 0, 1, 2]", "seed = [0, 1]"))
    with pytest.raises(ConfigError, match="different config"):
        generate(other, out, progress=None)
    lines: list[str] = []
    report = generate(other, out, overwrite=True, max_workers=1, progress=lines.append)
    assert report.status["done"] == 2
    assert any("2/2 finished" in line and "models/min" in line and "ETA" in line for line in lines)
    # `hyperzoo zoo info` with a plot
    from hyperzoo.cli import main

    png = tmp_path / "curves.png"
    assert main(["zoo", "info", "--zoo", str(out), "--plot", str(png)]) == 0
    shown = capsys.readouterr().out
    assert "models: 2  done 2" in shown and "final test_acc" in shown and png.stat().st_size > 1000


def test_divergence_and_worker_crashes(tmp_path: Path, cache: Path, ray_runtime) -> None:
    # lr = 1e38 makes the first update overflow float32 (inf, then NaN): the model must be recorded as diverged
    text = _config(cache, '[population.grid]\nlr = [1e-3, 1e-3, 1e38]\noptimizer = ["sgd"]\n',
                   "[resources]\nmax_retries = 1\n")
    cfg, out = _write(tmp_path, "zoo.toml", text), tmp_path / "zoo.h5"
    faults = {0: f"exit_once:{tmp_path / 'died-once'}", 1: "exit"}
    report = generate(cfg, out, faults=faults, progress=None)
    assert report.status == {"done": 1, "failed": 1, "diverged": 1}
    assert (tmp_path / "died-once").exists()  # model 0's first worker did die, Ray retried it
    with Zoo.open(out) as zoo:
        t = zoo.table
        assert t["status"].tolist() == ["done", "failed", "diverged"]
        assert "Worker" in t.loc[1, "error"] or "worker" in t.loc[1, "error"]
        assert "diverged at epoch 1" in t.loc[2, "error"]
        m = zoo.metrics
        assert m[m.model == 2]["epoch"].tolist() == [0]  # the checkpoint before it diverged is kept
        assert m[m.model == 0]["epoch"].tolist() == [0, 1, 2]


def _statuses(path: Path) -> list[str]:
    try:
        with Zoo.open(path) as zoo:
            return zoo.table["status"].tolist()
    except (OSError, ValueError, KeyError):  # not created yet
        return []


def test_resume_after_driver_sigkill(tmp_path: Path, cache: Path, ray_runtime) -> None:
    n = 12
    text = _config(cache, f"[population.grid]\nseed = {list(range(n))}\n", epochs=3)
    cfg, out, clean = _write(tmp_path, "zoo.toml", text), tmp_path / "zoo.h5", tmp_path / "clean.h5"
    cmd = [sys.executable, str(ROOT / "scripts/generate_zoo.py"), "--config", str(cfg), "--out", str(out),
           "--max-workers", "1"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    driver = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and driver.poll() is None:
            if _statuses(out).count("done") >= 1:  # read through SWMR while the driver writes
                break
            time.sleep(0.05)
        assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # the local Ray processes this driver started
        except ProcessLookupError:
            pass
        driver.stderr.close()
    before = _statuses(out)
    done_before = [i for i, s in enumerate(before) if s == "done"]
    assert 1 <= len(done_before) < n and set(before) <= {"done", "pending"}
    with Zoo.open(out) as zoo:
        finished_before = zoo.table["finished_at"].to_numpy()[done_before]

    rerun = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"{n - len(done_before)} to train" in rerun.stderr

    generate(cfg, clean, progress=None)  # an uninterrupted run of the same config
    with Zoo.open(out) as zoo, Zoo.open(clean) as ref:
        t = zoo.table
        assert (t["status"] == "done").all()
        # every model written exactly once: those finished before the kill kept their first write
        assert t["run"].to_numpy()[done_before].tolist() == [1] * len(done_before)
        assert sorted(set(t["run"].to_numpy()[[i for i in range(n) if i not in done_before]])) == [2]
        np.testing.assert_array_equal(t["finished_at"].to_numpy()[done_before], finished_before)
        assert [r["todo"] for r in zoo.runs] == [n, n - len(done_before)]
        for i in range(n):
            for epoch in zoo.epochs:
                np.testing.assert_array_equal(zoo.weights(i, epoch), ref.weights(i, epoch))
        cols = ["model", "epoch", "train_loss", "test_acc", "val_loss", "weight_l2"]
        np.testing.assert_array_equal(zoo.metrics[cols].to_numpy(), ref.metrics[cols].to_numpy())
    import h5py

    with h5py.File(out, "r") as f:  # a normal, cleanly closed HDF5 file again
        assert f["weights"].shape[0] == n


@pytest.mark.realdata
def test_eurosat_config_on_real_data(tmp_path: Path, ray_runtime) -> None:
    """configs/zoos/eurosat_rgb.toml, cut to 2 models x 1 epoch, on the real EuroSAT RGB images."""
    data_root = ROOT.parent / "shared" / "data" / "eurosat-rgb"
    if not data_root.is_dir():
        pytest.skip(f"{data_root} not present")
    text = (ROOT / "configs/zoos/eurosat_rgb.toml").read_text()
    text = (text.replace('root = "../shared/data/eurosat-rgb"', f'root = "{data_root}"')
            .replace("epochs = 15", "epochs = 1").replace("n = 128", "n = 1")
            .replace("train_subset = 4000", "train_subset = 500").replace("ratios = [0.5, 0.9]", "ratios = [0.5]"))
    cfg, out = _write(tmp_path, "eurosat.toml", text), tmp_path / "eurosat.h5"
    report = generate(cfg, out, progress=None)
    assert report.status["done"] == 2
    with Zoo.open(out) as zoo:
        t = zoo.table
        assert t["optimizer"].tolist() == ["adam", "sgd"] and (t["train_size"] == 500).all()
        assert zoo.task.image_size == 32 and len(zoo.task.classes) == 10 and not zoo.task.synthetic
        assert zoo.layout.num_params == 5850
        m = zoo.metrics
        assert m["epoch"].tolist() == [0, 1, 0, 1] and m["test_acc"].between(0, 1).all()
        assert len(zoo.twin_metrics) == 2
