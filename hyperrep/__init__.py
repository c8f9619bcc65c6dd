"""Hyper-representations of model zoos: a transformer autoencoder over weight tokens.

``train_hyperrep`` trains one from a :class:`~hyperrep.data.WeightSet` (``from_zoo``),
``HyperRep.load(RUN)`` gives ``embed`` / ``decode`` / ``reconstruct`` / ``project``, and ``embed_zoo``
writes every checkpoint's embedding to an HDF5 file (``load_embeddings`` reads it).

Names are imported on first use so that ``hyperzoo --help`` stays fast.
"""

from eo_tasks import lazy_exports

_EXPORTS = {
    "HyperRep": "hyperrep.run",
    "HyperRepConfig": "hyperrep.config",
    "Tokenizer": "hyperrep.tokens",
    "Standardizer": "hyperrep.tokens",
    "Permuter": "hyperrep.augment",
    "TokenSpace": "hyperrep.tokens",
    "WeightSet": "hyperrep.data",
    "ZooWeights": "hyperrep.data",
    "from_zoo": "hyperrep.data",
    "zoo_weights": "hyperrep.data",
    "train_hyperrep": "hyperrep.train",
    "embed_zoo": "hyperrep.embed",
    "load_embeddings": "hyperrep.embed",
    "Ablation": "hyperrep.ablation",
    "run_ablation": "hyperrep.ablation",
    "run_models": "hyperrep.losses",
    # the command line: `hyperzoo hyperrep` and scripts/train_hyperrep.py (main)
    "add_parser": "hyperrep.cli",
    "main": "hyperrep.cli",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
