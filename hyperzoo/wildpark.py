"""The functional-view comparison on a zoo of many architectures (``scripts/wildpark_results.py``).

For one zoo (by default the real EuroSAT wild park of configs/zoos/eurosat_wildpark.toml) it
trains two hyper-representations that differ only in their function tokens
(configs/hyperrep/wildpark.toml and wildpark_function.toml, side by side), then one property
report that reads, on one split by model:

- the self-supervised embeddings: ``pool(emb)`` of each run (with and without function tokens),
  by ridge and by GBT;
- probing: ``probe`` (softmax outputs on 64 training-split images, no labels) by ridge and GBT;
- the statistics: ``s(W)`` (per layer role) by ridge and GBT, and ``probe+s(W)`` by GBT: the
  information the learned rows get, with no learning;
- the supervised rows: learned probes (``probegen``) and the run's encoder fine-tuned;
- the reference ``recipe`` (hyperparameters, architecture, epoch) by GBT.

Every step is a ``hyperzoo`` command, quoted in ``OUT/commands.txt``; a step whose output is
there is kept with ``keep_done``. ``scripts/wildpark_results.py --publish`` writes the small CSVs of the README's table.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

PROPERTIES = ("test_acc", "epoch", "gap")
PROBES = 64
FEATURES = ("pool(emb)", "s(W)", "probe", "probe+s(W)", "recipe")
# (label, feature sets, predictors, which report): the published table's rows
ROWS = (
    ("embedding alone, weights + function tokens", "pool(emb)", "ridge;gbt", "function"),
    ("embedding alone, weights only", "pool(emb)", "ridge;gbt", "weights"),
    ("learned probes · supervised (ProbeGen)", "learned probes", "probegen", "function"),
    ("encoder · supervised (function-token run)", "encoder", "supervised", "function"),
    ("probe outputs · ridge", "probe", "ridge", "function"),
    ("probe outputs · GBT", "probe", "gbt", "function"),
    ("s(W) · ridge", "s(W)", "ridge", "function"),
    ("s(W) · GBT", "s(W)", "gbt", "function"),
    ("s(W) + probe outputs · GBT", "probe+s(W)", "gbt", "function"),
    ("recipe · GBT (reference, not weight space)", "recipe", "gbt", "function"),
)


def steps(zoo: Path, out: Path, configs: Path, data_root: str, threads: int = 1,
          properties: tuple[str, ...] | None = None) -> list[tuple[list[str], Path]]:
    """(hyperzoo arguments, the output that marks it done) of each step, in order."""
    properties = tuple(properties or PROPERTIES)
    common = ["--threads", str(threads), "--resamples", "1000", "--properties", *properties, "--quiet"]
    train = [(["hyperrep", "train", "--zoo", str(zoo), "--config", str(configs / f"hyperrep/{name}.toml"),
               "--out", str(out / run), "--quiet"], out / run / "curves.png")  # written when training ends
             for name, run in (("wildpark", "run"), ("wildpark_function", "run-function"))]
    predict_fn = ["predict", "--zoo", str(zoo), "--run", str(out / "run-function"), "--out", str(out / "predict"),
                  "--features", *FEATURES, "--predictors", "ridge", "gbt", "--probes", str(PROBES),
                  "--supervised", "--supervised-properties", *properties, *common]
    predict_w = ["predict", "--zoo", str(zoo), "--run", str(out / "run"), "--out", str(out / "predict-weights"),
                 "--features", "pool(emb)", "--predictors", "ridge", "gbt", *common]
    if data_root:
        predict_fn += ["--data-root", data_root]
    return [*train, (predict_fn, out / "predict" / "results.csv"), (predict_w, out / "predict-weights" / "results.csv")]


def run_wildpark(zoo: Path, out: Path, configs: Path, data_root: str = "", *, keep_done: bool = True,
                 jobs: int = 2, properties: tuple[str, ...] | None = None) -> float:
    """Run the steps (the two trainings ``jobs`` at a time); returns the wall time in seconds.
    ``properties``: what the reports read (default PROPERTIES; a fusion zoo adds ``test_acc_cloudy``,
    ``cloudy_drop``)."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    todo = steps(zoo, out, configs, data_root, properties=properties)
    with (out / "commands.txt").open("a") as log:
        for args, _ in todo:
            log.write("hyperzoo " + shlex.join(args) + "\n")
    trainings, reports = todo[:2], todo[2:]
    _run_group([s for s in trainings if not (keep_done and s[1].exists())], out, jobs)
    _run_group([s for s in reports if not (keep_done and s[1].exists())], out, jobs)
    return time.perf_counter() - start


def _run_group(group: list[tuple[list[str], Path]], out: Path, jobs: int) -> None:
    """Run ``group`` ``jobs`` at a time, each logging to OUT/logs/; stop at the first failure."""
    (out / "logs").mkdir(exist_ok=True)
    pending = list(group)
    while pending:
        batch, pending = pending[:jobs], pending[jobs:]
        procs = []
        for args, done in batch:
            log = (out / "logs" / f"{done.parent.name}.log").open("w")
            procs.append((args, subprocess.Popen([sys.executable, "-m", "hyperzoo", *args], stdout=log, stderr=log)))
        for args, proc in procs:
            if proc.wait() != 0:
                raise RuntimeError(f"step failed ({proc.returncode}): hyperzoo {shlex.join(args)}; see {out / 'logs'}")


def wildpark_results(out: Path, properties: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The two reports' rows of the published table, one results table (the weights-only run's
    rows carry its own feature-set label)."""
    fn = pd.read_csv(out / "predict" / "results.csv")
    w = pd.read_csv(out / "predict-weights" / "results.csv")
    w["feature_set"] = w["feature_set"].where(w["feature_set"] != "pool(emb)", "pool(emb) [weights only]")
    both = pd.concat([fn, w], ignore_index=True)
    keep = both["property"].isin(properties or PROPERTIES)
    cols = [c for c in both.columns if c in ("feature_set", "predictor", "property", "r2", "r2_lo", "r2_hi",
                                              "kendall_tau", "kendall_tau_lo", "kendall_tau_hi", "val_score",
                                              "n_test_models", "seconds", "note")]
    return both.loc[keep, cols].reset_index(drop=True)


def wildpark_rows() -> pd.DataFrame:
    return pd.DataFrame([{"label": label, "feature_sets": sets if which == "function" else "pool(emb) [weights only]",
                          "predictors": preds} for label, sets, preds, which in ROWS])
