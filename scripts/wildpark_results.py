"""The functional view against weights on a real zoo of many architectures, one command.

    python scripts/wildpark_results.py --zoo ../runs/wildpark/zoo.h5 --out ../runs/wildpark/results \\
        --data-root ../shared/data/eurosat-rgb --publish

Trains the two hyper-representations (with and without function tokens) side by side, then
the property report of hyperzoo.wildpark (embeddings, probing, learned probes, the encoder,
s(W), s(W) + probe outputs, the recipe reference; test accuracy, epoch and gap; R² and τ with
95% intervals over test models). ``--publish`` writes docs/results/wildpark/ and refreshes the
README's and docs' generated blocks. The zoo: configs/zoos/eurosat_wildpark.toml (or a
`hyperzoo zoo snapshot --first N` of it, named as such). Any zoo of many architectures runs the
same way; the synthetic fusion zoo (five fusion modes) with its robustness properties:

    python scripts/wildpark_results.py --zoo ../runs/benge-fusion/zoo.h5 --out ../runs/benge-fusion/functional \
        --properties test_acc epoch gap test_acc_cloudy cloudy_drop --name fusion-functional \
        --zoo-config configs/zoos/benge_fusion.toml --label "SYNTHETIC ben-ge fusion zoo" --publish
"""

import argparse
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--zoo", required=True, help="the zoo file (or a snapshot of it)")
    p.add_argument("--out", required=True, help="output folder (resumable: finished steps are kept)")
    p.add_argument("--data-root", default="", help="the zoo task's data folder, where the recorded one is not here")
    p.add_argument("--jobs", type=int, default=2, help="steps at once (the two trainings, the two reports)")
    p.add_argument("--publish", action="store_true",
                   help="write docs/results/wildpark/ from the reports and refresh the generated blocks")
    p.add_argument("--wall-time", default="", help="the zoo's generation wall time, as the published table says it")
    p.add_argument("--properties", nargs="+", default=None,
                   help="properties the reports read (default: the wild park's test_acc epoch gap)")
    p.add_argument("--name", default="wildpark", help="docs/results/NAME for --publish (default: wildpark)")
    p.add_argument("--zoo-config", default="configs/zoos/eurosat_wildpark.toml", help="the zoo's config, as published")
    p.add_argument("--label", default="real EuroSAT RGB (many architectures)", help="what the zoo is, as published")
    args = p.parse_args(argv)
    from hyperzoo import doc_files, publish, refresh, run_wildpark, wildpark_results, wildpark_rows, zoo_summary

    out, zoo = Path(args.out).resolve(), Path(args.zoo).resolve()
    props = tuple(args.properties) if args.properties else None
    seconds = run_wildpark(zoo, out, ROOT / "configs", args.data_root, jobs=args.jobs, properties=props)
    print(f"wildpark: reports in {out} ({seconds / 60:.1f} min)")
    if args.publish:
        command = "python scripts/wildpark_results.py " + shlex.join(argv)
        publish(ROOT / "docs" / "results" / args.name, label=args.label,
                command=command, zoo=f"{Path(args.zoo).name} ({args.zoo_config})",
                files={"zoo.csv": zoo_summary(zoo, args.wall_time or "n/a"), "results.csv": wildpark_results(out, props),
                       "rows.csv": wildpark_rows()})
        for path in refresh(doc_files(ROOT), ROOT):
            print(f"rewrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
