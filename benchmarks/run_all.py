"""Every benchmark in one run, each printing ratios measured in that run.

    python benchmarks/run_all.py [--zoo ZOO.h5] [--run RUN/] [--report REPORT/] [--skip-throughput]

1. zoo overhead and scaling (benchmarks/zoo_throughput.py: plain loop vs Ray 1 vs 2 workers)
2. zoo storage: HDF5 vs one torch file per checkpoint (size, random and full-scan reads)
3. hyper-representation training and embedding throughput
4. property-prediction quality against s(W): from a `hyperzoo predict` report (--report), or
   computed here from --zoo and --run; meant for the real EuroSAT zoo (configs/zoos/eurosat_rgb.toml)

Without --zoo, sections 2-3 use a small synthetic zoo generated here (configs/zoos/bench.toml);
section 4 then says it was skipped. Figures on synthetic zoos are labelled so.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def _section(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def _data_label(zoo_path: Path) -> str:
    from zoo import Zoo

    with Zoo.open(zoo_path) as zoo:
        task = zoo.task
    kind = "SYNTHETIC" if task.synthetic else "real"
    return f"{zoo_path.name}: {kind} {task.dataset}, {len(task.classes)} classes"


def quality(results: pd.DataFrame) -> str:
    """R^2 and Kendall's tau of every feature set x predictor, and the best embedding-based
    one as a ratio of s(W) with gradient-boosted trees (the strong statistics baseline)."""
    lines = []
    for prop in ("test_acc", "epoch", "gap"):
        rows = results[results["property"] == prop].set_index(["feature_set", "predictor"])
        if rows.empty:
            continue
        for metric in ("r2", "kendall_tau"):
            col = rows[metric].dropna()
            cells = ", ".join(f"{f}/{p} {v:.3f}" for (f, p), v in col.items())
            ratio = ""
            base = col.get(("s(W)", "gbt"))
            emb = [v for (f, _), v in col.items() if f.startswith("emb")]
            if base is not None and base > 0 and emb:
                ratio = f"  -> best embedding / s(W)-GBT = {max(emb) / base:.2f}"
            lines.append(f"{prop} {metric}: {cells}{ratio}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zoo", type=Path, default=None, help="zoo for sections 2-4 (default: a synthetic one)")
    parser.add_argument("--run", type=Path, default=None, help="hyperrep run on --zoo, for section 4")
    parser.add_argument("--report", type=Path, default=None, help="an existing predict report for section 4")
    parser.add_argument("--hyperrep-config", type=Path, default=ROOT / "configs" / "hyperrep" / "tiny.toml")
    parser.add_argument("--skip-throughput", action="store_true", help="skip section 1 (trains 3x8 models)")
    args = parser.parse_args()

    if not args.skip_throughput:
        _section("1. zoo overhead and scaling (synthetic bench population)")
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "zoo_throughput.py")], check=True)

    with tempfile.TemporaryDirectory() as tmp:
        zoo_path = args.zoo
        if zoo_path is None:
            from zoo import generate

            zoo_path = Path(tmp) / "bench.h5"
            generate(ROOT / "configs" / "zoos" / "bench.toml", zoo_path, progress=None)
        import zoo_storage

        _section(f"2. zoo storage ({_data_label(zoo_path)})")
        print(zoo_storage.report(zoo_storage.measure(zoo_path, reads=500)), flush=True)

        import hyperrep_throughput

        _section(f"3. hyper-representation throughput ({_data_label(zoo_path)}, {args.hyperrep_config.name})")
        print(hyperrep_throughput.report(hyperrep_throughput.measure(zoo_path, args.hyperrep_config, 3)), flush=True)

    _section("4. property prediction against s(W)")
    if args.report is not None:
        results = pd.read_csv(args.report / "results.csv")
        print(f"from {args.report / 'results.csv'} ({(args.report / 'command.txt').read_text().strip()})")
        print(quality(results))
    elif args.zoo is not None and args.run is not None:
        from hyperrep.downstream import PredictConfig, property_report

        with tempfile.TemporaryDirectory() as tmp:
            results = property_report(args.zoo, args.run, Path(tmp) / "report", PredictConfig(threads=1))
        print(f"{_data_label(args.zoo)}, run {args.run}")
        print(quality(results))
    else:
        print("skipped: pass --report (a hyperzoo predict folder) or --zoo with --run (the real EuroSAT zoo)")


if __name__ == "__main__":
    main()
