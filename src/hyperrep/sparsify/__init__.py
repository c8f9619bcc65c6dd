"""Sparsification with hyper-representations (issue 6).

``sparsity_curves(zoo, out, run_dir, sampled_path, CurveConfig(...))`` prunes trained,
sampled and robust-sampled models at given ratios (with a short masked fine-tune), writes
accuracy-vs-sparsity curves, and predicts sparsified twins' accuracy from dense embeddings.

Names are imported on first use so that ``hyperzoo --help`` stays fast.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CurveConfig": "hyperrep.sparsify.run",
    "SparsifyResult": "hyperrep.sparsify.run",
    "sparsity_curves": "hyperrep.sparsify.run",
    "prune_curves": "hyperrep.sparsify.curves",
    "drop_point": "hyperrep.sparsify.curves",
    "parse_ratios": "hyperrep.sparsify.curves",
    "twin_prediction": "hyperrep.sparsify.twins",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hyperrep.sparsify' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
