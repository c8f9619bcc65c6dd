"""The demo's steps after the zoo, one after another (``--jobs 1``) against several at once.

    python benchmarks/pipeline_jobs.py [--jobs 2] [--full] [--out DIR]

Generates the demo's zoo once (SYNTHETIC ben-ge stand-in; ``--full``: the full demo's zoo),
then runs every later step twice on it: in order in this process, and with ``--jobs N`` as
child processes. Prints both wall times, their ratio, and whether the two runs wrote the
same property table (less its per-cell seconds) and the same zero-shot accuracies (they
should: the steps are seeded). Each child process pays a few seconds of imports, so the
quick demo's steps, seconds long, run slower this way; the gain is for steps of minutes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from hyperzoo import main as hyperzoo_main, make_plan, run_plan


def _after_zoo(out: Path, quick: bool, zoo: Path | None):
    plan = make_plan(out, quick, None)
    if zoo is not None:
        (out / "zoo.h5").symlink_to(zoo)
        plan.steps = [s for s in plan.steps if s.name != "zoo generate"]
    return plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="the full demo's zoo and steps (minutes)")
    parser.add_argument("--out", default=None, help="folder for both runs (default: a temporary one)")
    args = parser.parse_args()
    root = Path(args.out or tempfile.mkdtemp(prefix="pipeline-jobs-")).resolve()
    serial = _after_zoo(root / "jobs-1", not args.full, None)
    zoo_step, later = serial.steps[0], serial.steps[1:]
    if hyperzoo_main(zoo_step.argv) != 0:
        raise SystemExit(f"generating the zoo failed: hyperzoo {' '.join(zoo_step.argv)}")
    serial.steps = later
    start = time.perf_counter()
    run_plan(serial, jobs=1)
    t1 = time.perf_counter() - start
    parallel = _after_zoo(root / f"jobs-{args.jobs}", not args.full, root / "jobs-1" / "zoo.h5")
    start = time.perf_counter()
    run_plan(parallel, jobs=args.jobs)
    tn = time.perf_counter() - start

    def same(rel: str) -> bool:
        a, b = (pd.read_csv(root / d / rel).drop(columns=["seconds", "wall_s"], errors="ignore")
                for d in ("jobs-1", f"jobs-{args.jobs}"))
        return a.shape == b.shape and bool(((a == b) | (a.isna() & b.isna())).all().all())

    print(f"\nSYNTHETIC {'full' if args.full else 'quick'} demo zoo, {len(later)} steps after it ({root})")
    print(f"--jobs 1 (in process): {t1:.1f} s wall; --jobs {args.jobs} (child processes): {tn:.1f} s wall; "
          f"ratio {t1 / tn:.2f}x")
    for rel in ("predict/results.csv", "sample/zero_shot.csv"):
        print(f"{rel}: {'identical' if same(rel) else 'DIFFERS'} in the two runs")


if __name__ == "__main__":
    main()
