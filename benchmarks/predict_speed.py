"""Property prediction (``hyperzoo predict``'s evaluation): the path before the speed work
against the current one, on the same synthetic zoo in one run.

    python benchmarks/predict_speed.py [--models-per-point 2] [--epochs 8] [--emb 1024]
                                       [--old-rev REV] [--skip-old] [--keep ZOO.h5]

The zoo is written with the project's own API (``zoo.build_plan`` on the large EuroSAT
zoo's population config, configs/zoos/eurosat_rgb_large.toml, ``zoo.ZooWriter``) and read
back with ``hyperrep.downstream.load_data``; its weights (5,850 per checkpoint) and metrics
are SYNTHETIC training trajectories (no model is trained), and the embedding is a fixed
random nonlinear projection of the weights, ``--emb`` wide (a real run's is ~4,000), pooled
per block of tokens. So the feature widths and row counts are the real ones; the numbers
predicted are not meaningful, only the time spent on them (and old-vs-new agreement).

The old path is the package as it was at ``--old-rev`` (the commit before the speed work),
checked out of git into a temporary folder and imported beside the current one. Each path
is timed on the same rows: old with 1 thread (what ``--threads 1`` ran), new with 1 thread,
new with its default (one single-threaded job per core); ``--threaded`` adds old and new
with one cell at a time on every core's threads.
``--models-per-point 17 --epochs 16 --emb 3840 --skip-old`` is about the full large zoo
(1,020 models; it keeps 9 checkpoints each, this writes 16): the new path alone.
"""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OLD_REV = "be91256"  # hyperrep/downstream before intervals, projections and parallel cells
INIT_SCALE = {"uniform": 0.05, "normal": 0.08, "kaiming_uniform": 0.12, "kaiming_normal": 0.15}
ACTIVATIONS = ("relu", "tanh", "gelu", "leaky_relu")


def zoo_config(per_point: int, epochs: int) -> str:
    """The large zoo's config with ``per_point`` draws per grid point and ``epochs`` kept
    checkpoints spread over its 15 training epochs (no pruned twins)."""
    text = (ROOT / "configs" / "zoos" / "eurosat_rgb_large.toml").read_text()
    text = re.sub(r"(?m)^n = \d+.*$", f"n = {per_point}", text)
    text = text[: text.index("[sparsify]")] + text[text.index("[resources]"):]
    keep = sorted({int(round(e)) for e in np.linspace(0, 15, epochs)})
    return text.replace("[population]\n", f"[population]\nkeep_epochs = {keep}\n", 1)


def _trajectory(i: int, overrides: dict, train, layout, epochs: list[int]) -> tuple[np.ndarray, dict]:
    """Weights that drift with training at a rate set by lr and optimizer, scaled by the
    init, shrunk by weight decay, marked by the activation; accuracy that follows them."""
    rng = np.random.default_rng(i)
    p = layout.num_params
    speed = (np.log10(train.lr) + 5) * (2.0 if train.optimizer == "adam" else 1.0)
    w0 = rng.standard_normal(p) * INIT_SCALE.get(overrides.get("init", "normal"), 0.1)
    drift = rng.standard_normal(p) * 0.03
    act = ACTIVATIONS.index(overrides.get("activation", "relu")) if "activation" in overrides else 0
    mark = np.zeros(p)
    mark[act::7] = 0.02
    e = np.asarray(epochs, float)
    shrink = 1 - np.clip(train.weight_decay * 50 * e / 15, 0, 0.5)
    weights = (w0[None] * shrink[:, None] + drift[None] * (speed * np.sqrt(e))[:, None] + mark[None]
               + rng.standard_normal((len(e), p)) * 0.01 * (1 + overrides.get("dropout", 0.0)))
    acc = 0.2 + 0.6 * (1 - np.exp(-speed * e / 12)) - 0.2 * overrides.get("dropout", 0.0)
    test = np.clip(acc + rng.normal(0, 0.02, len(e)), 0, 1)
    val, train_acc = np.clip(test + rng.normal(0, 0.01, len(e)), 0, 1), np.clip(test + 0.1 * e / 15, 0, 1)
    metrics = {"epoch": e, "test_acc": test, "val_acc": val, "train_acc": train_acc, "gap": train_acc - test,
               "train_loss": 2 - 2 * train_acc, "val_loss": 2 - 2 * val, "test_loss": 2 - 2 * test}
    return weights.astype(np.float32), metrics


