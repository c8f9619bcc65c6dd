"""Names of the feature sets and predictors (no heavy imports: the CLI parser reads them)."""

FEATURE_SETS = ("emb", "pool(emb)", "W", "s(W)", "emb+s(W)")
PREDICTORS = ("ridge", "gbt")
