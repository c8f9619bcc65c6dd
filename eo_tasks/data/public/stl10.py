"""STL-10 from its binary version (``stl10_binary/``; cs.stanford.edu/~acoates/stl10).

``train_X.bin`` / ``test_X.bin``: uint8 images of 3x96x96, each channel stored column-major
(the reference reader reshapes to ``[N, 3, 96, 96]`` and transposes to ``[N, 96, 96, 3]``
with axes (0, 3, 2, 1)); ``train_y.bin`` / ``test_y.bin``: one byte per image, labels 1..10,
read here as 0..9. The unlabelled ``unlabeled_X.bin`` is not used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eo_tasks.data.errors import DataError

SIDE = 96
IMAGE_BYTES = 3 * SIDE * SIDE
LAYOUTS = ("stl10_binary", ".")
CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")


def read_stl10(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images ``[N, 96, 96, 3]`` uint8, labels ``[N]`` int64 in 0..9)."""
    xname, yname = f"{split}_X.bin", f"{split}_y.bin"
    folder = next((f for f in ((root if l == "." else root / l) for l in LAYOUTS) if (f / xname).is_file()), None)
    if folder is None:
        raise DataError(f"{root}: no {xname}; expected the STL-10 binary files under stl10_binary/ or directly "
                        "in the folder")
    if not (folder / yname).is_file():
        raise DataError(f"{folder / yname}: missing; expected the labels of {folder / xname}")
    raw = np.fromfile(folder / xname, dtype=np.uint8)
    if raw.size == 0 or raw.size % IMAGE_BYTES:
        raise DataError(f"{folder / xname}: {raw.size} bytes is not a whole number of {IMAGE_BYTES}-byte "
                        "3x96x96 images; truncated or not an STL-10 binary file")
    labels = np.fromfile(folder / yname, dtype=np.uint8).astype(np.int64)
    n = raw.size // IMAGE_BYTES
    if labels.size != n:
        raise DataError(f"{folder / yname}: {labels.size} labels for the {n} images of {folder / xname}")
    if labels.min() < 1 or labels.max() > 10:
        raise DataError(f"{folder / yname}: labels must be 1..10, found {labels.min()}..{labels.max()}")
    images = raw.reshape(n, 3, SIDE, SIDE).transpose(0, 3, 2, 1)  # column-major channels -> [N, H, W, C]
    return np.ascontiguousarray(images), labels - 1
