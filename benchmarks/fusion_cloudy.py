"""S1+S2 late fusion against the S2 baseline on cloudy patches of the synthetic ben-ge stand-in.

    python benchmarks/fusion_cloudy.py [--seeds 0 1 2]

Trains both shipped configs (configs/train/benge_synth_{s2,late}.toml) with each seed and prints
test accuracy overall, on cloudy and on clear patches (mean and spread over seeds).
SYNTHETIC data: these are not ben-ge results.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from pathlib import Path

from eo_tasks.train import load_run_config, run_training

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    rows = {}
    for name in ("s2", "late"):
        cfg = load_run_config(ROOT / "configs" / "train" / f"benge_synth_{name}.toml")
        runs = []
        for seed in args.seeds:
            seeded = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))
            runs.append(run_training(seeded, progress=False))
            print(f"{name} seed {seed}: " + ", ".join(
                f"{k}={runs[-1][k]:.3f}" for k in ("test_acc", "test_acc_cloudy", "test_acc_clear")), flush=True)
        rows[name] = runs
    print(f"\nsynthetic ben-ge, {rows['s2'][0]['test_n_cloudy']} cloudy test patches, seeds {args.seeds}")
    print(f"{'model':<28}{'params':>8}{'test':>16}{'cloudy':>16}{'clear':>16}")
    for name, label in (("s2", "S2 baseline (single)"), ("late", "S1+S2 late fusion")):
        cells = []
        for key in ("test_acc", "test_acc_cloudy", "test_acc_clear"):
            vals = [r[key] for r in rows[name]]
            spread = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{statistics.mean(vals):.3f} ± {spread:.3f}")
        print(f"{label:<28}{rows[name][0]['params']:>8}" + "".join(f"{c:>16}" for c in cells))


if __name__ == "__main__":
    main()
