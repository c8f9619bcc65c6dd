"""Two property reports on the same zoo and split, compared model for model: per property, the
R² and Kendall τ of one readout of report A minus one of report B, with a 95% bootstrap interval
over test models (both scored on the same resampled models, so the interval is of the paired
difference, narrower than the two reports' own intervals side by side).

    python scripts/compare_reports.py ../runs/gpu/predict ../runs/eurosat/large/predict
    python scripts/compare_reports.py A B --a "emb·ridge" --b "pool(emb)·ridge" --properties test_acc

By default each report's best embedding-alone readout (emb or pool(emb), by its validation
score, as the report chose it) is compared: the question "does run A's embedding read the
property better than run B's". Reads REPORT/results.csv and REPORT/predictions.csv (the test
rows of `hyperzoo predict`); refuses reports whose test checkpoints differ.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def best_alone(results: pd.DataFrame, prop: str) -> tuple[str, str]:
    from hyperrep.downstream import EMBEDDING_ALONE, best_by_validation

    best = best_by_validation(results[(results["property"] == prop) & results["feature_set"].isin(EMBEDDING_ALONE)])
    if best is None:
        raise SystemExit(f"no embedding-alone readout of {prop} with a validation score")
    return str(best["feature_set"]), str(best["predictor"])


class Report:
    """A report folder's two tables, read once for every property compared."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.results = pd.read_csv(folder / "results.csv")
        self.predictions = pd.read_csv(folder / "predictions.csv", dtype={"true": str, "pred": str})


def test_rows(report: Report, prop: str, readout: tuple[str, str]) -> pd.DataFrame:
    pred = report.predictions
    fs, method = readout
    rows = pred[(pred["property"] == prop) & (pred["feature_set"] == fs) & (pred["predictor"] == method)]
    if rows.empty:
        raise SystemExit(f"{report.folder / 'predictions.csv'}: no test rows of {prop} from {fs}·{method}")
    rows = rows.sort_values(["model", "epoch"]).reset_index(drop=True)
    return rows.assign(true=rows["true"].astype(float), pred=rows["pred"].astype(float))


def compare(a: Report, b: Report, prop: str, ra: tuple[str, str] | None, rb: tuple[str, str] | None,
            resamples: int, seed: int) -> dict:
    from hyperrep.downstream import paired_difference, score

    ra = ra or best_alone(a.results, prop)
    rb = rb or best_alone(b.results, prop)
    x, y = test_rows(a, prop, ra), test_rows(b, prop, rb)
    if not np.array_equal(x[["model", "epoch"]].to_numpy(), y[["model", "epoch"]].to_numpy()) \
            or not np.allclose(x["true"], y["true"]):
        raise SystemExit(f"{a.folder} and {b.folder}: the test checkpoints of {prop} differ (another zoo or split)")
    true, models = x["true"].to_numpy(), x["model"].to_numpy()
    row = {"property": prop, "A": "·".join(ra), "B": "·".join(rb), "test models": len(np.unique(models))}
    for metric in ("r2", "kendall_tau"):
        sa, sb = score("number", true, x["pred"].to_numpy())[metric], score("number", true, y["pred"].to_numpy())[metric]
        lo, hi = paired_difference("number", metric, true, x["pred"].to_numpy(), y["pred"].to_numpy(), models,
                                   resamples=resamples, seed=seed)
        row[metric] = f"{sa:.3f} - {sb:.3f} = {sa - sb:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    return row


def parse_readout(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    fs, sep, method = text.rpartition("·")
    if not sep:
        raise SystemExit(f"readout {text!r}: expected FEATURES·PREDICTOR, e.g. 'emb·ridge'")
    return fs, method


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path, help="report A (a `hyperzoo predict --out` folder)")
    p.add_argument("b", type=Path, help="report B, on the same zoo and split")
    p.add_argument("--a", dest="ra", default=None, help="readout of A, e.g. 'emb·ridge' (default: best alone)")
    p.add_argument("--b", dest="rb", default=None, help="readout of B (default: best alone)")
    p.add_argument("--properties", nargs="+", default=["test_acc", "epoch", "gap"])
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    ra, rb = parse_readout(args.ra), parse_readout(args.rb)
    a, b = Report(args.a), Report(args.b)
    rows = [compare(a, b, prop, ra, rb, args.resamples, args.seed) for prop in args.properties]
    table = pd.DataFrame(rows)
    print(f"A = {args.a}, B = {args.b}; A - B with a 95% interval over the same resampled test models\n")
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "---|" * len(table.columns))
    for _, r in table.iterrows():
        print("| " + " | ".join(str(v) for v in r) + " |")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