def write_zoo(path: Path, per_point: int, epochs: int) -> Path:
    from eo_tasks.data import ModalityInfo, TaskInfo
    from zoo import ModelRecord, ZooWriter, build_plan, spec_from_text

    spec = spec_from_text(zoo_config(per_point, epochs), "benchmark zoo")
    rgb = ModalityInfo("rgb", "image", 3, ("B04", "B03", "B02"), (0.1, 0.1, 0.1), (1.0, 1.0, 1.0))
    task = TaskInfo("eurosat-rgb", tuple(f"c{k}" for k in range(10)), False, (rgb,), 32, "synthetic", True)
    plan = build_plan(spec, task, train_len=4000)
    kept = list(plan.spec.keep_epochs)
    with ZooWriter(path, plan, "x") as writer:
        for i, model in enumerate(plan.models):
            layout = plan.layouts[plan.arch_index[i]]
            weights, metrics = _trajectory(i, dict(model.overrides), model.train, layout, kept)
            writer.write(ModelRecord(index=i, status="done", epochs=kept, weights=weights, metrics=metrics,
                                     train_size=model.train_size, wall_time=1.0))
    return path


def with_embeddings(data, width: int, seed: int = 0, dim: int = 32):
    """``data`` plus a fixed random nonlinear projection of its weights as the embedding
    (``width`` = tokens x ``dim``) and its means per quarter of the tokens and overall as the
    pooled one."""
    from hyperrep.downstream import DownstreamData

    rng = np.random.default_rng(seed)
    w = data.weights
    w = (w - w.mean(axis=0)) / (w.std(axis=0) + 1e-6)
    proj = rng.standard_normal((w.shape[1], width)).astype(np.float32) / np.sqrt(w.shape[1])
    emb = np.tanh(w @ proj).astype(np.float32)
    tokens = emb.reshape(len(emb), width // dim, dim)
    quarters = [q.mean(axis=1) for q in np.array_split(tokens, 4, axis=1)]
    pooled = np.concatenate([tokens.mean(axis=1), *quarters], axis=1)
    return DownstreamData(data.rows, data.weights, data.layout, emb, list(data.notes), pooled)


def old_package(rev: str, folder: Path):
    """hyperrep/downstream at ``rev`` as the package ``downstream_old`` (imported from ``folder``)."""
    listing = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{rev}:hyperrep/downstream"],
                             capture_output=True, text=True, check=True).stdout.split()
    package = folder / "downstream_old"
    package.mkdir()
    for name in (n for n in listing if n.endswith(".py")):
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:hyperrep/downstream/{name}"],
                              capture_output=True, text=True, check=True).stdout
        (package / name).write_text(text.replace("hyperrep.downstream", "downstream_old"))
    sys.path.insert(0, str(folder))
    return importlib.import_module("downstream_old.evaluate")


