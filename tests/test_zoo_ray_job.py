"""A real Ray head on loopback, ``ray job submit`` of configs/zoos/tiny.toml, and the file it makes.

The job ships its own code (``--working-dir``, the packages at the repository's top level):
a task inside the job imports the project's modules from the job's runtime environment, not
from this test's installation, and the zoo records the code its workers ran.

The head runs as ``ray start --head --block`` in a child process with its own temp dir and
free ports, so it neither collides with nor stops any other Ray on the machine; terminating
that child stops exactly the processes it started.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from zoo.provenance import source_digest
from zoo.reader import Zoo

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _ray_bin() -> str:
    found = Path(sys.executable).with_name("ray")
    return str(found) if found.exists() else (shutil.which("ray") or "ray")


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError as err:
            if getattr(err, "code", None) is not None:  # any HTTP answer means the server is up
                return
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


# Run as a job's entry point: where a task of the job imports the project's packages from.
TASK_PROBE = (
    "import ray; ray.init(); "
    "where = ray.get(ray.remote(lambda: [__import__(m).__file__ for m in ('eo_tasks', 'zoo', 'hyperrep')]).remote()); "
    "print('TASK_IMPORTS', *where)"
)


def test_ray_job_submit_tiny_zoo(tmp_path: Path) -> None:
    gcs, dash, agent, agent_grpc, client, node_mgr, obj_mgr, env_agent, metrics = _free_ports(9)
    temp_dir = Path(tempfile.mkdtemp(prefix="rz", dir="/tmp"))  # short: Ray's socket paths have a length limit
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",  # Ray >= 2.5x wants a token for job submission; a fresh one for this cluster
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    env.pop("RAY_ADDRESS", None)
    head_log = open(tmp_path / "head.log", "w")
    head = subprocess.Popen(
        [_ray_bin(), "start", "--head", "--block", f"--port={gcs}", "--node-ip-address=127.0.0.1",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
         f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={agent_grpc}",
         f"--ray-client-server-port={client}", f"--node-manager-port={node_mgr}",
         f"--object-manager-port={obj_mgr}", f"--runtime-env-agent-port={env_agent}",
         f"--metrics-export-port={metrics}", "--num-cpus=2", f"--temp-dir={temp_dir}", "--disable-usage-stats"],
        env=env, stdout=head_log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    out = tmp_path / "tiny.h5"
    try:
        _wait_http(f"http://127.0.0.1:{dash}/api/version", head, timeout=120)
        job = subprocess.run(
            [_ray_bin(), "job", "submit", f"--address=http://127.0.0.1:{dash}", f"--working-dir={ROOT}", "--",
             "python", "scripts/generate_zoo.py", "--config", "configs/zoos/tiny.toml", "--out", str(out)],
            env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
        )
        log = job.stdout + job.stderr
        assert job.returncode == 0, log[-4000:]
        assert "succeeded" in log, log[-4000:]
        assert "[zoo] 4/4 finished" in log, log[-4000:]
        probe = subprocess.run(
            [_ray_bin(), "job", "submit", f"--address=http://127.0.0.1:{dash}", f"--working-dir={ROOT}", "--",
             "python", "-c", TASK_PROBE],
            env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
        )
        probe_log = probe.stdout + probe.stderr
        assert probe.returncode == 0, probe_log[-4000:]
    finally:
        # SIGTERM to `ray start --block` stops the processes it started (and only those)
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        head_log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
    where = next(line for line in probe_log.splitlines() if line.startswith("TASK_IMPORTS")).split()[1:]
    assert len(where) == 3, probe_log[-2000:]
    for path in where:  # the job's uploaded copy, under the head's temp dir, not this checkout
        assert not Path(path).resolve().is_relative_to(ROOT), where
        assert str(temp_dir) in path and "runtime_resources" in path, where
    with Zoo.open(out) as zoo:
        # every worker ran the driver's revision of the code, the one the provenance names
        assert set(zoo.table["code"]) == {zoo.provenance["source_digest"]}
        assert zoo.provenance["source_digest"] == source_digest()  # the same sources as this checkout
        assert "runtime_resources" in zoo.provenance["source_root"]
        assert (zoo.table["status"] == "done").all()
        assert len(zoo.table) == 4 and zoo.epochs.tolist() == [0, 1, 2]
        assert len(zoo.metrics) == 4 * 3
        assert np.isfinite(zoo.metrics["test_acc"]).all()
        assert zoo.runs[0]["todo"] == 4
        assert "[population.grid]" in zoo.config_text
