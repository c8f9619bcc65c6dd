"""The README's results table: the whole pipeline on real EuroSAT RGB, one command.

    python scripts/eurosat_results.py --data ../shared/data/eurosat-rgb --out runs/eurosat
    python scripts/eurosat_results.py --data ../shared/data/eurosat-rgb --out runs/eurosat --zoo runs/eurosat_rgb.h5

Generates the 256-model zoo of configs/zoos/eurosat_rgb.toml (about an hour on 2 cores; resumable,
or reuse one with --zoo), trains configs/hyperrep/eurosat.toml, then writes the property report,
samples, sparsifies, and writes OUT/summary.md with the results table at its top. Every step is
the `hyperzoo` subcommand shown in the summary; rerunning resumes the zoo and the hyperrep run,
and --keep-done also keeps the reports already written.
"""

import argparse
import sys
from pathlib import Path

from hyperzoo.demo import eurosat_plan, run_plan

CONFIGS = Path(__file__).resolve().parents[1] / "configs"  # the checkout's sized configs
ZOO_CONFIG = CONFIGS / "zoos" / "eurosat_rgb.toml"
REP_CONFIG = CONFIGS / "hyperrep" / "eurosat.toml"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="the EuroSAT RGB folder (<Class>/<Class>_<n>.jpg)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--zoo", default=None, help="a zoo already generated from configs/zoos/eurosat_rgb.toml")
    p.add_argument("--max-workers", type=int, default=0, help="Ray workers for the zoo (0: one per core)")
    p.add_argument("--keep-done", action="store_true",
                   help="skip steps whose outputs an earlier run left in OUT (delete one to redo it)")
    args = p.parse_args(argv)
    plan = eurosat_plan(Path(args.out).resolve(), args.data, ZOO_CONFIG, REP_CONFIG, zoo=args.zoo,
                        max_workers=args.max_workers)
    run_plan(plan, keep_done=args.keep_done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
