"""The zoo driver: plan the population, run one Ray task per model, write results as they come.

``generate`` is what ``hyperzoo zoo generate`` and ``scripts/generate_zoo.py`` run. It
is resumable: the same command again trains only the models still pending, and a file
made from another config is refused unless ``overwrite`` (which replaces any existing file) or
``replace_changed`` (which replaces it only when its config differs).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eo_tasks import ConfigError
from zoo.format import NotAZooError, ZooFormatError
from zoo.localray import RaySession, RayNotOnLoopbackError, connect_ray, init_local_ray  # noqa: F401 (re-exported)
from zoo.lock import WriterLock
from zoo.plan import SKY_METRICS, ZooPlan, build_plan
from zoo.record import ModelRecord
from zoo.spec import ZooSpec, load_spec
from zoo.worker import MemberTask, data_to_arrays, run_member
from zoo.writer import ZooWriter, read_identity

Progress = Callable[[str], None]


def print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class GenerateReport:
    path: Path
    num_models: int
    trained: int  # models finished by this run
    already: int  # models that were finished before this run
    status: dict[str, int]  # this run's results by status
    wall_time: float


def _fmt_time(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class _Tracker:
    """Counts and the progress line: finished/failed/running, throughput and ETA."""

    def __init__(self, total: int, already: int, todo: int, progress: Progress | None) -> None:
        self.total, self.already, self.todo = total, already, todo
        self.status = {"done": 0, "failed": 0, "diverged": 0}
        self.progress = progress
        self.start = time.perf_counter()
        self.last_line = self.start

    @property
    def finished(self) -> int:
        return sum(self.status.values())

    def line(self, running: int, note: str = "") -> None:
        if self.progress is None:
            return
        elapsed = time.perf_counter() - self.start
        rate = self.finished / elapsed if elapsed > 0 and self.finished else 0.0
        left = self.todo - self.finished
        eta = _fmt_time(left / rate) if rate else "?"
        s = self.status
        self.progress(
            f"[zoo] {self.already + self.finished}/{self.total} finished | this run: done {s['done']}, "
            f"failed {s['failed']}, diverged {s['diverged']}, running {running}, queued {max(left - running, 0)} | "
            f"{rate * 60:.2f} models/min | elapsed {_fmt_time(elapsed)} | ETA {eta}" + (f" | {note}" if note else "")
        )
        self.last_line = time.perf_counter()


def _ray_init(address: str | None, dashboard: bool, progress: Progress | None) -> RaySession | None:
    """Connect to (or start) Ray; returns the session this call started, to be ended by it."""
    session = connect_ray(address, dashboard=dashboard)
    if progress is not None:
        import ray

        res = ray.cluster_resources()
        progress(f"[zoo] ray {ray.__version__}: {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs")
    return session


def _task(plan: ZooPlan, i: int, fault: str) -> MemberTask:
    spec, model = plan.spec, plan.models[i]
    return MemberTask(
        index=i,
        spec_json=model.spec.to_json(),
        train=model.train,
        keep_epochs=spec.keep_epochs,
        train_subset=spec.population.train_subset,
        subset_seed=model.subset_seed,
        sparsify=spec.sparsify,
        fault=fault,
    )


def sky_metric_names(data: Any) -> tuple[str, ...]:
    """The per-checkpoint cloudy/clear test accuracies, where the task's test split flags cloudy patches."""
    from eo_tasks.train import cloudy_mask

    test = data.splits.get("test")
    return SKY_METRICS if test is not None and len(test) and cloudy_mask(test.meta) is not None else ()


def _crash_result(index: int, err: BaseException) -> ModelRecord:
    kind = type(err).__name__
    text = str(err).strip().splitlines()
    head = " ".join(line.strip() for line in text[:3])
    return ModelRecord(index=index, status="failed", error=f"{kind}: {head}")


def generate(
    config: str | Path | ZooSpec,
    out: str | Path,
    *,
    address: str | None = None,
    max_workers: int | None = None,
    overwrite: bool = False,
    replace_changed: bool = False,
    dashboard: bool = False,
    progress: Progress | None = print_progress,
    faults: dict[int, str] | None = None,
) -> GenerateReport:
    """Generate (or continue) the zoo of ``config`` into ``out``.

    ``address``: a Ray cluster (``ray://..``, ``HOST:PORT`` or ``auto``); without it (and
    without ``RAY_ADDRESS``) a local runtime is started on loopback, or a runtime already
    initialised in this process is used. ``max_workers``: models in flight at once
    (default: as many as the cluster's CPUs/GPUs fit). ``faults``: test hook, model index
    -> fault (see ``zoo.worker._inject``). ``overwrite``: start afresh whatever ``out`` holds;
    ``replace_changed``: start afresh only when ``out`` was made from another config (or is no zoo).
    """
    start = time.perf_counter()
    where = str(config) if not isinstance(config, ZooSpec) else "zoo config"
    spec = config if isinstance(config, ZooSpec) else load_spec(config)
    out = Path(out)
    if max_workers is not None and max_workers < 1:
        raise ConfigError(f"max_workers must be >= 1, got {max_workers}")
    with WriterLock(out) as lock:  # one driver per zoo file, held until the run ends
        return _generate_locked(spec, where, out, lock, address, max_workers, overwrite, dashboard, progress,
                                faults or {}, start, replace_changed)


