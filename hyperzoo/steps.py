"""The step runner: a plan is a list of ``hyperzoo`` commands (:class:`Step`) run in order, in
this process, or several at a time as child processes (:mod:`hyperzoo.runner`), then one
summary (:mod:`hyperzoo.summary`) quoting each command beside the figures read back from the
files it wrote. The plans themselves live in :mod:`hyperzoo.demo`, :mod:`hyperzoo.eurosat` and
:mod:`hyperzoo.plans`.
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from eo_tasks import ConfigError


@dataclass
class Step:
    title: str
    argv: list[str]
    seconds: float = 0.0
    stdout: str = ""
    done_when: str = ""  # a file this step writes last: with keep_done, its presence skips the step
    skipped: bool = False
    key: str = ""  # how the summary finds the step (default: its subcommand)
    finished: bool = False  # ran now and exited 0
    earlier: float | None = None  # a kept step: the seconds its earlier run recorded (OUT/step_times.json)

    @property
    def name(self) -> str:
        return self.key or " ".join(self.argv[:2] if self.argv[0] in ("zoo", "hyperrep") else self.argv[:1])

    def keep(self, keep_done: bool, index: int, total: int) -> bool:
        """Whether an earlier run's output is kept instead of running this step (marks it skipped)."""
        self.skipped = keep_done and bool(self.done_when) and Path(self.done_when).exists()
        if self.skipped:
            print(f"[{index}/{total}] {self.title}: kept from an earlier run ({self.done_when})", file=sys.stderr)
        return self.skipped


@dataclass
class DemoPlan:
    out: Path
    quick: bool
    data_kind: str | None = None
    data_root: str | None = None
    steps: list[Step] = field(default_factory=list)
    title: str = ""  # the summary's heading (default: the demo's)
    rerun: str = ""  # the one command that reruns the whole plan (default: the demo's)
    # the fusion story: fusion mode -> its sampling report folder, and why there are none
    mode_samples: dict[str, Path] = field(default_factory=dict)
    no_mode_samples: str = ""
    # torch intra-op threads of the in-process steps: the demo's models are so small that a
    # second thread gains little, and with the other core busy (a Ray worker, anything else)
    # torch's OpenMP threads wait on each other: measured 14x slower hyperrep epochs
    threads: int = 1
    wall: float = 0.0  # seconds the whole plan took (steps may overlap: hyperzoo.runner)

    @property
    def real_data(self) -> bool:
        return self.data_root is not None


class _Tee(io.TextIOBase):
    """Writes to the terminal (progress stays visible) and keeps a copy for the summary."""

    def __init__(self, stream) -> None:
        self.stream, self.buffer = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.stream.flush()
        return self.buffer.write(text)


def _run_in_process(plan: DemoPlan, keep_done: bool) -> None:
    """The steps one after another, each through ``hyperzoo.cli.main`` in this process, its
    stdout shown and kept for the summary."""
    from eo_tasks.train import torch_threads
    from hyperzoo.cli import main

    total = len(plan.steps)
    for i, step in enumerate(plan.steps, 1):
        if step.keep(keep_done, i, total):
            continue
        print(f"\n[{i}/{total}] {step.title}\n$ hyperzoo {shlex.join(step.argv)}", file=sys.stderr, flush=True)
        tee = _Tee(sys.stdout)
        start = time.perf_counter()
        with contextlib.redirect_stdout(tee), torch_threads(plan.threads):
            code = main(step.argv)
        step.seconds = time.perf_counter() - start
        step.stdout = tee.buffer.getvalue()
        if code != 0:
            raise RuntimeError(f"demo step {i} ({step.title}) failed with exit code {code}")
        step.finished = True


STEP_TIMES = "step_times.json"


def remember_times(plan: DemoPlan) -> None:
    """Record each step finished now in ``OUT/step_times.json`` (seconds, keyed by its command)
    and give each kept step the seconds its earlier run recorded, so that a ``--keep-done``
    rerun's summary still quotes every step's wall time. A step whose command changed has no
    record: its kept output came from another command."""
    path = plan.out / STEP_TIMES
    try:
        times = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        times = {}  # a damaged record costs only the quoted times; it is rewritten below
    for step in plan.steps:
        command = shlex.join(step.argv)
        if step.finished:
            times[command] = round(step.seconds, 1)
        elif step.skipped:
            step.earlier = times.get(command)
    plan.out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(times, indent=1) + "\n")
    tmp.replace(path)


def run_plan(plan: DemoPlan, keep_done: bool = False, jobs: int = 1) -> Path:
    """Run every step, then write the summary. ``keep_done`` skips a step whose outputs an
    earlier run left complete (delete a step's output to redo it and what reads it).
    ``jobs`` > 1 runs up to that many independent steps at once, as child processes with
    their logs in OUT/logs (:mod:`hyperzoo.runner`); 1 runs them in order, in this process."""
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    begin = time.perf_counter()
    try:
        if jobs > 1:
            from hyperzoo.runner import run_parallel

            print(f"running up to {jobs} steps at once; each step's output goes to {plan.out / 'logs'}",
                  file=sys.stderr)
            run_parallel(plan.steps, jobs, plan.out / "logs", threads=plan.threads, keep_done=keep_done)
        else:
            _run_in_process(plan, keep_done)
    finally:  # the steps that finished keep their times, even when a later one fails
        remember_times(plan)
    plan.wall = time.perf_counter() - begin
    from hyperzoo.summary import write_summary

    path = write_summary(plan)
    print(f"\nsummary: {path}", file=sys.stderr)
    return path
