"""Each public zoo's preprocessing, reproduced as its paper's code does it.

Raw images come in as uint8 ``[N, H, W, C]``; :func:`pixels` gives float ``[N, C', H', W']``
still in 0..255 units, and :func:`normalisation` the per-channel ``(mean, std)`` in those
units, so that ``(pixels - mean) / std`` is what the zoo's networks were trained on.

``unterthiner`` (Small CNN Zoo, Unterthiner et al. 2020; google-research
``dnn_predict_accuracy/train_network.py``, ``_preprocess_batch`` with its defaults
``normalize=True``, ``--grayscale=True``): ``image / 255``, then ``-1 + 2 * image`` into
[-1, 1], then the grayscale image is the plain mean over the RGB channels (not a luma
weighting), at the TFDS images' own size (28 or 32; no resizing in that code). Here:
``(x - 127.5) / 127.5``, the channel mean taken in float.

``modelzoos`` (Model Zoos, Schürholt et al. 2022; HSG-AIML ``ModelZooDataset``
``code/zoo_generators/train_zoo_*.py``): torchvision datasets (PIL images), then
``transforms.Resize((s, s))`` where the zoo's CNN needs another size (CIFAR-10 and STL-10
"small" zoos at 28, "large" at 32: STL-10's 96 -> 32), ``ToTensor`` (/255) and
``Normalize(mean, std)``: MNIST and SVHN (0.1307, 0.3081), Fashion-MNIST, CIFAR-10 and STL-10
(0.5, 0.5), one value for every channel. Resizing uses PIL's bilinear filter on the uint8
image, as ``Resize`` on a PIL image does. The published SVHN zoo's CNN takes one channel at
28x28 while the generator script shows no ``Grayscale``/``Resize``: we ASSUME torchvision's
``Grayscale`` (PIL ``convert("L")``, ITU-R 601-2 luma) and the resize, which is the only way
that network accepts SVHN; any 3 -> 1 channel conversion under this recipe is done that way.

``standard`` (eo_tasks' own, for training new zoos on these datasets): the 0..255 values
normalised with the train split's per-channel mean and std, as the Earth-observation
datasets are; grayscale and resizing as under ``modelzoos``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from eo_tasks.data.errors import DataError

RECIPES = ("standard", "unterthiner", "modelzoos")
# Normalize((mean,), (std,)) in ToTensor's 0..1 units, per dataset (the generator scripts)
MODELZOOS_NORMALIZE = {"mnist": (0.1307, 0.3081), "fashion-mnist": (0.5, 0.5), "svhn": (0.1307, 0.3081),
                       "cifar10": (0.5, 0.5), "stl10": (0.5, 0.5)}
# torch.utils.data.random_split(train, [train, val], generator=manual_seed(42)) in the scripts
MODELZOOS_SPLITS = {"mnist": (50000, 10000), "fashion-mnist": (50000, 10000), "svhn": (60000, 13257),
                    "cifar10": (42000, 8000), "stl10": (4200, 800)}
MODELZOOS_SPLIT_SEED = 42


def _pil_convert(image: np.ndarray, gray: bool, size: int) -> np.ndarray:
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image, "L" if image.shape[-1] == 1 else "RGB")
    if gray and pil.mode != "L":
        pil = pil.convert("L")
    if pil.size != (size, size):
        pil = pil.resize((size, size), Image.Resampling.BILINEAR)
    out = np.asarray(pil)
    return out[..., None] if out.ndim == 2 else out


def pixels(images: np.ndarray, channels: int, size: int, recipe: str) -> np.ndarray:
    """uint8 ``[N, H, W, C]`` -> float32 ``[N, channels, size, size]`` in 0..255 units."""
    if recipe not in RECIPES:
        raise DataError(f"data.recipe {recipe!r}: expected one of {list(RECIPES)}")
    n, h, w, c = images.shape
    if channels not in (1, c):
        raise DataError(f"data.channels {channels}: these images have {c} channel(s); expected 1 or {c}")
    to_gray = channels == 1 and c == 3
    if recipe == "unterthiner":
        resized = images if (h, w) == (size, size) else np.stack([_pil_convert(im, False, size) for im in images])
        out = resized.astype(np.float32)
        if to_gray:  # train_network.py: tf.reduce_mean over the RGB channels, in float
            out = out.mean(axis=-1, keepdims=True)
    elif to_gray or (h, w) != (size, size):
        out = np.stack([_pil_convert(im, to_gray, size) for im in images]).astype(np.float32) if n else \
            np.zeros((0, size, size, channels), np.float32)
    else:
        out = images.astype(np.float32)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def normalisation(recipe: str, kind: str, train: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) in 0..255 units for ``(pixels - mean) / std``; ``train`` is the
    train split's :func:`pixels` (used by ``standard`` only)."""
    c = train.shape[1]
    if recipe == "unterthiner":
        return (127.5,) * c, (127.5,) * c  # -1 + 2 * x / 255
    if recipe == "modelzoos":
        mean, std = MODELZOOS_NORMALIZE[kind]
        return (mean * 255.0,) * c, (std * 255.0,) * c
    flat = train.transpose(1, 0, 2, 3).reshape(c, -1).astype(np.float64)
    std = flat.std(axis=1)
    std = np.where(std > 1e-8, std, 1.0)  # a constant channel keeps its scale
    return tuple(flat.mean(axis=1).tolist()), tuple(std.tolist())


def holdout(n: int, fraction: float, seed: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices into ``n`` training images: ``round(n * fraction)`` held out for
    validation, chosen by ``torch.randperm(n)`` seeded with ``seed`` (first the train part,
    then the val part: torch's ``random_split``, so Model Zoos' own split is reproduced with
    its seed 42 and sizes)."""
    import torch

    n_val = int(round(n * fraction))
    n_val = min(max(n_val, 1), n - 1) if n >= 2 else 0
    if n_val < 1:
        raise DataError(f"{where}: {n} training image(s); need at least 2 to hold out a validation split")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return np.sort(perm[:n - n_val]), np.sort(perm[n - n_val:])
