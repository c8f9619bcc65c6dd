"""Issue 14's figures: one hyper-representation over every fusion mode of a ben-ge population.

    python scripts/fusion_results.py --out runs/benge-fusion
    python scripts/fusion_results.py --out runs/benge-fusion --zoo runs/benge_fusion.h5 --keep-done

Generates the 210-model zoo of configs/zoos/benge_fusion.toml (synthetic ben-ge stand-ins unless
its [data] root names a real ben-ge folder: about 30 min on 2 cores; resumable, or reuse one with
--zoo), trains configs/hyperrep/benge_fusion.toml over all five architectures, predicts fusion mode,
accuracy and cloudy/clear accuracy from pooled embeddings, s(W) per layer role and the supervised
encoder (95% intervals over test models), samples every fusion mode, sparsifies late fusion, and
writes OUT/summary.md with the fusion story and its figure. Every step is the `hyperzoo`
subcommand shown in the summary.
"""

import argparse
import sys
from pathlib import Path

from hyperzoo import fusion_plan, run_plan

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ZOO_CONFIG = CONFIGS / "zoos" / "benge_fusion.toml"
REP_CONFIG = CONFIGS / "hyperrep" / "benge_fusion.toml"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--zoo", default=None, help="a zoo already generated from configs/zoos/benge_fusion.toml")
    p.add_argument("--zoo-config", default=str(ZOO_CONFIG), help="population config (default: benge_fusion.toml)")
    p.add_argument("--config", default=str(REP_CONFIG), help="hyperrep config (default: benge_fusion.toml)")
    p.add_argument("--max-workers", type=int, default=0, help="Ray workers for the zoo (0: one per core)")
    p.add_argument("--keep-done", action="store_true",
                   help="skip steps whose outputs an earlier run left in OUT (delete one to redo it)")
    p.add_argument("--jobs", type=int, default=1,
                   help="pipeline steps run at once where they do not depend on each other; each then logs to OUT/logs")
    args = p.parse_args(argv)
    plan = fusion_plan(Path(args.out).resolve(), Path(args.zoo_config), Path(args.config), zoo=args.zoo,
                       max_workers=args.max_workers)
    run_plan(plan, keep_done=args.keep_done, jobs=args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
