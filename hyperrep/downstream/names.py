"""Names of the feature sets and of the predictors other modules refer to (no heavy imports:
the CLI parser reads them). The predictors themselves are the registry's
(:mod:`~hyperrep.downstream.registry`)."""

FEATURE_SETS = ("emb", "pool(emb)", "W", "s(W)", "emb+s(W)", "pool(emb)+s(W)")
# emb+s(W) and pool(emb)+s(W) only, numbers only: the embedding's ridge readout averaged with
# s(W) · gbt (hyperrep.downstream.blend)
BLEND = "blend"
# The supervised row (hyperrep.downstream.supervised): the run's encoder fine-tuned with a
# property head on the training models. Its feature set is its own (the weights), so it is
# one row "encoder · supervised" outside the feature set x predictor grid, and never run by
# default (naming either name asks for it); it is not a self-supervised embedding.
SUPERVISED_SET = "encoder"
SUPERVISED = "supervised"
# the metric that ranks predictors of a property, by its kind
PRIMARY_METRIC = {"number": "r2", "class": "balanced_accuracy"}
