"""The public image datasets as task data: which reader, classes and files each kind has.

Splits: ``test`` is the standard test files; ``train`` and ``val`` divide the standard train
files, ``val`` being a seeded hold-out of ``data.val_fraction`` of them (default 0.1, seed
``data.split_seed``; see :func:`~eo_tasks.data.public.preprocess.holdout`). The Model Zoos
importer writes that paper's own split (seed 42, e.g. 10000 of MNIST's 60000 images); the
Small CNN Zoo had no validation split (it trained on all train images), so its imported zoos
keep the default, and their models have seen those "val" images in training: for them val
accuracy is a training accuracy, and only the test split is held out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from eo_tasks.data.errors import DataError
from eo_tasks.data.public.cifar import CLASSES as CIFAR10_CLASSES, read_cifar10
from eo_tasks.data.public.idx import read_mnist
from eo_tasks.data.public.preprocess import holdout, normalisation, pixels
from eo_tasks.data.public.stl10 import CLASSES as STL10_CLASSES, read_stl10
from eo_tasks.data.public.svhn import read_svhn
from eo_tasks.data.types import ModalityInfo, TaskData, TaskInfo, TensorSet

FMNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                  "Ankle boot")
DIGITS = tuple(str(d) for d in range(10))
_IDX = "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], " \
       "t10k-labels-idx1-ubyte[.gz]"


@dataclass(frozen=True)
class PublicKind:
    read: Callable[[Path, str], tuple[np.ndarray, np.ndarray]]  # (root, "train" | "test") -> images, labels
    channels: int  # the images' own
    side: int
    classes: tuple[str, ...]
    files: str  # what the folder must hold, for messages


KINDS = {
    "mnist": PublicKind(lambda root, split: read_mnist(root, "mnist", split), 1, 28, DIGITS, f"MNIST's {_IDX}"),
    "fashion-mnist": PublicKind(lambda root, split: read_mnist(root, "fashion-mnist", split), 1, 28,
                                FMNIST_CLASSES, f"Fashion-MNIST's {_IDX}"),
    "cifar10": PublicKind(read_cifar10, 3, 32, CIFAR10_CLASSES,
                          "CIFAR-10's cifar-10-batches-bin/ (data_batch_1.bin .. data_batch_5.bin, test_batch.bin)"),
    "svhn": PublicKind(read_svhn, 3, 32, DIGITS, "SVHN's train_32x32.mat and test_32x32.mat"),
    "stl10": PublicKind(read_stl10, 3, 96, STL10_CLASSES,
                        "STL-10's stl10_binary/ (train_X.bin, train_y.bin, test_X.bin, test_y.bin)"),
}
PUBLIC_KINDS = tuple(KINDS)


def files_hint(kind: str) -> str:
    """What a folder of ``kind`` holds, for messages that ask for it."""
    return KINDS[kind].files


def public_kind(name: str) -> str | None:
    """The kind of a public zoo's dataset name (the Small CNN Zoo's ``config.dataset``, a Model
    Zoos folder such as ``tune_zoo_f_mnist_hyperparameter_10_random_seeds``); None when no
    reader here serves it (USPS, CIFAR-100, Tiny-ImageNet)."""
    n = name.lower().replace("-", "_")
    if re.search(r"cifar_?100|usps|imagenet", n):
        return None
    for pattern, kind in ((r"fashion|f_?mnist", "fashion-mnist"), (r"mnist", "mnist"), (r"cifar", "cifar10"),
                          (r"svhn", "svhn"), (r"stl", "stl10")):
        if re.search(pattern, n):
            return kind
    return None


def public_task_data(cfg, root: Path, source: str) -> TaskData:
    """The three splits of ``cfg.kind`` read from ``root`` and preprocessed by ``cfg.recipe``
    (``cfg``: an :class:`~eo_tasks.data.DataConfig` of a public kind)."""
    kind = KINDS[cfg.kind]
    channels = cfg.channels or kind.channels
    if channels not in (1, kind.channels):
        raise DataError(f"data.channels {channels}: {cfg.kind} images have {kind.channels} channel(s); "
                        f"expected 1 or {kind.channels}")
    train_x, train_y = kind.read(root, "train")
    test_x, test_y = kind.read(root, "test")
    tr, va = holdout(len(train_y), cfg.val_fraction, cfg.split_seed, f"{root} ({cfg.kind})")
    raw = {"train": (train_x[tr], train_y[tr]), "val": (train_x[va], train_y[va]), "test": (test_x, test_y)}
    converted = {s: pixels(x, channels, cfg.image_size, cfg.recipe) for s, (x, _) in raw.items()}
    mean, std = normalisation(cfg.recipe, cfg.kind, converted["train"])
    shape = (1, -1, 1, 1)
    splits = {}
    for s, x in converted.items():
        x = (x - np.asarray(mean, np.float32).reshape(shape)) / np.asarray(std, np.float32).reshape(shape)
        splits[s] = TensorSet(inputs={"image": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))},
                              labels=torch.from_numpy(raw[s][1].astype(np.int64)))
    info = TaskInfo(dataset=cfg.kind, classes=kind.classes, multilabel=False,
                    modalities=(ModalityInfo("image", "image", channels, (), mean, std),),
                    image_size=cfg.image_size, source=source, synthetic=False)
    return TaskData(info=info, splits=splits)
