"""The zoo's HDF5 writer (format: docs/zoo-format.md). Only the driver writes.

The file is created complete (every dataset preallocated, static columns filled) under a
temporary name and renamed into place, then reopened in SWMR mode; from then on only
raw values change, so readers can follow the run and a killed writer leaves a file whose
last flushed state is intact. A model is written in two flushed steps: its data first,
its status last, so a model counts as finished only once everything it owns is on disk.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import platform
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from eo_tasks.config import ConfigError, to_dict
from zoo.plan import ZooPlan, train_config_json
from zoo.worker import MemberResult

FORMAT = "hyperzoo.zoo"
FORMAT_VERSION = 1
STATUS_CODES = {"pending": 0, "done": 1, "failed": 2, "diverged": 3}
STATUS_NAMES = {v: k for k, v in STATUS_CODES.items()}
FINISHED = ("done", "failed", "diverged")
ERROR_BYTES = 2048  # error text is fixed-length (SWMR cannot grow variable-length data)
NODE_BYTES = 64
ROW_CHUNK = 256
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
# /models columns in the order the table shows them
TABLE_COLUMNS = ("name", "arch", "num_params", "seed", "lr", "weight_decay", "momentum", "optimizer", "batch_size",
                 "epochs", "activation", "init", "dropout", "fusion", "train_size", "overrides", "spec",
                 "train_config", "status", "error", "wall_time", "finished_at", "run", "node")


class ZooBusyError(RuntimeError):
    """Another process holds the zoo file open for writing."""


class WriterLock:
    """An exclusive lock on ``<zoo>.lock`` held by the zoo's one writer.

    HDF5's own lock is no guard here: a SWMR writer drops it so that readers can open
    the file. The OS releases this lock when its process dies, however it dies, so a
    zoo marked "open for writing" whose lock is free was left by a killed writer.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).with_name(Path(path).name + ".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise ZooBusyError(f"{path}: another process is writing this zoo (lock {self.path} is held)") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{socket.gethostname()} {os.getpid()}\n".encode())

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# ---- provenance ---------------------------------------------------------------------
def _git_revision() -> str:
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance() -> dict[str, Any]:
    import ray
    import torch

    from hyperzoo import __version__

    return {
        "hyperzoo": __version__,
        "git_revision": _git_revision(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ray": ray.__version__,
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


# ---- creation -----------------------------------------------------------------------
def _fixed(text: str, size: int) -> bytes:
    """UTF-8 bytes cut to ``size`` without splitting a character."""
    return text.encode("utf-8")[:size].decode("utf-8", errors="ignore").encode("utf-8")


def _column(group: h5py.Group, name: str, values: Any, dtype: Any) -> None:
    n = len(values)
    group.create_dataset(name, data=np.asarray(values, dtype=dtype) if dtype is not str else values,
                         dtype=h5py.string_dtype() if dtype is str else dtype, chunks=(min(n, ROW_CHUNK),))


def _empty(group: h5py.Group, name: str, shape: tuple[int, ...], dtype: Any, fill: Any, chunks: tuple[int, ...],
           compress: bool = False) -> h5py.Dataset:
    return group.create_dataset(name, shape=shape, dtype=dtype, fillvalue=fill, chunks=chunks,
                                **(COMPRESSION if compress else {}))


def create(path: str | Path, plan: ZooPlan) -> None:
    """Write a new, empty zoo for ``plan`` (all models pending) atomically at ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".creating")
    spec, m, c, p = plan.spec, plan.num_models, len(plan.spec.keep_epochs), plan.max_params
    with h5py.File(tmp, "w", libver="latest") as f:
        f.attrs.update({
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config_hash": spec.config_hash,
            "config_text": spec.source_text,
            "config_json": json.dumps(spec.normalised(), sort_keys=True),
            "resources": json.dumps(to_dict(spec.resources)),
            "task": plan.task.to_json(),
            "provenance": json.dumps(provenance()),
            "num_models": m,
            "num_checkpoints": c,
            "max_params": p,
            "runs": "[]",
        })
        f.create_dataset("epochs", data=np.asarray(spec.keep_epochs, dtype=np.int32))
        archs = f.create_group("architectures")
        for a, layout in enumerate(plan.layouts):
            g = archs.create_group(str(a))
            g.attrs["layout"] = layout.to_json()
            g.attrs["num_params"] = layout.num_params
        f.create_dataset("weights", shape=(m, c, p), dtype=np.float32, fillvalue=0.0, chunks=(1, 1, p),
                         **COMPRESSION)
        metrics = f.create_group("metrics")
        for name in plan.metric_names:
            _empty(metrics, name, (m, c), np.float64, np.nan, (min(m, ROW_CHUNK), c), compress=True)
        _write_table(f.create_group("models", track_order=True), plan)
        if spec.sparsify.ratios:
            r = len(spec.sparsify.ratios)
            twins = f.create_group("twins")
            twins.attrs.update({"finetune_epochs": spec.sparsify.finetune_epochs, "scope": spec.sparsify.scope})
            twins.create_dataset("ratios", data=np.asarray(spec.sparsify.ratios, dtype=np.float64))
            twins.create_dataset("weights", shape=(m, r, p), dtype=np.float32, fillvalue=0.0, chunks=(1, 1, p),
                                 **COMPRESSION)
            tm = twins.create_group("metrics")
            for name in plan.twin_metric_names:
                _empty(tm, name, (m, r), np.float64, np.nan, (min(m, ROW_CHUNK), r), compress=True)
    os.replace(tmp, path)


def _write_table(g: h5py.Group, plan: ZooPlan) -> None:
    members, n = plan.members, plan.num_models
    tr = [mb.train for mb in members]
    ar = [mb.arch for mb in members]
    _column(g, "name", [mb.name for mb in members], str)
    _column(g, "arch", plan.arch_index, np.int32)
    _column(g, "num_params", [plan.layouts[a].num_params for a in plan.arch_index], np.int64)
    _column(g, "seed", [t.seed for t in tr], np.int64)
    _column(g, "lr", [t.lr for t in tr], np.float64)
    _column(g, "weight_decay", [t.weight_decay for t in tr], np.float64)
    _column(g, "momentum", [t.momentum for t in tr], np.float64)
    _column(g, "optimizer", [t.optimizer for t in tr], str)
    _column(g, "batch_size", [t.batch_size for t in tr], np.int64)
    _column(g, "epochs", [t.epochs for t in tr], np.int64)
    _column(g, "activation", [a.activation for a in ar], str)
    _column(g, "init", [a.init for a in ar], str)
    _column(g, "dropout", [a.dropout for a in ar], np.float64)
    _column(g, "fusion", [a.fusion for a in ar], str)
    _column(g, "train_size", plan.train_sizes, np.int64)
    _column(g, "overrides", [json.dumps(dict(mb.overrides)) for mb in members], str)
    _column(g, "spec", [s.to_json() for s in plan.model_specs], str)
    _column(g, "train_config", [train_config_json(mb) for mb in members], str)
    chunk = (min(n, ROW_CHUNK),)
    status = _empty(g, "status", (n,), np.int8, 0, chunk)
    status.attrs["codes"] = json.dumps(STATUS_CODES)
    _empty(g, "error", (n,), h5py.string_dtype("utf-8", ERROR_BYTES), b"", chunk)
    _empty(g, "wall_time", (n,), np.float64, np.nan, chunk)
    _empty(g, "finished_at", (n,), np.float64, np.nan, chunk)
    _empty(g, "run", (n,), np.int32, 0, chunk)
    _empty(g, "node", (n,), h5py.string_dtype("utf-8", NODE_BYTES), b"", chunk)


# ---- opening an existing file -------------------------------------------------------
def _recover(path: Path) -> None:
    """Make a file whose writer was killed (or ran out of disk) writable again.

    A killed SWMR writer leaves the superblock marked "open for writing", and one that hit a
    full disk can leave a stored end of file beyond the real one; HDF5 refuses to open either
    normally. Everything of a finished model was flushed before its status, so the table,
    the attributes and the rows of finished models are copied through a SWMR reader into a
    fresh file that then replaces the old one; rows of pending models (possibly half written)
    are left at their fill value and trained again.
    """
    tmp = path.with_name(path.name + ".recovering")
    with h5py.File(path, "r", libver="latest", swmr=True, locking=False) as src, \
            h5py.File(tmp, "w", libver="latest") as dst:
        num_models = int(src.attrs["num_models"])
        finished = np.flatnonzero(src["models/status"][:] != STATUS_CODES["pending"])

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
    os.replace(tmp, path)


def _marked_open_for_writing(path: str | Path) -> bool:
    """The superblock's consistency flags (v2+, byte 11): set while a writer has the file open,
    and left set by a writer that was killed."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    return len(head) == 12 and head[:8] == b"\x89HDF\r\n\x1a\n" and head[8] >= 2 and bool(head[11] & 0x05)


def open_for_reading(path: str | Path, recovering: bool = False) -> h5py.File:
    """Open a zoo for reading whether or not a writer has it open (SWMR read).

    Readers take no file lock: HDF5 would otherwise hold a shared lock for as long as the
    reader is open and a driver resuming the zoo could not open it for writing. Writers
    still lock, so two drivers can never write the same zoo.

    A file no writer has marked is first opened plainly, because only that open checks the
    stored end of file against the real size and so refuses a truncated copy (SWMR reading
    skips the check).
    ``recovering``: the caller holds the writer lock and will recover the file, so a file
    that a writer left truncated is read as far as it goes.
    """
    if not _marked_open_for_writing(path):
        try:  # a check only: the handle used is the SWMR one, which follows a writer starting later
            h5py.File(path, "r", locking=False).close()
        except OSError as err:
            if "truncated" not in str(err):
                raise
            if not recovering:
                raise OSError(f"{path}: truncated HDF5 file ({err}); if a zoo generation stopped on a full "
                              "disk, rerun it to recover the finished models") from err
    return h5py.File(path, "r", libver="latest", swmr=True, locking=False)


def read_identity(path: str | Path) -> dict[str, Any]:
    """format, version, config hash and status counts of an existing zoo (any state)."""
    with open_for_reading(path, recovering=True) as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"{path}: not a hyperzoo zoo file (no format={FORMAT!r} attribute)")
        status = f["models/status"][:]
        return {
            "format_version": int(f.attrs["format_version"]),
            "config_hash": str(f.attrs["config_hash"]),
            "pending": int((status == STATUS_CODES["pending"]).sum()),
            "num_models": int(f.attrs["num_models"]),
        }


class ZooWriter:
    """The driver's handle on a zoo being generated (SWMR writer)."""

    def __init__(self, path: str | Path, plan: ZooPlan, run_info: dict[str, Any] | None = None,
                 lock: WriterLock | None = None) -> None:
        """``lock``: the caller's WriterLock on ``path``; without one the writer takes its own."""
        self.path = Path(path)
        self.plan = plan
        self._own_lock = WriterLock(path) if lock is None else None
        try:
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

    def _open_append(self) -> h5py.File:
        try:
            return h5py.File(self.path, "a", libver="latest")
        except OSError as err:
            msg = str(err)
            if "h5clear" not in msg and "truncated" not in msg:
                if "lock" in msg:  # a process outside this protocol has the file open
                    raise ZooBusyError(f"{self.path}: another process has this zoo open ({msg})") from err
                raise
        # we hold the writer lock, so the "open for writing" mark is a killed writer's
        _recover(self.path)
        return h5py.File(self.path, "a", libver="latest")

    def _release(self) -> None:
        if self._own_lock is not None:
            self._own_lock.release()
            self._own_lock = None

    def _check(self, plan: ZooPlan) -> None:
        f = self.file
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"{self.path}: not a hyperzoo zoo file")
        if int(f.attrs["format_version"]) != FORMAT_VERSION:
            raise ValueError(f"{self.path}: zoo format version {f.attrs['format_version']}, this code writes {FORMAT_VERSION}")
        if f.attrs["config_hash"] != plan.spec.config_hash:
            raise ConfigError(f"{self.path} was generated from a different config; pass --overwrite to replace it")
        stored = [f[f"architectures/{a}"].attrs["layout"] for a in range(len(f["architectures"]))]
        if stored != [layout.to_json() for layout in plan.layouts] or list(f["models/arch"][:]) != list(plan.arch_index):
            raise ValueError(f"{self.path}: the model family now builds different layouts than the zoo holds; "
                             "generate into a new file")

    # ---- writing ------------------------------------------------------------------
    def write(self, result: MemberResult) -> None:
        """Store one finished model; its status is written (and flushed) last, so a model whose
        data did not reach the disk stays pending and is trained again by the next run."""
        try:
            self._write(result)
        except (OSError, RuntimeError) as err:
            if isinstance(err, RuntimeError) and "refusing to write it twice" in str(err):
                raise
            raise OSError(f"{self.path}: could not write model {result.index} ({err}); models finished "
                          "before it are kept, free space and rerun the same command to continue") from err

    def _check_space(self, result: MemberResult) -> None:
        # HDF5 cannot close a file whose metadata it failed to flush, so a full disk is caught
        # here, before the model touches the file, whenever the file system says so in time.
        need = 4 * (0 if result.weights is None else result.weights.size) + (1 << 20)
        free = shutil.disk_usage(self.path.parent).free
        if free < need:
            raise OSError(f"only {free} bytes free next to the zoo, model {result.index} needs about {need}")

    def _write(self, result: MemberResult) -> None:
        self._check_space(result)
        f, i = self.file, result.index
        if f["models/status"][i] != STATUS_CODES["pending"]:
            raise RuntimeError(f"model {i} is already finished in {self.path}; refusing to write it twice")
        p = self.plan.layouts[self.plan.arch_index[i]].num_params
        c = len(self._ckpt)
        if result.weights is not None and result.epochs:
            rows = [self._ckpt[e] for e in result.epochs]
            if rows == list(range(len(rows))):
                f["weights"][i, : len(rows), :p] = result.weights
            else:
                for k, row in enumerate(rows):
                    f["weights"][i, row, :p] = result.weights[k]
            self._metrics(f["metrics"], i, rows, c, result.metrics, result.weights)
        if result.twin_weights is not None and "twins" in f:
            r = result.twin_weights.shape[0]
            f["twins/weights"][i, :, :p] = result.twin_weights
            self._metrics(f["twins/metrics"], i, list(range(r)), r, result.twin_metrics, result.twin_weights)
        f.flush()
        t = f["models"]
        t["error"][i] = _fixed(result.error, ERROR_BYTES)
        t["wall_time"][i] = result.wall_time
        t["finished_at"][i] = time.time()
        t["run"][i] = self.run
        t["node"][i] = _fixed(result.node, NODE_BYTES)
        t["status"][i] = STATUS_CODES[result.status]
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
