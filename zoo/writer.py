"""The zoo's one writer (format and protocol: docs/zoo-format.md).

:class:`ZooWriter` is the only way anything writes a zoo file: the Ray driver and any other
producer (e.g. hyperrep's sampled zoos) alike. It holds the zoo's writer lock for as long
as it is open, creates the file complete when asked to (``zoo.create``), recovers a file
whose last writer was killed (``zoo.recovery``), and then only changes raw values in SWMR
mode, so readers can follow it and a killed writer leaves a file whose last flushed state
is intact. A model is written in two flushed steps: its data first, its status last, so a
model counts as finished only once everything it owns is on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from eo_tasks import ConfigError
from zoo.format import (ERROR_BYTES, FORMAT, FORMAT_VERSION, NODE_BYTES, STATUS_CODES, AlreadyWrittenError,
                        NotAZooError, UnsupportedVersionError, ZooBusyError, ZooFormatError)
from zoo.hdf5 import open_for_reading, read_superblock
from zoo.plan import ZooPlan
from zoo.record import ModelRecord

if TYPE_CHECKING:
    from zoo.lock import WriterLock

MODES = ("a", "w", "x")


def _fixed(text: str, size: int) -> bytes:
    """UTF-8 bytes cut to ``size`` without splitting a character."""
    return text.encode("utf-8")[:size].decode("utf-8", errors="ignore").encode("utf-8")


def read_identity(path: str | Path) -> dict[str, Any]:
    """format version, config hash and status counts of an existing zoo (any state)."""
    with open_for_reading(path, recovering=True) as f:
        if f.attrs.get("format") != FORMAT:
            raise NotAZooError(f"{path}: not a hyperzoo zoo file (no format={FORMAT!r} attribute)")
        status = f["models/status"][:]
        return {
            "format_version": int(f.attrs["format_version"]),
            "config_hash": str(f.attrs["config_hash"]),
            "pending": int((status == STATUS_CODES["pending"]).sum()),
            "num_models": int(f.attrs["num_models"]),
        }


class ZooWriter:
    """A zoo file open for writing: ``with ZooWriter(path, plan) as w: w.write(record)``.

    ``mode`` (as in ``h5py.File``): ``"a"`` continues the zoo at ``path``, creating it
    (every model pending) when there is none; ``"w"`` creates it, replacing any file there;
    ``"x"`` creates it and raises FileExistsError when a file is there. An existing file
    must have been made from the same config and layouts as ``plan``.

    ``run_info``: extra entries of this run's record in the ``runs`` attribute. ``lock``:
    the caller's :class:`zoo.lock.WriterLock` on ``path`` (e.g. held across a whole
    generation); without one the writer takes its own and raises ZooBusyError when another
    process holds it. ``pending`` lists the models still to be written, ``run`` is this
    run's number.
    """

    def __init__(self, path: str | Path, plan: ZooPlan, mode: str = "a", *, run_info: dict[str, Any] | None = None,
                 lock: WriterLock | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        from zoo.lock import WriterLock

        self.path = Path(path)
        self.plan = plan
        self._own_lock = WriterLock(path) if lock is None else None
        try:
            self._prepare(mode)
            self.file = self._open_append()
        except BaseException:
            self._release()
            raise
        try:
            self._check(plan)
            status = self.file["models/status"][:]
            self.pending = [int(i) for i in np.flatnonzero(status == STATUS_CODES["pending"])]
            runs = json.loads(self.file.attrs["runs"])
            self.run = len(runs) + 1
            runs.append({"run": self.run, "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                         "host": socket.gethostname(), "pid": os.getpid(), "todo": len(self.pending),
                         **(run_info or {})})
            self.file.attrs["runs"] = json.dumps(runs)
            self.file.swmr_mode = True
        except BaseException:
            self.file.close()
            self._release()
            raise
        self._ckpt = {int(e): k for k, e in enumerate(self.file["epochs"][:])}

    def _prepare(self, mode: str) -> None:
        """Create the file when ``mode`` asks for a new one (we hold the lock)."""
        from zoo.create import create

        if mode == "x" and self.path.exists():
            raise FileExistsError(f"{self.path} exists")
        if mode == "w" or not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            create(self.path, self.plan)

    def _open_append(self) -> h5py.File:
        from zoo.recovery import needs_recovery, recover

        if needs_recovery(self.path):  # we hold the writer lock: the mark is a killed writer's
            recover(self.path)
        try:
            return h5py.File(self.path, "a", libver="latest")
        except BlockingIOError as err:  # HDF5's own lock: a process outside this protocol has it open
            raise ZooBusyError(f"{self.path}: another process has this zoo open ({err})") from err
        except OSError as err:
            if read_superblock(self.path) is None:
                raise NotAZooError(f"{self.path}: not an HDF5 file ({err})") from err
            raise

    def _release(self) -> None:
        if self._own_lock is not None:
            self._own_lock.release()
            self._own_lock = None

    def _check(self, plan: ZooPlan) -> None:
        f = self.file
        if f.attrs.get("format") != FORMAT:
            raise NotAZooError(f"{self.path}: not a hyperzoo zoo file")
        if int(f.attrs["format_version"]) != FORMAT_VERSION:
            raise UnsupportedVersionError(f"{self.path}: zoo format version {f.attrs['format_version']}, this code "
                                          f"writes {FORMAT_VERSION}")
        if f.attrs["config_hash"] != plan.spec.config_hash:
            raise ConfigError(f"{self.path} was generated from a different config; pass --overwrite to replace it")
        stored = [f[f"architectures/{a}"].attrs["layout"] for a in range(len(f["architectures"]))]
        if stored != [layout.to_json() for layout in plan.layouts] or list(f["models/arch"][:]) != list(plan.arch_index):
            raise ZooFormatError(f"{self.path}: the model family now builds different layouts than the zoo holds; "
                                 "generate into a new file")

    # ---- writing ------------------------------------------------------------------
    def write(self, record: ModelRecord) -> None:
        """Store one finished model; its status is written (and flushed) last, so a model whose
        data did not reach the disk stays pending and is trained again by the next run."""
        i = record.index
        if self.file["models/status"][i] != STATUS_CODES["pending"]:
            raise AlreadyWrittenError(f"model {i} is already finished in {self.path}; refusing to write it twice")
        try:
            self._write(record)
        except (OSError, RuntimeError) as err:
            raise OSError(f"{self.path}: could not write model {i} ({err}); models finished "
                          "before it are kept, free space and rerun the same command to continue") from err

    def _check_space(self, record: ModelRecord) -> None:
        # HDF5 cannot close a file whose metadata it failed to flush, so a full disk is caught
        # here, before the model touches the file, whenever the file system says so in time.
        need = 4 * (0 if record.weights is None else record.weights.size) + (1 << 20)
        free = shutil.disk_usage(self.path.parent).free
        if free < need:
            raise OSError(f"only {free} bytes free next to the zoo, model {record.index} needs about {need}")

    def _write(self, record: ModelRecord) -> None:
        self._check_space(record)
        f, i = self.file, record.index
        p = self.plan.layouts[self.plan.arch_index[i]].num_params
        c = len(self._ckpt)
        if record.weights is not None and record.epochs:
            rows = [self._ckpt[e] for e in record.epochs]
            if rows == list(range(len(rows))):
                f["weights"][i, : len(rows), :p] = record.weights
            else:
                for k, row in enumerate(rows):
                    f["weights"][i, row, :p] = record.weights[k]
            self._metrics(f["metrics"], i, rows, c, record.metrics, record.weights)
        if record.twin_weights is not None and "twins" in f:
            r = record.twin_weights.shape[0]
            f["twins/weights"][i, :, :p] = record.twin_weights
            self._metrics(f["twins/metrics"], i, list(range(r)), r, record.twin_metrics, record.twin_weights)
        f.flush()
        t = f["models"]
        t["error"][i] = _fixed(record.error, ERROR_BYTES)
        t["wall_time"][i] = record.wall_time
        t["finished_at"][i] = time.time()
        t["run"][i] = self.run
        t["node"][i] = _fixed(record.node, NODE_BYTES)
        if "code" in t:  # zoos written before the column existed lack it
            t["code"][i] = _fixed(record.code, NODE_BYTES)
        t["status"][i] = STATUS_CODES[record.status]
        f.flush()

    @staticmethod
    def _metrics(group: h5py.Group, i: int, rows: list[int], width: int, values: dict[str, np.ndarray],
                 weights: np.ndarray) -> None:
        with np.errstate(over="ignore", invalid="ignore"):
            stats = {
                "weight_l2": np.sqrt((weights.astype(np.float64) ** 2).sum(axis=1)),
                "weight_max_abs": np.abs(weights).max(axis=1).astype(np.float64),
            }
        stats = {k: np.where(np.isfinite(weights).all(axis=1), v, np.inf) for k, v in stats.items()}
        for name in group:
            src = stats.get(name, values.get(name))
            if src is None:
                continue
            row = np.full(width, np.nan)
            row[rows] = src
            group[name][i] = row

    def close(self, failing: bool = False) -> None:
        """Close the file; with ``failing`` (an error is already on its way up) a close that
        cannot flush either is not allowed to hide that error: the next run recovers the file."""
        try:
            if self.file.id.valid:
                self.file.close()
        except (OSError, RuntimeError):
            if not failing:
                raise
        finally:
            self._release()

    def __enter__(self) -> ZooWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(failing=exc_type is not None)
