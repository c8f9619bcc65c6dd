"""CIFAR-10 from its distributed archives, the binary version first, else the Python one.

Binary version (``cifar-10-batches-bin/``; www.cs.toronto.edu/~kriz/cifar.html):
``data_batch_1.bin`` .. ``data_batch_5.bin`` (train) and ``test_batch.bin``, each a run of
3073-byte records: one label byte (0..9), then 1024 red, 1024 green and 1024 blue bytes,
each channel a row-major 32x32 image.

Python version (``cifar-10-batches-py/``: ``data_batch_1`` .. ``data_batch_5``,
``test_batch``): Python-2 pickles of ``{b"data": uint8 [10000, 3072] (same channel-major
order), b"labels": [int], ...}``. A pickle can run any code while it loads, so these are read
by :class:`RestrictedUnpickler`, which resolves only the few names that rebuild numpy arrays
and plain containers and refuses every other global (``os.system`` included) before it is
called.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from eo_tasks.data.errors import DataError

RECORD = 1 + 3 * 32 * 32
BIN_FILES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)}
PY_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
BIN_LAYOUTS = ("cifar-10-batches-bin", ".")
PY_LAYOUTS = ("cifar-10-batches-py", ".")
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# (module, name) a CIFAR pickle may name: numpy's array reconstruction (numpy < 2 spells the
# module numpy.core, numpy >= 2 numpy._core), and _codecs.encode, which Python 3 pickles of
# bytes at protocol 2 call to rebuild them. Plain containers need no global at all.
ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "bytearray"),
    ("__builtin__", "set"), ("__builtin__", "frozenset"), ("__builtin__", "bytearray"),
})


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that refuses every global outside :data:`ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: only numpy arrays and plain "
                                         "containers may be loaded")
        return super().find_class(module, name)


def restricted_load(path: str | Path) -> object:
    """The object pickled in ``path``, loaded with :class:`RestrictedUnpickler` (bytes keys as
    the Python-2 pickles have them); DataError naming the file for anything refused or damaged."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            return RestrictedUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise DataError(f"{path}: not a CIFAR-10 Python batch that holds only arrays and containers "
                        f"({type(err).__name__}: {err})") from None


def _folder(root: Path, layouts: tuple[str, ...], first: str) -> Path | None:
    for layout in layouts:
        folder = root if layout == "." else root / layout
        if (folder / first).is_file():
            return folder
    return None


def _read_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD:
        raise DataError(f"{path}: {raw.size} bytes is not a whole number of {RECORD}-byte CIFAR-10 records "
                        "(1 label byte + 3072 image bytes); truncated or not a CIFAR-10 binary batch")
    records = raw.reshape(-1, RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataError(f"{path}: label byte {int(labels.max())} in a record; CIFAR-10 labels are 0..9 "
                        "(is this the CIFAR-100 binary version?)")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _field(batch: dict, key: str):
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    return None


def _read_py(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = restricted_load(path)
    data = _field(batch, "data") if isinstance(batch, dict) else None
    labels = _field(batch, "labels") if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 \
            or not isinstance(labels, (list, tuple, np.ndarray)) or len(labels) != len(data):
        raise DataError(f"{path}: expected a dict with 'data' (uint8 [N, 3072]) and 'labels' (N integers)")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise DataError(f"{path}: 'labels' must be integers 0..9")
    return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), labels.astype(np.int64)


def read_cifar10(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images ``[N, 32, 32, 3]`` uint8, labels ``[N]`` int64) of the ``train`` or ``test`` batches."""
    folder = _folder(root, BIN_LAYOUTS, BIN_FILES[split][0])
    files, reader = (BIN_FILES[split], _read_bin) if folder is not None else (PY_FILES[split], _read_py)
    if folder is None:
        folder = _folder(root, PY_LAYOUTS, PY_FILES[split][0])
    if folder is None:
        raise DataError(f"{root}: no CIFAR-10 batches; expected cifar-10-batches-bin/{BIN_FILES[split][0]} "
                        f"(binary version) or cifar-10-batches-py/{PY_FILES[split][0]} (Python version)")
    parts = []
    for name in files:
        if not (folder / name).is_file():
            raise DataError(f"{folder / name}: missing; expected the CIFAR-10 batches {list(files)}")
        parts.append(reader(folder / name))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
