"""SVHN cropped digits (format 2) from ``train_32x32.mat`` and ``test_32x32.mat``.

ufldl.stanford.edu/housenumbers: each file is a MATLAB (v5) file with ``X``, uint8
``[32, 32, 3, N]`` (height, width, channel, sample), and ``y``, ``[N, 1]`` labels 1..10
where 10 stands for the digit 0; read here as digits 0..9 (as torchvision and TFDS's
``svhn_cropped`` do). ``extra_32x32.mat`` is not used: neither zoo trained on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eo_tasks.data.errors import DataError

FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
LAYOUTS = (".", "svhn", "SVHN")


def read_svhn(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images ``[N, 32, 32, 3]`` uint8, digit labels ``[N]`` int64 in 0..9)."""
    from scipy.io import loadmat  # scipy is only needed for SVHN

    name = FILES[split]
    path = next((p for p in ((root if l == "." else root / l) / name for l in LAYOUTS) if p.is_file()), None)
    if path is None:
        raise DataError(f"{root}: no {name}; expected the SVHN cropped-digit file directly in the folder or "
                        f"under {[l for l in LAYOUTS if l != '.']}")
    try:
        mat = loadmat(path, variable_names=("X", "y"))
    except Exception as err:  # scipy raises ValueError, TypeError, OSError... for damaged or foreign files
        raise DataError(f"{path}: not a readable MATLAB file ({type(err).__name__}: {err})") from None
    x, y = mat.get("X"), mat.get("y")
    if x is None or y is None or x.dtype != np.uint8 or x.ndim != 4 or x.shape[2] != 3:
        raise DataError(f"{path}: expected 'X' uint8 [H, W, 3, N] and 'y' [N, 1]; got X "
                        f"{None if x is None else (x.dtype, x.shape)}, y {None if y is None else y.shape}")
    labels = np.asarray(y).reshape(-1)
    if labels.size != x.shape[3]:
        raise DataError(f"{path}: {labels.size} labels in 'y' for {x.shape[3]} images in 'X'")
    if labels.size and (labels.min() < 1 or labels.max() > 10):
        raise DataError(f"{path}: 'y' must hold labels 1..10 (10: the digit 0), found {labels.min()}..{labels.max()}")
    images = np.ascontiguousarray(x.transpose(3, 0, 1, 2))
    return images, (labels.astype(np.int64) % 10)
