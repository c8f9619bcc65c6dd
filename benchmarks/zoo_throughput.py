"""Zoo throughput: the same models trained (a) by a plain torch loop in one process, (b) by
the Ray zoo with 1 worker, (c) by the Ray zoo with 2 workers, all in one run.

    python benchmarks/zoo_throughput.py [--config configs/zoos/bench.toml]

Prints the overhead of the zoo machinery (b/a: Ray tasks, object store, HDF5 writes) and
its scaling (b/c; 2.0 is perfect on two cores). Ray's start-up and its workers' first
imports are measured separately and kept out of (b) and (c) by warming the workers first.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _warm(n: int) -> None:
    """Start ``n`` Ray workers and import the training stack in each."""
    import ray

    @ray.remote(num_cpus=1)
    def touch(_: int) -> int:
        import os

        from eo_tasks.train import train_model  # noqa: F401 (the trainer)
        from zoo import generate  # noqa: F401 (imports zoo.worker, what a zoo task runs)

        time.sleep(1.0)  # hold the CPU so the tasks land on different workers
        return os.getpid()

    pids = set(ray.get([touch.remote(i) for i in range(n)]))
    assert len(pids) == n, pids


def plain_loop(spec_path: Path) -> tuple[float, int]:
    """(a): every member trained one after another with train_model, no Ray, no HDF5."""
    import torch

    from eo_tasks.data import load_task_data
    from eo_tasks.train import train_model
    from zoo import build_plan, load_spec

    spec = load_spec(spec_path)
    data = load_task_data(spec.data.resolved())
    threads = spec.resources.threads_per_task
    plan = build_plan(spec, data.info, len(data.splits["train"]), threads=threads)
    old = torch.get_num_threads()
    start = time.perf_counter()
    for i, member in enumerate(plan.models):
        task_data = data
        if spec.population.train_subset:
            splits = dict(data.splits, train=data.splits["train"].sample(spec.population.train_subset,
                                                                           member.subset_seed))
            task_data = dataclasses.replace(data, splits=splits)
        train_model(plan.model_specs[i], task_data, member.train)
    torch.set_num_threads(old)
    return time.perf_counter() - start, plan.num_models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs/zoos/bench.toml"))
    args = parser.parse_args()
    from zoo import Zoo, generate, init_local_ray, load_spec

    config = Path(args.config)
    spec = load_spec(config)
    if spec.sparsify.ratios:
        print("note: the plain loop does not make sparsified twins; use a config without [sparsify]")
    # the data cache is filled once before anything is timed
    from eo_tasks.data import load_task_data

    load_task_data(spec.data.resolved())

    load_before = os.getloadavg()[0]
    t_a, n = plain_loop(config)
    start = time.perf_counter()
    init_local_ray(num_cpus=2)  # imports Ray first, so that its runtime stays on loopback
    import ray

    t_ray = time.perf_counter() - start
    start = time.perf_counter()
    _warm(2)
    t_warm = time.perf_counter() - start
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            generate(config, Path(tmp) / "b.h5", max_workers=1, progress=None)
            t_b = time.perf_counter() - start
            start = time.perf_counter()
            generate(config, Path(tmp) / "c.h5", max_workers=2, progress=None)
            t_c = time.perf_counter() - start
            with Zoo.open(Path(tmp) / "b.h5") as zb, Zoo.open(Path(tmp) / "c.h5") as zc:
                task_b, task_c = zb.table["wall_time"].sum(), zc.table["wall_time"].sum()
    finally:
        ray.shutdown()
    print(f"{n} models x {spec.train.epochs} epochs ({config.name}), {spec.resources.threads_per_task} torch thread(s) each")
    print(f"ray start-up {t_ray:.1f}s, worker warm-up {t_warm:.1f}s (not counted below)")
    print(f"(a) plain torch loop, 1 process : {t_a:7.1f}s  ({t_a / n:.2f}s/model)")
    print(f"(b) Ray zoo, 1 worker           : {t_b:7.1f}s  ({t_b / n:.2f}s/model)")
    print(f"(c) Ray zoo, 2 workers          : {t_c:7.1f}s  ({t_c / n:.2f}s/model)")
    print(f"time inside the Ray tasks: (b) {task_b:.1f}s, (c) {task_c:.1f}s in all")
    print(f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} CPUs): "
          "other processes on the machine distort the ratios")
    print(f"overhead b/a = {t_b / t_a:.3f}   scaling b/c = {t_b / t_c:.3f}")


if __name__ == "__main__":
    main()
