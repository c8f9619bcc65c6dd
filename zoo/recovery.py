"""Crash recovery: make a zoo whose writer was killed (or ran out of disk) writable again;
and snapshots: a consistent copy of a zoo that a live writer is still growing.

Only a writer holding the zoo's :class:`~zoo.lock.WriterLock` calls :func:`recover`: holding
the lock proves that no live writer has the file, so an "open for writing" mark is a dead
one's. :func:`snapshot` needs no lock: it only reads, through SWMR, what was flushed.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from eo_tasks import ConfigError
from zoo.format import FORMAT, STATUS_CODES, TABLE_COLUMNS, NotAZooError
from zoo.hdf5 import is_truncated, marked_open_for_writing


def needs_recovery(path: str | Path) -> bool:
    """HDF5 refuses to open such a file for writing: a killed writer's mark, or truncation."""
    return marked_open_for_writing(path) or is_truncated(path)


def recover(path: str | Path) -> None:
    """Replace ``path`` by a fresh file holding its last flushed state.

    A killed SWMR writer leaves the superblock marked "open for writing", and one that hit a
    full disk can leave a stored end of file beyond the real one; HDF5 refuses to open either
    normally. Everything of a finished model was flushed before its status, so the table,
    the attributes and the rows of finished models are copied through a SWMR reader into a
    fresh file that then replaces the old one; rows of pending models (possibly half written)
    are left at their fill value and trained again.
    """
    path = Path(path)
    _write_flushed(path, path, path.with_name(path.name + ".recovering"), "nothing to recover")


AT_FINISH = TABLE_COLUMNS[TABLE_COLUMNS.index("status"):]  # what a pending row has at its fill value


def snapshot(path: str | Path, out: str | Path, overwrite: bool = False, first: int | None = None) -> Path:
    """Copy the zoo's last flushed state (its finished models; pending rows left at their fill
    value) to ``out``, which is written whole or not at all.

    ``first``: keep models ``0 .. first - 1`` only, which must all have finished; the later
    rows are left as if pending. The same ``first`` names the same members (seeds,
    hyperparameters, split) whenever it is taken; their weights are bit-identical where they
    were trained on the same machine and install.

    The use: analyses of a zoo that is still being generated. A growing zoo's train/val/test
    split changes with every finished model (``Zoo.select`` splits the finished ones), so a
    hyper-representation trained on it now could later be scored on models it trained on;
    a snapshot fixes the models. Running ``zoo generate`` on the snapshot would resume it.
    """
    path, out = Path(path), Path(out)
    if out.resolve() == path.resolve():
        raise ValueError(f"{out}: a snapshot must go to another file than the zoo it copies")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists (pass overwrite to replace it)")
    _write_flushed(path, out, out.with_name(out.name + ".partial"), "nothing to copy", first)
    return out


def _write_flushed(path: Path, out: Path, tmp: Path, why: str, first: int | None = None) -> None:
    """``path``'s flushed state, read through SWMR, written to ``tmp`` and renamed to ``out``."""
    with h5py.File(path, "r", libver="latest", swmr=True, locking=False) as src:
        if src.attrs.get("format") != FORMAT:
            raise NotAZooError(f"{path}: not a hyperzoo zoo file, {why}")
        rows = _kept(path, src, first)  # before anything is written: a refused snapshot leaves no file
        with h5py.File(tmp, "w", libver="latest") as dst:
            _copy_flushed(src, dst, rows)
    os.replace(tmp, out)


def _kept(path: Path, src: h5py.File, first: int | None) -> np.ndarray:
    """The rows to copy: every finished model, or with ``first`` the first ``first`` models,
    all of which must have finished."""
    status = src["models/status"][:]
    finished = np.flatnonzero(status != STATUS_CODES["pending"])
    if first is None:
        return finished
    if not 1 <= first <= len(status):
        raise ConfigError(f"{path}: first (--first) must be between 1 and its {len(status)} models, got {first}")
    missing = np.flatnonzero(status[:first] == STATUS_CODES["pending"])
    if missing.size:
        raise ConfigError(f"{path}: {missing.size} of its first {first} models have not finished yet "
                         f"(the first is model {missing[0]}); take the snapshot once they have")
    return finished[finished < first]


def _copy_flushed(src: h5py.File, dst: h5py.File, finished: np.ndarray) -> None:
    """The attributes, every group, the static datasets and the rows of ``finished``; the
    model table's at-finish columns of any other row are left as a pending row has them."""
    num_models = int(src.attrs["num_models"])

    def copy(name: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Group):
            dst.require_group(name).attrs.update(dict(obj.attrs))
            return
        if name.startswith("models/") or obj.ndim == 0 or obj.shape[0] != num_models:
            src.copy(obj, dst, name)
            return
        new = dst.create_dataset_like(name, obj)
        new.attrs.update(dict(obj.attrs))
        for i in finished:
            new[i] = obj[i]

    src.visititems(copy)
    dst.attrs.update(dict(src.attrs))
    # the table was copied after ``finished`` was read: a live writer may have finished more
    # models since, whose rows were not copied; they, and models past ``first``, stay pending
    dropped = np.setdiff1d(np.flatnonzero(dst["models/status"][:] != STATUS_CODES["pending"]), finished)
    for column in AT_FINISH:
        if dropped.size and f"models/{column}" in dst:
            ds = dst[f"models/{column}"]
            for i in dropped:
                ds[i] = ds.fillvalue