def _generate_locked(spec: ZooSpec, where: str, out: Path, lock: WriterLock, address: str | None,
                     max_workers: int | None, overwrite: bool, dashboard: bool, progress: Progress | None,
                     faults: dict[int, str], start: float, replace_changed: bool = False) -> GenerateReport:
    for stale in (out.with_name(out.name + ".creating"), out.with_name(out.name + ".recovering")):
        stale.unlink(missing_ok=True)  # leftovers of a killed run; the zoo itself is untouched
    if out.exists() and not overwrite:
        try:
            ident = read_identity(out)
        except (OSError, ZooFormatError, KeyError) as err:
            if not replace_changed:
                raise NotAZooError(f"{out} exists and is not a readable zoo ({err}); "
                                   "pass --overwrite to replace it") from err
            ident = None
        if ident is not None and ident["config_hash"] != spec.config_hash and not replace_changed:
            raise ConfigError(f"{out} was generated from a different config than {where}; "
                              "pass --overwrite to replace it (or --replace-changed)")
        overwrite = ident is None or ident["config_hash"] != spec.config_hash
        if not overwrite and ident["pending"] == 0:
            if progress:
                progress(f"[zoo] {out}: all {ident['num_models']} models already finished")
            n = ident["num_models"]
            return GenerateReport(out, n, 0, n, {}, time.perf_counter() - start)

    from eo_tasks.data import load_task_data

    if progress:
        progress(f"[zoo] loading {spec.data.kind} data ({spec.data.root or 'synthetic'})")
    data = load_task_data(spec.data.resolved())
    plan = build_plan(spec, data.info, len(data.splits["train"]), threads=spec.resources.threads_per_task, where=where,
                      extra_metrics=sky_metric_names(data))
    session = _ray_init(address, dashboard, progress)
    try:
        return _run(plan, data, out, "w" if overwrite else "a", lock, max_workers, progress, faults, start)
    finally:
        if session is not None:
            session.shutdown()


def _run(plan: ZooPlan, data: Any, out: Path, mode: str, lock: WriterLock, max_workers: int | None,
         progress: Progress | None, faults: dict[int, str], start: float) -> GenerateReport:
    import ray

    res = plan.spec.resources
    if max_workers is None:
        cluster = ray.cluster_resources()
        fits = [cluster.get("CPU", 1) // res.cpus_per_task]
        if res.gpus_per_task:
            fits.append(cluster.get("GPU", 0) // res.gpus_per_task)
        max_workers = max(1, int(min(fits)))
    with ZooWriter(out, plan, mode, run_info={"max_workers": max_workers}, lock=lock) as writer:
        todo = list(writer.pending)
        already = plan.num_models - len(todo)
        tracker = _Tracker(plan.num_models, already, len(todo), progress)
        if progress:
            progress(f"[zoo] {out}: {plan.num_models} models, {already} already finished, {len(todo)} to train, "
                     f"{max_workers} at a time (run {writer.run})")
        if not todo:
            return GenerateReport(out, plan.num_models, 0, already, tracker.status, time.perf_counter() - start)
        data_ref = ray.put(data_to_arrays(data))
        del data
        remote = ray.remote(run_member).options(
            num_cpus=res.cpus_per_task, num_gpus=res.gpus_per_task, max_retries=res.max_retries,
            retry_exceptions=False,
        )
        queue = list(reversed(todo))
        in_flight: dict[Any, int] = {}
        try:
            while queue or in_flight:
                while queue and len(in_flight) < max_workers:
                    i = queue.pop()
                    in_flight[remote.remote(_task(plan, i, faults.get(i, "")), data_ref)] = i
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=30.0)
                if not ready:
                    if time.perf_counter() - tracker.last_line > 120:
                        tracker.line(len(in_flight), "waiting")
                    continue
                for ref in ready:
                    i = in_flight.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as err:  # the task itself crashed (retries spent)
                        result = _crash_result(i, err)
                    writer.write(result)
                    tracker.status[result.status] += 1
                    note = f"{plan.models[i].name} {result.status}"
                    if result.status == "done" and "test_acc" in result.metrics:
                        note += f" test_acc={result.metrics['test_acc'][-1]:.3f}"
                    elif result.error:
                        note += f": {result.error[:160]}"
                    tracker.line(len(in_flight), f"{note} ({result.wall_time:.1f}s)")
        finally:
            for ref in in_flight:  # interrupted: do not leave tasks running on a shared cluster
                ray.cancel(ref, force=True)
    return GenerateReport(out, plan.num_models, tracker.finished, already, dict(tracker.status),
                          time.perf_counter() - start)
