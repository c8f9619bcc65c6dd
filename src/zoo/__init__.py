"""Model zoos: populations of eo_tasks models trained with Ray into one HDF5 file.

``generate`` makes a zoo from a population TOML (resumable), ``Zoo`` reads one, and
``ZooDataset`` serves its checkpoints to torch, split by model. Format: docs/zoo-format.md.

Names are imported on first use so that ``hyperzoo --help`` (which imports ``zoo.cli``)
does not pay for torch, h5py and Ray.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "FORMAT_VERSION": "zoo.store",
    "GenerateReport": "zoo.runner",
    "generate": "zoo.runner",
    "Zoo": "zoo.reader",
    "ZooDataset": "zoo.dataset",
    "split_models": "zoo.dataset",
    "ZooSpec": "zoo.spec",
    "load_spec": "zoo.spec",
    "spec_from_text": "zoo.spec",
    "magnitude_mask": "eo_tasks.train.prune",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
