"""Where a property report's errors sit: per kept epoch, each readout's bias, RMSE, share of the
squared error, and the R² and Pearson r within that epoch's test checkpoints.

    python scripts/prediction_errors.py ../runs/eurosat/large/predict --property test_acc \\
        --readouts "s(W)·gbt,emb+s(W)·blend,emb·ridge"

Reads REPORT/predictions.csv (the test rows of `hyperzoo predict`); prints a markdown table.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def _row(readout: str, epoch, rows: pd.DataFrame, total: float) -> dict:
    t, p = rows["true"].astype(float).to_numpy(), rows["pred"].astype(float).to_numpy()
    se = (p - t) ** 2
    return {"readout": readout, "epoch": epoch, "n": len(t), "true mean": t.mean(), "true sd": t.std(ddof=1),
            "bias": (p - t).mean(), "rmse": np.sqrt(se.mean()), "share of squared error": se.sum() / total,
            "R² within epoch": 1 - se.sum() / ((t - t.mean()) ** 2).sum(), "r within epoch": np.corrcoef(t, p)[0, 1]}


def error_table(predictions: pd.DataFrame, prop: str, readouts: list[tuple[str, str]]) -> pd.DataFrame:
    rows = []
    for fs, method in readouts:
        sel = predictions[(predictions["property"] == prop) & (predictions["feature_set"] == fs)
                          & (predictions["predictor"] == method)]
        if sel.empty:
            raise SystemExit(f"no test predictions for {fs}·{method} of {prop!r} in the report")
        total = float(((sel["pred"].astype(float) - sel["true"].astype(float)) ** 2).sum())
        groups = [*sel.groupby(sel["epoch"].astype(int)), ("all", sel)]
        rows += [_row(f"{fs}·{method}", epoch, g, total) for epoch, g in groups]
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in table.itertuples(index=False)]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("report", type=Path, help="a `hyperzoo predict` output folder")
    p.add_argument("--property", default="test_acc")
    p.add_argument("--readouts", default="s(W)·gbt,emb+s(W)·blend",
                   help="comma-separated feature_set·predictor pairs")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    path = args.report / "predictions.csv"
    if not path.exists():
        raise SystemExit(f"{path}: not found; give the folder `hyperzoo predict --out` wrote")
    readouts = []
    for item in args.readouts.split(","):
        fs, sep, method = item.strip().rpartition("·")
        if not sep:
            raise SystemExit(f"--readouts: {item!r} is not feature_set·predictor")
        readouts.append((fs, method))
    table = error_table(pd.read_csv(path, dtype=str), args.property, readouts)
    print(markdown(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
