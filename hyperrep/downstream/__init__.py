"""Property prediction from weights: how well accuracy, epoch, gap and hyperparameters of a
zoo's checkpoints can be read from the hyper-representation embedding, against the raw
weights and layer-wise weight statistics.

Entry points: :func:`property_report` (zoo + run -> report folder and results table),
:func:`evaluate` on in-memory :class:`DownstreamData`, and the building blocks
:class:`WeightStats`, :class:`PropertyPredictor`, :func:`load_data`.
"""

from __future__ import annotations

from eo_tasks import lazy_exports
from hyperrep.downstream.names import FEATURE_SETS
from hyperrep.downstream.registry import PREDICTORS

# Attributes resolved on first use, so that the ``hyperzoo`` parser can import this
# package without paying for scikit-learn, matplotlib and torch.
_EXPORTS = {
    "WeightStats": "features", "feature_matrix": "features",
    "PropertyPredictor": "predictors", "score": "predictors",
    "paired_difference": "bootstrap",
    "Property": "properties", "select_properties": "properties",
    # the module is "evaluation": a submodule named "evaluate" would replace the function
    # of that name on the package as soon as anything imported it
    "DownstreamData": "evaluation", "Evaluation": "evaluation", "evaluate": "evaluation",
    "load_data": "data",
    "PredictConfig": "config", "Rows": "config", "FineTune": "config",
    "Predictor": "registry", "register_predictor": "registry", "predictor_names": "registry",
    "default_predictors": "registry",
    "available_cores": "evaluation",
    "add_parser": "cli",  # `hyperzoo predict`
    "property_report": "report", "write_report": "report",
    "compare_embedding": "tables", "results_markdown": "tables", "summary_markdown": "tables",
    "best_by_validation": "select", "EMBEDDING_SETS": "select", "EMBEDDING_ALONE": "select",
    "WEIGHT_SETS": "select",
}

__getattr__, _lazy_names = lazy_exports(__name__, {k: f"hyperrep.downstream.{m}" for k, m in _EXPORTS.items()})
__all__ = ["FEATURE_SETS", "PREDICTORS", *_lazy_names]
