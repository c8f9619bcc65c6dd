"""Running a plan's steps several at a time, as child processes.

On 2 cores most of the pipeline is single-threaded work that does not depend on the rest:
the two hyper-representations of the EuroSAT pipeline, the property report and the sampling
reports. :func:`run_parallel` runs up to ``jobs`` such steps at once; ``hyperzoo.steps.run_plan``
keeps the one-after-another path, in this process, for ``jobs=1``.

Which step waits for which is read off the commands themselves: a step waits for every earlier
step that writes a path it names (an earlier step's ``--out`` or ``--report`` appearing
anywhere in its arguments), so a plan needs no dependency list that could drift from its
commands. A plan whose steps pass files in any other way must run with ``jobs=1``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

WRITES = ("--out", "--report")  # the options whose value a step writes


def written(argv: Sequence[str]) -> set[str]:
    """The paths a step's command writes (the values of ``--out`` and ``--report``)."""
    return {argv[i + 1] for i, a in enumerate(argv[:-1]) if a in WRITES}


def dependencies(steps: Sequence) -> list[set[int]]:
    """For each step, the indices of the earlier steps it waits for."""
    deps = []
    for i, step in enumerate(steps):
        names = set(step.argv)
        deps.append({j for j in range(i) if written(steps[j].argv) & names})
    return deps


def _log_name(i: int, step) -> str:
    return f"{i:02d}-{step.name.replace(' ', '-')}"


def _child_env(threads: int) -> dict[str, str]:
    """The environment of a step's process: torch's intra-op threads capped (two steps on two
    cores would otherwise each start one thread per core), and the packages of this process
    importable also from a checkout that is not installed."""
    import hyperzoo

    env = dict(os.environ)
    if threads > 0:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    root = str(Path(hyperzoo.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _last_line(*paths: Path) -> str:
    """The last non-empty line of the most recently written of ``paths`` (read from its end)."""
    present = [p for p in paths if p.exists() and p.stat().st_size]
    if not present:
        return ""
    path = max(present, key=lambda p: p.stat().st_mtime)
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - 4096))
        lines = [line.strip() for line in f.read().decode(errors="replace").replace("\r", "\n").splitlines()]
    return next((line for line in reversed(lines) if line), "")


def _tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "\n".join(text[-lines:])


def run_parallel(steps: Sequence, jobs: int, logs: Path, threads: int = 1, keep_done: bool = False,
                 poll: float = 0.5, report_every: float = 60.0) -> None:
    """Run ``steps`` (``hyperzoo.steps.Step``), up to ``jobs`` at once, each as ``python -m
    hyperzoo.cli ARGV`` with its stdout in ``LOGS/NN-name.out`` and its stderr (progress) in
    ``LOGS/NN-name.log``; fills in each step's ``seconds``, ``stdout`` and ``skipped``.

    A step starts once every step it waits for (:func:`dependencies`) has finished or was kept
    (``keep_done``). When one fails, no new step starts, those running finish, and a
    RuntimeError names the failed step, its exit code, its log and the log's last lines.
    Every ``report_every`` seconds each running step's latest progress line is shown."""
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    logs.mkdir(parents=True, exist_ok=True)
    deps = dependencies(steps)
    total = len(steps)
    finished: set[int] = set()
    pending = []
    for i, step in enumerate(steps):
        if step.keep(keep_done, i + 1, total):
            finished.add(i)
        else:
            pending.append(i)
    env = _child_env(threads)
    running: dict[int, tuple[subprocess.Popen, float, Path, Path]] = {}
    failed: list[tuple[int, int]] = []
    reported = time.perf_counter()
    try:
        while pending or running:
            while not failed and len(running) < jobs:
                ready = next((i for i in pending if deps[i] <= finished), None)
                if ready is None:
                    break
                pending.remove(ready)
                step = steps[ready]
                out, err = (logs / (_log_name(ready + 1, step) + ext) for ext in (".out", ".log"))
                with out.open("w") as fo, err.open("w") as fe:
                    proc = subprocess.Popen([sys.executable, "-m", "hyperzoo.cli", *step.argv], stdout=fo, stderr=fe,
                                            stdin=subprocess.DEVNULL, env=env)
                running[ready] = (proc, time.perf_counter(), out, err)
                print(f"[{ready + 1}/{total}] {step.title}: started (log {err})", file=sys.stderr, flush=True)
            if not running:
                break  # a failure stopped the rest; what waits on it never starts
            time.sleep(poll)
            if time.perf_counter() - reported >= report_every:
                reported = time.perf_counter()
                for i, (_, start, out, err) in running.items():
                    line = _last_line(err, out)[:160]
                    print(f"[{i + 1}/{total}] {steps[i].title}, {reported - start:.0f} s: {line}", file=sys.stderr,
                          flush=True)
            for i, (proc, start, out, err) in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                del running[i]
                step = steps[i]
                step.seconds = time.perf_counter() - start
                step.stdout = out.read_text(errors="replace")
                state = "done" if code == 0 else f"FAILED (exit code {code})"
                print(f"[{i + 1}/{total}] {step.title}: {state} in {step.seconds:.0f} s", file=sys.stderr, flush=True)
                if code == 0:
                    step.finished = True
                    finished.add(i)
                else:
                    failed.append((i, code))
    except BaseException:
        for proc, *_ in running.values():
            proc.terminate()
        for proc, *_ in running.values():
            proc.wait()
        raise
    if failed:
        i, code = failed[0]
        log = logs / (_log_name(i + 1, steps[i]) + ".log")
        raise RuntimeError(f"step {i + 1} ({steps[i].title}) failed with exit code {code}; its log is {log}:\n"
                           + _tail(log))
