"""Rows for property prediction from a zoo file and (optionally) a hyper-representation run.

The checkpoints, their filters and the split by model come from the zoo's own
:meth:`zoo.Zoo.select` (seeded split of models, ``DEFAULT_FRACTIONS``), so the split is the
one the zoo hands to every consumer, and one split serves every feature set. Given a
run, models are selected and split exactly as the run's ``[data]`` section selected them
for training: the test models here are the models the hyper-representation held out,
and its embedding of them is not a memorised one.

A zoo of several architectures (e.g. one per fusion mode) is read whole: the models of
every architecture, split stratified per architecture (``Zoo.select(arch="all")``), with
an ``arch`` column; the weights are zero-padded to the widest architecture, s(W) is taken
per layer role, and a run's embeddings enter as ``HyperRep.pool`` of each architecture's
embeddings (the same width for all). Where the zoo flags cloudy test patches, the rows
gain ``test_acc_cloudy``, ``test_acc_clear`` and ``cloudy_drop`` (clear minus cloudy).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from eo_tasks import ConfigError
from eo_tasks.data import DEFAULT_FRACTIONS, SPLITS
from hyperrep.downstream.config import Rows
from hyperrep.downstream.evaluation import DownstreamData
from hyperrep.downstream.properties import HYPERPARAMETERS

METRIC_COLUMNS = ("test_acc", "val_acc", "train_acc", "gap", "test_loss", "test_map", "test_acc_cloudy",
                  "test_acc_clear")


def _check_run_split(run_dir: Path, rows: pd.DataFrame, notes: list[str], split_file: str = "",
                     run_splits: dict[str, np.ndarray] | None = None) -> None:
    """Compare our split with the one the run recorded; a mismatch would leak models. With a
    ``split_file``, a run that recorded no split is checked against ``run_splits``, its seeded
    split recomputed from the zoo: the file's test models must not be among the run's
    training or validation models either way."""
    meta_path = run_dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    ours = {s: set(rows.loc[rows["split"] == s, "model"].tolist()) for s in SPLITS}
    recorded = meta.get("split_models")  # {split: [model ids]}, when the run stores them
    where = meta_path
    if not isinstance(recorded, dict) and split_file and run_splits is not None:
        recorded = {s: [int(m) for m in ids] for s, ids in run_splits.items()}
        where = run_dir / "config.toml"  # its [data] split_seed made that split
    if isinstance(recorded, dict):
        seen_in_training = set(recorded.get("train", [])) | set(recorded.get("val", []))
        leaked = sorted(ours["test"] & seen_in_training)
        if leaked and split_file:
            raise ConfigError(
                f"{where}: the run trained on {len(leaked)} of the test models of the split file {split_file} "
                f"(rows {leaked[:10]}{' ...' if len(leaked) > 10 else ''} are in the run's training/validation "
                "split); use a run trained without them, or --no-run for the weight baselines"
            )
        if leaked:
            raise ConfigError(
                f"{meta_path}: test models {leaked} were in the run's training/validation split; "
                "pass the run's split seed (or none) so the embedding is scored on held-out models"
            )
        return
    counts = meta.get("models")
    if isinstance(counts, dict) and any(int(counts.get(s, -1)) != len(ours[s]) for s in ours):
        here = {s: len(m) for s, m in ours.items()}
        notes.append(f"the run split its models {counts}, this report {here}: "
                     "the run may have been trained on some of the test models")


def _file_split(path: str, table: pd.DataFrame, eligible: np.ndarray, notes: list[str]) -> dict[str, np.ndarray]:
    """The split of the file ``path`` over the ``eligible`` models (the zoo's selection):
    listed models that are not eligible and eligible models that are not listed are left
    out, each with a note."""
    from zoo import read_split_file

    listed = read_split_file(path, table)
    ok = set(int(m) for m in eligible)
    in_file = set(int(m) for ids in listed.values() for m in ids)
    unselected = sorted(in_file - ok)
    if unselected:
        notes.append(f"split file {path}: {len(unselected)} listed models are not among the selected ones (status, "
                     f"architecture) and are left out: rows {unselected[:10]}{' ...' if len(unselected) > 10 else ''}")
    unlisted = sorted(ok - in_file)
    if unlisted:
        notes.append(f"split file {path} does not list {len(unlisted)} of the {len(ok)} selected models: dropped")
    splits = {s: np.asarray([m for m in ids.tolist() if m in ok], dtype=np.int64) for s, ids in listed.items()}
    empty = [s for s in ("train", "test") if not len(splits[s])]
    if empty:
        raise ConfigError(f"{path}: no selected model in {' and '.join(repr(s) for s in empty)} "
                          f"({ {s: len(ids) for s, ids in splits.items()} } selected models per split); "
                          "expected training and test models")
    return splits


def load_data(
    zoo_path: str | Path,
    run_dir: str | Path | None = None,
    selection: Rows = Rows(),
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    device: str = "cpu",
) -> tuple[DownstreamData, dict[str, str]]:
    """Every kept checkpoint of the zoo's selected models with its properties, weights and
    (given ``run_dir``) embedding; and a dict describing where they came from.

    With a run, the models are selected (status, max_abs, architectures) and split (seed)
    as the run's ``[data]`` section selected them for training; ``selection.split_seed`` overrides
    the seed. Without one: finished models of every architecture, ``|w| <= 1e3``, seed
    ``selection.split_seed`` or 0. ``selection``: which checkpoints, and how many views each
    embedding averages (:class:`~hyperrep.downstream.config.Rows`). ``selection.split_file``
    replaces the seeded split by the file's (:func:`zoo.read_split_file`), applied after the
    selection: models it does not list are dropped with a note, and with a run none of its
    test models may be one the run trained or validated on.
    """
    epochs, min_epoch, split_seed, views = (selection.epochs, selection.min_epoch, selection.split_seed,
                                            selection.views)
    split_file = selection.split_file
    if split_file and split_seed is not None:
        raise ConfigError(f"split file {split_file}: cannot be combined with split seed {split_seed}; "
                          "the file gives the split")
    if selection.final_only and epochs is not None:
        raise ConfigError(f"final checkpoints only: cannot be combined with epochs {list(epochs)}")
    from zoo import Zoo

    zoo_path = Path(zoo_path)
    run = None if run_dir is None else Path(run_dir)
    rep = None
    status: tuple[str, ...] = ("done",)
    max_abs: float | None = 1e3
    seed, arch = 0, "all"
    run_arch: dict[int, int] = {}  # zoo arch -> the run's id of it
    notes: list[str] = []
    with Zoo.open(zoo_path) as zoo:
        table, metrics = zoo.table, zoo.metrics
        if run is not None:
            from hyperrep.run import HyperRep

            rep = HyperRep.load(run, device=device)
            cfg = rep.config.data
            status, max_abs, seed = tuple(cfg.status), cfg.max_abs, cfg.split_seed
            run_arch = {zoo.arch_of(rep.layouts[a]): a for a in rep.archs}
            arch = sorted(run_arch)
        if split_seed is not None:
            if rep is not None and split_seed != seed:
                notes.append(f"split seed {split_seed} differs from the run's ({seed}): the embedding may have been "
                             "trained on some of the test models")
            seed = split_seed
        chosen = zoo.select(status=status, arch=arch, epochs=None if epochs is None else list(epochs),
                            max_abs=max_abs, fractions=tuple(fractions), seed=seed)
        layouts = dict(chosen.layouts)
        splits = chosen.splits
        # the run's own split, recomputed (a run that recorded none is checked against it)
        run_splits = chosen.splits if rep is not None and split_seed is None else None
        if split_file:
            splits = _file_split(split_file, table, chosen.models, notes)
        split_of = {int(m): s for s, models in splits.items() for m in models.tolist()}
        picked = chosen.checkpoints[(chosen.checkpoints["epoch"] >= min_epoch)
                                    & chosen.checkpoints["model"].isin(list(split_of))]
        if selection.final_only:  # each model's last stored checkpoint, not the zoo's last kept epoch
            last = metrics.groupby("model")["epoch"].max()
            final = picked["epoch"].to_numpy() == picked["model"].map(last).to_numpy()
            lost = sorted(set(split_of) - set(picked.loc[final, "model"].tolist()))
            if lost:
                notes.append(f"{len(lost)} models have no usable final checkpoint (non-finite, |w| > {max_abs} or "
                             f"before epoch {min_epoch}) and are left out")
            picked = picked[final]
        index = picked[["model", "checkpoint"]].to_numpy(dtype=np.int64)
        archs = picked["arch"].to_numpy(dtype=np.int64)
        weights = _weights(zoo, picked, layouts)
        # each row's eval spec: a run with function tokens runs the models (the activation is not in the layout)
        specs = {int(m): zoo.spec(int(m)) for m in set(picked["model"].tolist())} \
            if rep is not None and rep.reader is not None else None
    if len(index) == 0:
        raise ConfigError(f"{zoo_path}: no checkpoints match (status {list(status)}, epochs={epochs}, "
                         f"min_epoch={min_epoch})")
    keys = pd.DataFrame(index, columns=["model", "checkpoint"])
    metric_cols = ["model", "checkpoint", "epoch", *[c for c in METRIC_COLUMNS if c in metrics]]
    rows = keys.merge(metrics[metric_cols], on=["model", "checkpoint"], how="left", validate="one_to_one")
    if "test_acc_cloudy" in rows and "test_acc_clear" in rows:
        rows["cloudy_drop"] = rows["test_acc_clear"] - rows["test_acc_cloudy"]
    table = _with_fusion_mode(table)
    hyper = [p.name for p in HYPERPARAMETERS if p.name in table] + [c for c in ("name", "seed", "num_params")
                                                                     if c in table]
    rows = rows.merge(table[hyper], left_on="model", right_index=True, how="left")
    rows.insert(3, "split", rows["model"].map(split_of))
    rows.insert(4, "arch", archs)
    kept = ("each model's last stored checkpoint" if selection.final_only else
            "all kept epochs" if epochs is None else f"epochs {list(epochs)}")
    sources = {"zoo": str(zoo_path), "checkpoints": kept + (f", epoch >= {min_epoch}" if min_epoch else ""),
               "models": f"status in {list(status)}"}
    if split_file:
        counts = {s: int(rows.loc[rows["split"] == s, "model"].nunique()) for s in SPLITS}
        sources["split"] = (f"from the file {split_file}: {counts['train']} / {counts['val']} / {counts['test']} "
                            "train / validation / test models")
    else:
        sources["split seed"] = str(seed)
    mixed = len(layouts) > 1
    if mixed:
        sources["architectures"] = (f"{len(layouts)} ({_arch_names(rows)}), split stratified per architecture; "
                                    "s(W) per layer role, raw W and per-token embeddings n/a")
    embeddings = pooled = None
    if rep is not None and run is not None:
        row_specs = None if specs is None else [specs[int(m)] for m in rows["model"]]
        embeddings, pooled = _embed(rep, weights, archs, layouts, run_arch, views, row_specs)
        sources["run"] = str(run)
        if views > 1:
            sources["embedding"] = (f"mean over {views} views of each checkpoint: as given and {views - 1} random "
                                    "neuron permutations (seed 0)")
        _check_run_split(run, rows, notes, split_file, run_splits)
    probes = None
    if selection.probes:
        from hyperrep.downstream.probing import ProbeConfig, probe_set, responses

        probe_inputs = probe_set(zoo_path, ProbeConfig(selection.probes, selection.probe_seed, selection.probe_source,
                                                       selection.data_root))
        probes = responses(zoo_path, rows["model"].to_numpy(), weights, probe_inputs)
        sources["probes"] = probe_inputs.description
    if not mixed:
        return DownstreamData(rows, weights, next(iter(layouts.values())), embeddings, notes, pooled,
                              probes=probes, zoo=str(zoo_path)), sources
    return DownstreamData(rows, weights, None, None, notes, pooled, layouts, probes=probes, zoo=str(zoo_path)), sources


def _weights(zoo, picked: pd.DataFrame, layouts: dict) -> np.ndarray:
    """``[N, P]`` weights of the picked checkpoints; zero-padded to the widest architecture."""
    width = max(layout.num_params for layout in layouts.values())
    if len(layouts) == 1:
        return zoo.weights_many(picked["model"], picked["epoch"]) if len(picked) else np.zeros((0, width), np.float32)
    out = np.zeros((len(picked), width), np.float32)
    for i, (m, e) in enumerate(zip(picked["model"].tolist(), picked["epoch"].tolist())):
        w = zoo.weights(int(m), int(e))
        out[i, : w.size] = w
    return out


def _embed(rep, weights: np.ndarray, archs: np.ndarray, layouts: dict, run_arch: dict[int, int], views: int = 1,
           specs: list | None = None):
    """(per-token embeddings or None for several architectures, pooled embeddings) of every row;
    ``specs``: each row's model spec (runs with function tokens run the models)."""
    if len(layouts) == 1:
        (zoo_arch,) = layouts
        embeddings = rep.embed(weights, arch=run_arch[zoo_arch], views=views, spec=specs)
        return embeddings, rep.pool(embeddings, arch=run_arch[zoo_arch])
    pooled = np.zeros((len(weights), rep.pooled_dim), np.float32)
    for a, layout in layouts.items():
        rows = np.flatnonzero(archs == a)
        if len(rows):
            spec = None if specs is None else [specs[i] for i in rows]
            emb = rep.embed(weights[rows, : layout.num_params], arch=run_arch[a], views=views, spec=spec)
            pooled[rows] = rep.pool(emb, arch=run_arch[a])
    return None, pooled


def _with_fusion_mode(table: pd.DataFrame) -> pd.DataFrame:
    """The model table with ``fusion_mode``: the fusion column, ``late_shared`` for late fusion
    with a shared backbone (read from each model's spec)."""
    if "fusion" not in table or "spec" not in table:
        return table
    shared = [bool(json.loads(text).get("arch", {}).get("shared_backbone", False)) if text else False
              for text in table["spec"]]
    table = table.copy()
    table["fusion_mode"] = np.where(shared, table["fusion"].astype(str) + "_shared", table["fusion"].astype(str))
    return table


def _arch_names(rows: pd.DataFrame) -> str:
    col = "fusion_mode" if "fusion_mode" in rows else "fusion" if "fusion" in rows else None
    per = rows.drop_duplicates("arch").set_index("arch")
    return ", ".join(f"{a}: {per.loc[a, col]}" if col else str(a) for a in sorted(per.index))
