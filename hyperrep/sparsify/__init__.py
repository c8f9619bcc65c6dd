"""Sparsification with hyper-representations (issue 6).

``sparsity_curves(zoo, out, run_dir, sampled_path, CurveConfig(prune=..., sample=...))`` prunes trained,
sampled and robust-sampled models at given ratios (one-shot or gradual, with masked
fine-tuning, ``eo_tasks.train.PruneConfig``), writes
accuracy-vs-sparsity curves, and predicts sparsified twins' accuracy from dense embeddings.

Names are imported on first use so that ``hyperzoo --help`` stays fast.
"""

from eo_tasks import lazy_exports

_EXPORTS = {
    "CurveConfig": "hyperrep.sparsify.run",
    "SparsifyResult": "hyperrep.sparsify.run",
    "sparsity_curves": "hyperrep.sparsify.run",
    "prune_curves": "hyperrep.sparsify.curves",
    "drop_point": "hyperrep.sparsify.curves",
    "parse_ratios": "hyperrep.sparsify.curves",
    "drop_table": "hyperrep.sparsify.curves",
    "format_drop": "hyperrep.sparsify.curves",
    "twin_prediction": "hyperrep.sparsify.twins",
    "twin_verdict": "hyperrep.sparsify.twins",
    "add_parser": "hyperrep.sparsify.cli",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
