"""Train/val/test splits: published split files when a dataset ships them, else a
seeded stratified split that depends only on the sample keys, never on listing order."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eo_tasks.data.errors import DataError

SPLITS = ("train", "val", "test")
# the share of samples (or models) in each of SPLITS when a dataset ships no split files
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise DataError(f"split {split!r}: expected one of {list(SPLITS)}")
    return split


def split_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    """Sizes summing to ``n``: largest remainder, and at least one sample for every
    positive fraction when ``n`` allows it (so tiny datasets still get a val/test)."""
    raw = np.asarray(fractions, dtype=float) * n
    sizes = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - sizes), kind="stable")[: n - int(sizes.sum())]:
        sizes[i] += 1
    positive = [i for i, f in enumerate(fractions) if f > 0]
    if n >= len(positive):
        for i in positive:
            if sizes[i] == 0:
                sizes[int(np.argmax(sizes))] -= 1
                sizes[i] = 1
    return sizes.tolist()


def stratified_split(
    keys: Sequence[str], strata: Sequence[int], seed: int, fractions: Sequence[float] = DEFAULT_FRACTIONS
) -> dict[str, np.ndarray]:
    """Indices into ``keys`` for each of train/val/test.

    Every stratum is shuffled on its own and its members are spread evenly over
    [0, 1); cutting the merged order at the global split sizes then gives each
    stratum its share to within one sample, while the overall sizes stay exact.
    Keys are sorted first, so the result depends only on (keys, strata, seed).
    """
    keys_arr = np.asarray(keys, dtype=object)
    strata_arr = np.asarray(strata)
    n = len(keys_arr)
    if len(set(keys_arr.tolist())) != n:
        raise DataError("stratified split: sample keys are not unique")
    order = np.array(sorted(range(n), key=lambda i: keys_arr[i]), dtype=np.int64)
    rng = np.random.default_rng(seed)
    position = np.empty(n)
    for stratum in sorted(set(strata_arr.tolist())):
        members = order[strata_arr[order] == stratum]
        rank = rng.permutation(len(members))
        position[members] = (rank + 0.5) / len(members)
    tie = np.empty(n)
    tie[order] = rng.random(n)
    merged = np.lexsort((tie, position))
    train, val, _ = split_sizes(n, fractions)
    parts = np.split(merged, [train, train + val])
    return {name: np.sort(part) for name, part in zip(SPLITS, parts)}


def find_split_files(folders: Sequence[Path], pattern: str) -> dict[str, Path] | None:
    """The three split files ``pattern.format(split=...)`` from the first folder that has
    any of them; None when none has any. A partial set is an error, not a silent fallback."""
    for folder in folders:
        found = {s: folder / pattern.format(split=s) for s in SPLITS}
        present = [s for s, p in found.items() if p.is_file()]
        if present and len(present) < len(SPLITS):
            missing = [str(found[s]) for s in SPLITS if s not in present]
            raise DataError(f"{folder}: has split file(s) for {present} but not {missing}; provide all three or none")
        if present:
            return found
    return None


def split_from_files(
    folders: Sequence[Path], pattern: str, ids: Sequence[str], split: str
) -> np.ndarray | None:
    """Indices into ``ids`` of ``split``'s ids in the split files ``pattern`` from the first of
    ``folders`` that has them (see :func:`find_split_files`); None when none has any."""
    files = find_split_files(folders, pattern)
    if files is None:
        return None
    wanted = set(read_id_list(files[split])) - {"patch_id"}
    return np.array([i for i, pid in enumerate(ids) if pid in wanted], dtype=np.int64)


def read_id_list(path: Path) -> list[str]:
    """Non-empty stripped lines (or first CSV fields) of a header-less list of ids/file names."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read split file ({err})") from err
    return [line.split(",")[0].strip() for line in lines if line.strip()]


def select(indices: np.ndarray, split: str, source: str) -> np.ndarray:
    if len(indices) == 0:
        raise DataError(f"split {split!r} of {source} is empty")
    return indices
