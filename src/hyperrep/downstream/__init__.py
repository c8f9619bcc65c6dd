"""Property prediction from weights: how well accuracy, epoch, gap and hyperparameters of a
zoo's checkpoints can be read from the hyper-representation embedding, against the raw
weights and layer-wise weight statistics.

Entry points: :func:`property_report` (zoo + run -> report folder and results table),
:func:`evaluate` on in-memory :class:`DownstreamData`, and the building blocks
:class:`WeightStats`, :class:`PropertyPredictor`, :func:`load_data`.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from hyperrep.downstream.names import FEATURE_SETS, PREDICTORS

# Attributes resolved on first use, so that the ``hyperzoo`` parser can import this
# package without paying for scikit-learn, matplotlib and torch.
_LAZY = {
    "WeightStats": "features", "feature_matrix": "features",
    "PropertyPredictor": "predictors", "score": "predictors",
    "Property": "properties", "select_properties": "properties",
    "DownstreamData": "evaluate", "Evaluation": "evaluate", "evaluate": "evaluate",
    "load_data": "data",
    "property_report": "report", "write_report": "report",
    "compare_embedding": "tables", "results_markdown": "tables", "summary_markdown": "tables",
}

__all__ = ["FEATURE_SETS", "PREDICTORS", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"hyperrep.downstream.{module}"), name)
