"""A driver that started a local Ray runtime takes all of it down when it dies, however it
dies: here by SIGKILL, which no handler in the driver can see."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from zoo import Zoo
from zoo.reaper import kill_seen, ray_descendants
from zoo_configs import small_cnn_zoo

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _alive(seen: dict[int, float]) -> list[str]:
    out = []
    for pid, created in seen.items():
        try:
            proc = psutil.Process(pid)
            if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{pid} {proc.name()}")
        except psutil.NoSuchProcess:
            continue
    return out


def _done(path: Path) -> int:
    try:
        with Zoo.open(path) as zoo:
            return int((zoo.table["status"] == "done").sum())
    except (OSError, ValueError, KeyError):  # not created yet
        return 0


def test_sigkilled_driver_leaves_no_ray_process(tmp_path: Path) -> None:
    text = small_cnn_zoo(images=120, hidden=8, epochs=3, batch_size=16, lr=5e-3,
                         population="[population.grid]\nseed = [0, 1, 2, 3, 4, 5, 6, 7]\n", cache=tmp_path / "cache")
    cfg, out = tmp_path / "zoo.toml", tmp_path / "zoo.h5"
    cfg.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    cmd = [sys.executable, str(ROOT / "scripts/generate_zoo.py"), "--config", str(cfg), "--out", str(out),
           "--max-workers", "1"]
    driver = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    seen: dict[int, float] = {}
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and driver.poll() is None and _done(out) < 1:
            seen.update(ray_descendants(driver.pid))
            time.sleep(0.2)
        seen.update(ray_descendants(driver.pid))
        assert driver.poll() is None, "the driver ended before the test could kill it"
        names = {psutil.Process(p).name() for p in seen if _alive({p: seen[p]})}
        assert any("raylet" in n for n in names), names  # the runtime this driver started is up
        assert any("Agent" in n for n in names), names  # with the agents that used to outlive it
        os.kill(driver.pid, signal.SIGKILL)  # the driver only, not its process group
        driver.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(seen):
            time.sleep(0.5)
        assert not _alive(seen), f"processes of the dead driver's Ray runtime survived: {_alive(seen)}"
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        kill_seen(seen)  # whatever the assertion found, leave nothing behind
