"""Model zoos: populations of eo_tasks models trained with Ray into one HDF5 file.

``generate`` makes a zoo from a population TOML (resumable), ``Zoo`` reads one, and
``ZooDataset`` serves its checkpoints to torch, split by model. Format: docs/zoo-format.md.

Names are imported on first use so that ``hyperzoo --help`` (which imports ``zoo.cli``)
does not pay for torch, h5py and Ray.
"""

from eo_tasks.lazy import lazy_exports

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
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
