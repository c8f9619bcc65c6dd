"""MNIST and Fashion-MNIST from their distributed IDX files (gzipped or not).

The IDX format (yann.lecun.com/exdb/mnist): a big-endian header of two zero bytes, a
type byte (0x08: unsigned byte) and the number of dimensions, then one 4-byte size per
dimension, then the values row-major. Images are ``idx3`` ([N, 28, 28]), labels ``idx1``
([N]). Both datasets ship the same four file names; torchvision keeps them under
``MNIST/raw`` and ``FashionMNIST/raw``, which are searched too.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from eo_tasks.data.errors import DataError

FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
LAYOUTS = {"mnist": (".", "raw", "MNIST/raw"), "fashion-mnist": (".", "raw", "FashionMNIST/raw")}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:  # truncated or corrupt archive
        raise DataError(f"{path}: damaged gzip file ({err})") from None


def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    """The unsigned-byte array of the IDX file ``path`` (``ndim`` dimensions expected)."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08 or data[3] != ndim:
        raise DataError(f"{path}: not an IDX file of unsigned bytes with {ndim} dimension(s): expected the magic "
                        f"number 0x0000080{ndim}, got 0x{data[:4].hex() or 'empty'}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes, expected {header})")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise DataError(f"{path}: IDX sizes {list(shape)} need {expected} bytes, the file has {len(data)} "
                        f"({'truncated' if len(data) < expected else 'trailing bytes'})")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def find_file(root: Path, kind: str, name: str) -> Path:
    for layout in LAYOUTS[kind]:
        folder = root if layout == "." else root / layout
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise DataError(f"{root}: no {name}[.gz] for {kind}; expected it directly in the folder or under "
                    f"{[l for l in LAYOUTS[kind] if l != '.']}")


def read_mnist(root: Path, kind: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images ``[N, H, W, 1]`` uint8, labels ``[N]`` int64) of the ``train`` or ``test`` files."""
    images_name, labels_name = FILES[split]
    images_path, labels_path = find_file(root, kind, images_name), find_file(root, kind, labels_name)
    images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
    if len(images) != len(labels):
        raise DataError(f"{labels_path}: {len(labels)} labels for the {len(images)} images of {images_path}")
    if labels.size and labels.max() > 9:
        raise DataError(f"{labels_path}: labels must be 0..9, found {int(labels.max())}")
    return images[..., None], labels.astype(np.int64)
