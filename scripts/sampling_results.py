"""Issue 37's sampling check on one real zoo, one command (hyperzoo.generation).

    python scripts/sampling_results.py --zoo ../runs/fresh128/zoo.h5 --config configs/hyperrep/eurosat_generate.toml \\
        --out ../runs/fresh128/generation --data-root ../shared/data/eurosat-rgb [--publish NAME]

Trains the generating run (resumable), measures what decoding keeps of the validation and
test models, chooses the sampler on validation accuracy under the default novelty floor,
samples with it and writes the full sampling report. ``--publish NAME`` copies
OUT/generation.csv, OUT/sweep.csv and OUT/fidelity_summary.csv (and the zoo's summary) to
docs/results/NAME/ and refreshes the generated blocks.
"""

import argparse
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--zoo", required=True, help="the zoo file")
    p.add_argument("--config", required=True, help="the generating run's hyperrep TOML")
    p.add_argument("--out", required=True, help="output folder (resumable)")
    p.add_argument("--data-root", default=None, help="the zoo task's data folder")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--label", default="real EuroSAT RGB zoo", help="what the zoo is, for --publish")
    p.add_argument("--publish", default="", metavar="NAME", help="write docs/results/NAME/ and refresh the blocks")
    p.add_argument("--wall-time", default="n/a", help="the zoo's generation wall time, for the published zoo table")
    p.add_argument("--finetune-models", type=int, default=4,
                   help="samples fine-tuned beside their own anchors (default 4; 5 or more anchors give an interval)")
    args = p.parse_args(argv)
    import pandas as pd

    from hyperzoo import doc_files, publish, refresh, run_generation, zoo_summary

    out = Path(args.out)
    row = run_generation(Path(args.zoo), Path(args.config), out, args.data_root, args.seed,
                         finetune_models=args.finetune_models, say=lambda line: print(line, file=sys.stderr, flush=True))
    print(row.T.to_string())
    if args.publish:
        command = "python scripts/sampling_results.py " + shlex.join(argv)
        publish(ROOT / "docs" / "results" / args.publish, label=args.label, command=command, zoo=args.zoo,
                files={"zoo.csv": zoo_summary(Path(args.zoo), args.wall_time),
                       **{name: pd.read_csv(out / name) for name in ("generation.csv", "sweep.csv",
                                                                     "fidelity_summary.csv")}})
        for path in refresh(doc_files(ROOT), ROOT):
            print(f"rewrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