def timed(label: str, fn) -> tuple[str, float, pd.DataFrame]:
    print(f"... {label}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    results = fn()
    seconds = time.perf_counter() - start
    print(f"    {seconds:.1f} s", file=sys.stderr, flush=True)
    return label, seconds, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-per-point", type=int, default=2, help="draws per grid point (60 points)")
    parser.add_argument("--epochs", type=int, default=8, help="checkpoints kept per model")
    parser.add_argument("--emb", type=int, default=1024, help="embedding width (a multiple of 32)")
    parser.add_argument("--old-rev", default=OLD_REV)
    parser.add_argument("--skip-old", action="store_true", help="time the new path only")
    parser.add_argument("--threaded", action="store_true",
                        help="also time one cell at a time on every core's threads (old and new): on a busy "
                             "machine OpenMP's barriers in gradient boosting can make that many times slower")
    parser.add_argument("--keep", type=Path, default=None, help="write the zoo here and keep it (reused if there)")
    args = parser.parse_args()

    from hyperrep.downstream import PredictConfig, available_cores, evaluate, load_data

    cores = available_cores()
    with tempfile.TemporaryDirectory() as tmp:
        zoo_path = args.keep or Path(tmp) / "zoo.h5"
        start = time.perf_counter()
        if not zoo_path.exists():
            write_zoo(zoo_path, args.models_per_point, args.epochs)
        data, _ = load_data(zoo_path)
        data = with_embeddings(data, args.emb)
        print(f"zoo ready in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        runs = []
        if not args.skip_old:
            old = old_package(args.old_rev, Path(tmp))
            old_data = old.DownstreamData(data.rows, data.weights, data.layout, data.embeddings, [], data.pooled)
            runs.append(timed("old, --threads 1", lambda: old.evaluate(old_data, threads=1).results))
            if args.threaded:
                runs.append(timed(f"old, {cores} threads", lambda: old.evaluate(old_data, threads=cores).results))
        runs.append(timed("new, --threads 1", lambda: evaluate(data, PredictConfig(threads=1)).results))
        if args.threaded:
            runs.append(timed(f"new, {cores} threads, 1 job",
                              lambda: evaluate(data, PredictConfig(threads=cores, jobs=1)).results))
        runs.append(timed(f"new, {cores} threads, {cores} jobs (default)",
                          lambda: evaluate(data, PredictConfig()).results))
    print(report(data, runs, args))


def report(data, runs: list[tuple[str, float, pd.DataFrame]], args: argparse.Namespace) -> str:
    models = data.rows["model"].nunique()
    widths = {"W": data.weights.shape[1], "emb": data.embeddings.shape[1], "pool(emb)": data.pooled.shape[1]}
    first = runs[0][2]
    lines = [
        f"SYNTHETIC zoo (trajectories, not trained models): {models} models, {len(data.rows)} checkpoints; "
        f"widths {widths}; {first['property'].nunique()} properties, {len(first)} cells "
        f"({int(first['seconds'].notna().sum())} fitted)",
        "",
        f"| path | seconds | ({runs[0][0]}) / this | ridge cells, s | gbt cells, s |",
        "|---|---|---|---|---|",
    ]
    base = runs[0][1]
    for label, seconds, res in runs:
        by = res.groupby("predictor")["seconds"].sum()
        lines.append(f"| {label} | {seconds:.1f} | {base / seconds:.1f}x | {by.get('ridge', 0):.1f} | "
                     f"{by.get('gbt', 0):.1f} |")
    last = runs[-1][2].dropna(subset=["seconds"]).sort_values("seconds", ascending=False)
    slow = ", ".join(f"{r.feature_set}·{r.predictor} {r.property} {r.seconds:.1f}" for r in last.head(8).itertuples())
    lines += ["", f"slowest cells of the last path, s: {slow}"]
    if not args.skip_old:
        new_1 = next(res for label, _, res in runs if label.startswith("new, --threads 1"))
        lines += ["", agreement(runs[0][2], new_1)]
    return "\n".join(lines)


def agreement(old: pd.DataFrame, new: pd.DataFrame) -> str:
    """How far the new path's scores are from the old ones, per predictor."""
    keys = ["feature_set", "predictor", "property"]
    both = old.merge(new, on=keys, suffixes=("_old", "_new"))
    parts = []
    for method, part in both.groupby("predictor"):
        r2 = (part["r2_new"] - part["r2_old"]).dropna()
        bal = (part["balanced_accuracy_new"] - part["balanced_accuracy_old"]).dropna()
        ran_old = int(part["seconds_old"].notna().sum())
        parts.append(f"{method}: {int(part['seconds_new'].notna().sum())} cells fitted (old {ran_old}); "
                     f"R² new - old: mean {r2.mean():+.3f}, largest |Δ| {r2.abs().max():.3f}; balanced accuracy "
                     f"new - old: mean {bal.mean():+.3f}, largest |Δ| {bal.abs().max():.3f}")
    return "agreement on the cells both ran: " + "; ".join(parts)


if __name__ == "__main__":
    main()
