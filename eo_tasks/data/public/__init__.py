"""The public zoos' image datasets (MNIST, Fashion-MNIST, CIFAR-10, SVHN, STL-10), read from
their standard distributed files in a folder the user gives (nothing is downloaded) and
preprocessed as each zoo's paper did (:mod:`eo_tasks.data.public.preprocess`)."""

from eo_tasks.data.public.cifar import RestrictedUnpickler, read_cifar10, restricted_load
from eo_tasks.data.public.idx import read_idx, read_mnist
from eo_tasks.data.public.preprocess import (MODELZOOS_NORMALIZE, MODELZOOS_SPLIT_SEED, MODELZOOS_SPLITS, RECIPES,
                                             holdout, normalisation, pixels)
from eo_tasks.data.public.stl10 import read_stl10
from eo_tasks.data.public.svhn import read_svhn
from eo_tasks.data.public.tasks import KINDS, PUBLIC_KINDS, files_hint, public_kind, public_task_data

__all__ = ["KINDS", "MODELZOOS_NORMALIZE", "MODELZOOS_SPLITS", "MODELZOOS_SPLIT_SEED", "PUBLIC_KINDS", "RECIPES",
           "RestrictedUnpickler", "files_hint", "holdout", "normalisation", "pixels", "public_kind",
           "public_task_data", "read_cifar10", "read_idx", "read_mnist", "read_stl10", "read_svhn", "restricted_load"]
