"""Choosing a zoo's checkpoints for learning on weights: by model status, architecture(s),
kept epoch and a bound on the weights, with the models split train/val/test.

Models, never single checkpoints, are split, so no model's checkpoints cross splits. The
split depends only on the eligible models (status and architecture), the fractions and
the seed, not on the epoch or weight filters, so every consumer of a zoo that selects the
same models with the same seed sees the same split.

Several architectures (``arch="all"`` or a sequence of ids) are split stratified: each
architecture's models are split on their own with the same fractions and seed, so an
architecture's split is the one it gets when selected alone, and every architecture has
models in every split that one architecture alone would have.

Checkpoints are chosen by epoch: a list of kept epochs, or a selection that holds for any zoo
(:func:`resolve_epochs`): ``"all"`` (every kept checkpoint), ``"last:K"`` (the last K kept) or
``"every:K"`` (every K-th kept checkpoint from the first, the last always included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from eo_tasks import ConfigError
from eo_tasks.data import DEFAULT_FRACTIONS, SPLITS
from eo_tasks.models import Layout
from zoo.format import MultipleArchitecturesError

if TYPE_CHECKING:
    from zoo.reader import Zoo


def split_models(models: np.ndarray, fractions: Sequence[float], seed: int) -> dict[str, np.ndarray]:
    """Seeded split of model ids with the dataset splits' sizing (largest remainder, and at
    least one model in every split with a positive fraction, so a 4-model zoo splits 2/1/1)."""
    from eo_tasks.data import split_sizes

    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ConfigError(f"fractions must be three non-negative numbers summing to 1, got {tuple(fractions)}")
    order = np.random.default_rng(seed).permutation(np.asarray(models, dtype=np.int64))
    n_train, n_val, _ = split_sizes(len(order), fractions)
    return {
        "train": np.sort(order[:n_train]),
        "val": np.sort(order[n_train : n_train + n_val]),
        "test": np.sort(order[n_train + n_val :]),
    }


@dataclass(frozen=True)
class Selection:
    """The outcome of :meth:`zoo.Zoo.select`.

    ``archs``: the selected architectures (ids into ``Zoo.layouts``, sorted) and ``layouts``
    their layouts; ``models``: the eligible models (status and architecture), sorted;
    ``splits``: them split by model (stratified per architecture); ``checkpoints``: one row
    per selected checkpoint of those models, in (model, checkpoint) order, with ``model,
    checkpoint, split, arch, epoch`` and every metric.
    """

    archs: tuple[int, ...]
    layouts: dict[int, Layout]
    models: np.ndarray
    splits: dict[str, np.ndarray]
    checkpoints: pd.DataFrame

    def _one(self) -> int:
        if len(self.archs) != 1:
            raise MultipleArchitecturesError(f"this selection holds architectures {list(self.archs)}; "
                                             "use archs / layouts[arch]")
        return self.archs[0]

    @property
    def arch(self) -> int:
        """The architecture of a one-architecture selection (MultipleArchitecturesError otherwise)."""
        return self._one()

    @property
    def layout(self) -> Layout:
        """The layout of a one-architecture selection (MultipleArchitecturesError otherwise)."""
        return self.layouts[self._one()]

    def split_of(self, model: int) -> str:
        return next(s for s, ids in self.splits.items() if int(model) in ids)


EPOCH_SELECTIONS = ('"all"', '"last:K"', '"every:K"')


def parse_epoch_selection(text: str, where: str = "epochs") -> tuple[str, int]:
    """``"all"`` -> ("all", 0); ``"last:K"`` / ``"every:K"`` -> (kind, K); a ConfigError for
    anything else."""
    kind, sep, count = str(text).partition(":")
    if kind == "all" and not sep:
        return "all", 0
    if kind in ("last", "every") and sep and count.isdigit() and int(count) >= 1:
        return kind, int(count)
    raise ConfigError(f"{where}: expected a list of kept epochs or one of {', '.join(EPOCH_SELECTIONS)} "
                      f"(K an integer >= 1), got {text!r}")


def resolve_epochs(epochs: Sequence[int] | str, kept: Sequence[int], where: str = "this zoo") -> list[int]:
    """The kept epochs that ``epochs`` selects: a list must name kept epochs only; ``"all"``,
    ``"last:K"`` and ``"every:K"`` are resolved against ``kept`` (ascending), so one config
    serves every zoo however many checkpoints it kept."""
    kept = sorted(int(e) for e in kept)
    if isinstance(epochs, str):
        kind, k = parse_epoch_selection(epochs)
        if kind == "all":
            return kept
        if kind == "last":
            return kept[-k:]
        chosen = kept[::k]
        return chosen + ([kept[-1]] if kept and chosen[-1] != kept[-1] else [])
    unknown = sorted(set(int(e) for e in epochs) - set(kept))
    if unknown:
        raise ConfigError(f"epochs {unknown} are not kept in {where}; kept: {kept} (a selection such as "
                          f"{', '.join(EPOCH_SELECTIONS)} holds for any zoo)")
    return sorted(set(int(e) for e in epochs))


def select(zoo: Zoo, *, status: Sequence[str] = ("done",), arch: int | Sequence[int] | Literal["all"] | None = None,
           epochs: Sequence[int] | str | None = None, max_abs: float | None = 1e3,
           fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0) -> Selection:
    table, metrics, kept_epochs = zoo.table, zoo.metrics, zoo.epochs
    eligible = table.index[table["status"].isin(list(status))].to_numpy()
    archs = table["arch"].to_numpy()
    used = sorted(set(archs[eligible].tolist()))
    if arch is None:
        if len(used) > 1:
            raise MultipleArchitecturesError(f"{zoo.path}: the selected models use architectures {used}; pass arch=")
        wanted = [used[0] if used else 0]
    elif isinstance(arch, str):
        if arch != "all":
            raise ConfigError(f"arch must be an architecture index, a sequence of them or 'all', got {arch!r}")
        wanted = used or [0]
    else:
        wanted = sorted({int(a) for a in np.atleast_1d(np.asarray(arch, dtype=np.int64)).tolist()})
    unknown = [a for a in wanted if not 0 <= a < len(zoo.layouts)]
    if unknown or not wanted:
        raise ConfigError(f"{zoo.path}: architectures {unknown or wanted} are not in this zoo "
                          f"(it has {len(zoo.layouts)}: 0..{len(zoo.layouts) - 1})")
    models = np.sort(eligible[np.isin(archs[eligible], wanted)])
    # stratified: each architecture's models split alone (one architecture: today's split)
    parts = [split_models(models[archs[models] == a], fractions, seed) for a in wanted]
    splits = {s: np.sort(np.concatenate([p[s] for p in parts])) for s in SPLITS}
    rows = metrics[metrics["model"].isin(models)]
    if epochs is not None:
        rows = rows[rows["epoch"].isin(resolve_epochs(epochs, kept_epochs.tolist(), str(zoo.path)))]
    bound = np.inf if max_abs is None else max_abs
    rows = rows[np.isfinite(rows["weight_max_abs"]) & (rows["weight_max_abs"] <= bound)].reset_index(drop=True)
    split_of = {int(m): s for s in SPLITS for m in splits[s]}
    rows.insert(2, "split", rows["model"].map(split_of))
    rows.insert(3, "arch", archs[rows["model"].to_numpy(dtype=np.int64)].astype(np.int64))
    return Selection(tuple(wanted), {a: zoo.layouts[a] for a in wanted}, models, splits, rows)
