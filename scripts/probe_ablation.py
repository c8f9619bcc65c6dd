"""Probing levers on one zoo, chosen on validation models: probe count and probe source.

    python scripts/probe_ablation.py --zoo ../runs/wildpark/zoo640.h5 --out ../runs/wildpark/ablation \\
        --data-root ../shared/data/eurosat-rgb --publish

For each setting one ``hyperzoo predict --no-run`` (feature sets probe and probe+s(W), ridge and
GBT; test accuracy, epoch and gap) on the zoo's seeded split, two at a time. The table gives,
per setting and property, the readout chosen on validation models, its validation R² and its
test R² with the 95% interval, and the report's wall time. ``--publish`` writes
docs/results/<name>/table.csv and refreshes the generated blocks.
"""

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = [(16, "data"), (64, "data"), (256, "data"), (64, "random")]
PROPERTIES = ("test_acc", "epoch", "gap")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--zoo", required=True, help="the zoo file")
    p.add_argument("--out", required=True, help="output folder (a setting whose report is there is kept)")
    p.add_argument("--data-root", default="", help="the zoo task's data folder")
    p.add_argument("--name", default="wildpark-probes", help="docs/results/<name> for --publish")
    p.add_argument("--publish", action="store_true", help="write docs/results/<name>/ and refresh the blocks")
    args = p.parse_args(argv)
    import pandas as pd

    from hyperrep.downstream import best_by_validation
    from hyperzoo import doc_files, publish, refresh

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pending, rows = [], []
    for n, source in SETTINGS:
        folder = out / f"probes{n}-{source}"
        cmd = [sys.executable, "-m", "hyperzoo", "predict", "--zoo", args.zoo, "--no-run", "--out", str(folder),
               "--features", "probe", "probe+s(W)", "--predictors", "ridge", "gbt", "--probes", str(n),
               "--probe-source", source, "--properties", *PROPERTIES, "--threads", "1", "--quiet"]
        if args.data_root:
            cmd += ["--data-root", args.data_root]
        if not (folder / "results.csv").is_file():
            pending.append((folder, cmd))
    for i in range(0, len(pending), 2):
        procs = [(folder, time.perf_counter(), subprocess.Popen(cmd)) for folder, cmd in pending[i:i + 2]]
        while procs:  # poll, so each report's wall time ends when it does, not when its pair does
            for folder, start, proc in list(procs):
                if proc.poll() is None:
                    continue
                if proc.returncode != 0:
                    raise SystemExit(f"failed: {folder}")
                (folder / "wall_seconds.txt").write_text(f"{time.perf_counter() - start:.0f}\n")
                procs.remove((folder, start, proc))
            time.sleep(1)
    for n, source in SETTINGS:
        folder = out / f"probes{n}-{source}"
        res = pd.read_csv(folder / "results.csv")
        wall = (folder / "wall_seconds.txt").read_text().strip() if (folder / "wall_seconds.txt").is_file() else "n/a"
        for prop in PROPERTIES:
            row = best_by_validation(res[res["property"] == prop])
            rows.append({"probes": n, "source": source, "property": prop,
                         "chosen on validation": f"{row['feature_set']}·{row['predictor']}",
                         "val R²": f"{row['val_score']:.3f}",
                         "test R² [95%]": f"{row['r2']:.3f} [{row['r2_lo']:.2f}, {row['r2_hi']:.2f}]",
                         "report wall time (s)": wall})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    if args.publish:
        publish(ROOT / "docs" / "results" / args.name, label="real EuroSAT RGB (many architectures), probing levers",
                command="python scripts/probe_ablation.py " + shlex.join(argv), zoo=Path(args.zoo).name,
                files={"table.csv": table})
        for path in refresh(doc_files(ROOT), ROOT):
            print(f"rewrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
