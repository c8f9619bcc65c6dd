"""The README's results on real EuroSAT RGB: both zoos, the whole pipeline, one command.

    python scripts/eurosat_results.py --data-root ../shared/data/eurosat-rgb --out ../runs/eurosat \\
        --zoo-256 ../runs/eurosat_rgb.h5 --zoo-large ../runs/eurosat_rgb_large.h5 --keep-done

For each zoo (configs/zoos/eurosat_rgb.toml: 256 models, about an hour on 2 cores;
configs/zoos/eurosat_rgb_large.toml: 1,020 models, about 75 min) it generates the zoo unless one is
given (resumable), trains its hyper-representation (configs/hyperrep/eurosat.toml, chosen
on validation models: docs/hyperrep-ablation.md), predicts properties with the supervised row, samples, sparsifies, and
writes OUT/<zoo>/summary.md; OUT/summary.md holds both zoos' property tables. Rerunning
resumes; --keep-done also keeps the reports already written. --only runs one zoo.
"""

import argparse
import sys
from pathlib import Path

from eo_tasks import add_data_root_option, add_deprecated_option
from hyperzoo import ZOOS, rerun_command, run_both

CONFIGS = Path(__file__).resolve().parents[1] / "configs"  # the checkout's sized configs


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_root_option(p, required=False)  # the EuroSAT RGB folder (<Class>/<Class>_<n>.jpg); required
    add_deprecated_option(p, "--data", "--data-root", "data_root", metavar="DIR")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--zoo-256", default=None, help="a zoo already generated from configs/zoos/eurosat_rgb.toml")
    p.add_argument("--zoo-large", default=None,
                   help="a zoo from configs/zoos/eurosat_rgb_large.toml (or a `hyperzoo zoo snapshot` of one)")
    p.add_argument("--only", choices=tuple(ZOOS), default=None, help="run one zoo only")
    p.add_argument("--max-workers", type=int, default=0, help="Ray workers for a zoo generated here (0: one per core)")
    p.add_argument("--keep-done", action="store_true",
                   help="skip steps whose outputs an earlier run left in OUT (delete one to redo it)")
    p.add_argument("--jobs", type=int, default=1,
                   help="pipeline steps run at once where they do not depend on each other, e.g. the two "
                        "hyper-representations (each single-threaded); each then logs to OUT/<zoo>/logs")
    args = p.parse_args(argv)
    if args.data_root is None:
        p.error("--data-root DIR is required (the EuroSAT RGB folder)")
    argv = ["--data-root" if a == "--data" else a for a in argv]  # the rerun command spells it the new way
    given = {"256": args.zoo_256, "large": args.zoo_large}
    zoos = {name: given[name] for name in ZOOS if args.only in (None, name)}
    run_both(Path(args.out).resolve(), args.data_root, CONFIGS, zoos, keep_done=args.keep_done,
             max_workers=args.max_workers, rerun=rerun_command(argv), jobs=args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
