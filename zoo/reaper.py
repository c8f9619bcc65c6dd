"""Whatever a driver starts for a local Ray runtime ends when the driver dies, however it dies.

Ray ties its head processes (GCS, raylet) to the driver that started them, but the raylet's
own agents (``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) outlive a driver killed with
SIGKILL: they are re-parented to init and hold about 200 MB until killed by hand. A signal
handler cannot help against SIGKILL, so the driver starts a small watchdog process of its own
(:func:`start_reaper`). The watchdog follows the driver's process tree while the driver lives
and, when the pipe from the driver reaches end of file without a "stop" (the OS closes it
however the driver dies), kills every Ray process it last saw in that tree.

Only processes that are Ray's (by name or command line) are tracked: the driver's other
children are none of this module's business.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass

import psutil

STOP = b"stop\n"
POLL_SECONDS = 1.0
_RAY_MARKS = ("ray::", "/ray/", "raylet", "gcs_server")


def _is_ray(proc: psutil.Process) -> bool:
    try:
        text = proc.name() + " " + " ".join(proc.cmdline()[:3])
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return any(mark in text for mark in _RAY_MARKS)


def ray_descendants(pid: int) -> dict[int, float]:
    """pid -> create time of the Ray processes below ``pid`` (create time guards against pid reuse)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    out = {}
    for proc in children:
        if _is_ray(proc):
            try:
                out[proc.pid] = proc.create_time()
            except psutil.NoSuchProcess:
                continue
    return out


def kill_seen(seen: dict[int, float]) -> int:
    """SIGKILL every process of ``seen`` that is still the same process; returns how many."""
    killed = 0
    for pid, created in seen.items():
        try:
            proc = psutil.Process(pid)
            if proc.create_time() == created:
                proc.kill()
                killed += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return killed


def _watch(driver: int) -> None:
    """The watchdog's main loop: runs in its own process, reads the driver's pipe on stdin."""
    seen: dict[int, float] = {}
    stopped = threading.Event()
    eof = threading.Event()

    def read_pipe() -> None:
        data = sys.stdin.buffer.readline()
        if data == STOP:
            stopped.set()
        eof.set()

    threading.Thread(target=read_pipe, daemon=True).start()
    while not eof.wait(POLL_SECONDS):
        # a process seen once stays on the list: the raylet's agents are re-parented to init
        # the moment the raylet dies, and would drop out of a fresh walk of the tree
        seen.update(ray_descendants(driver))
    if not stopped.is_set():
        kill_seen(seen)


@dataclass
class Reaper:
    """The driver's handle on its watchdog; :meth:`stop` after a clean ``ray.shutdown()``."""

    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write(STOP)
                self.process.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            self.process.wait(timeout=10)


def start_reaper() -> Reaper:
    """Start the watchdog for this process's Ray runtime (call right after ``ray.init``).

    The watchdog runs in a session of its own, so a signal sent to the driver's process group
    (Ctrl-C in a terminal) does not take it down before it has done its job.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", f"from zoo.reaper import _watch; _watch({os.getpid()})"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True,
    )
    return Reaper(proc)
