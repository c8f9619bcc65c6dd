"""Which row of a results table is "the best": one choice, made on validation models only.

Every summary, table and script that names a best readout (the predict summary's verdicts,
the README's results tables, ``scripts/compare_reports.py``, the demo's fusion story, the
ablation tables) picks it here, by the validation score each cell carries (``val_score``:
the property's primary metric, R² or balanced accuracy, on the validation models at the
settings chosen there). Test scores never choose a row: a maximum over test scores favours
the side with more rows and reports the luckiest of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# The self-supervised feature sets that read an embedding, and the two of them that read it alone.
EMBEDDING_SETS = ("emb", "pool(emb)", "emb+s(W)", "pool(emb)+s(W)")
EMBEDDING_ALONE = ("emb", "pool(emb)")
# The baselines on the weights alone; the supervised row (encoder) is in neither group.
WEIGHT_SETS = ("W", "s(W)")
VAL_SCORE = "val_score"  # higher is better for every primary metric (R², balanced accuracy)
# equal validation scores: the first feature set, then predictor, in alphabetical order, so
# the choice does not depend on the order the rows were concatenated in
TIE_BREAK = ("feature_set", "predictor")


def best_by_validation(rows: pd.DataFrame, score: str = VAL_SCORE) -> pd.Series | None:
    """The row of ``rows`` with the highest finite ``score`` (ties: :data:`TIE_BREAK`, then
    row order); None where no row has one. Rows without a validation score are never chosen,
    whatever they scored on the test models."""
    if score not in rows.columns:
        return None
    values = pd.to_numeric(rows[score], errors="coerce").to_numpy(float)
    scored = rows[np.isfinite(values)]
    if scored.empty:
        return None
    keys = [c for c in TIE_BREAK if c in scored.columns]
    ranked = scored.assign(_val=pd.to_numeric(scored[score])).sort_values(
        ["_val", *keys], ascending=[False] + [True] * len(keys), kind="stable")
    return ranked.iloc[0].drop("_val")
