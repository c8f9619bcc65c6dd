"""The predictor registry: every way of reading a property off a feature set is one
:class:`Predictor` entry, registered once. An entry names its factory (an object with
scikit-learn's ``fit(x_train, y_train, x_val, y_val)`` and ``predict(x)``), the feature sets
and property kinds it applies to, whether it runs by default and whether it is supervised
(trains a network on the property itself). The property report crosses every feature set
with every predictor asked for (by default :func:`default_predictors`); nothing else in the
evaluation knows a predictor by name. Adding one: docs/extending.md.

No heavy imports here (the ``hyperzoo predict`` parser reads the names): each built-in
factory imports its module when it is called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hyperrep.downstream.names import BLEND, SUPERVISED, SUPERVISED_SET

if TYPE_CHECKING:
    from hyperrep.downstream.config import PredictConfig
    from hyperrep.run import HyperRep

KINDS = ("number", "class")


@dataclass(frozen=True)
class FitContext:
    """What a factory may read: the property's kind, the feature set, the column slice of each
    part of a joined feature set (``"emb+s(W)"``: ``{"emb": ..., "s(W)": ...}``), the report's
    config and the hyper-representation run (None without one)."""

    kind: str
    feature_set: str
    parts: dict[str, slice]
    config: PredictConfig
    run: HyperRep | None = None
    zoo: str = ""  # the zoo file of the rows (predictors that run its models read it)


@dataclass(frozen=True)
class Predictor:
    """One predictor. ``make(ctx)`` returns an unfitted estimator, which may also set
    ``chosen`` (its hyperparameters, as text), ``selected_on_val_`` (False: no validation
    rows, defaults kept), ``selected_`` (the columns it read) and ``n_features_``.
    ``feature_sets`` None: every feature set. ``features``: a feature set of its own that it
    builds, ``(data, run) -> matrix or a reason it cannot``. ``supervised``: it trains a network
    on the property; such cells run after the others in this process on every core and are
    reported apart, and run only when asked for (``PredictConfig.supervised`` or by name).
    ``width_limit``: a ``PredictConfig`` field capping the feature sets it runs on;
    ``shares_preparation``: estimators fitted on the same training rows pass each other
    their ``prepared_`` (``fit(..., prep=)``); ``cost``: relative cost per feature, which
    orders the work."""

    name: str
    make: Callable[[FitContext], object]
    help: str
    feature_sets: tuple[str, ...] | None = None
    kinds: tuple[str, ...] = KINDS
    default: bool = True
    supervised: bool = False
    features: Callable[..., object] | None = None
    width_limit: str = ""
    shares_preparation: bool = False
    cost: float = 0.25

    def applies(self, feature_set: str, kind: str) -> bool:
        return (self.feature_sets is None or feature_set in self.feature_sets) and kind in self.kinds


PREDICTOR_REGISTRY: dict[str, Predictor] = {}


def register_predictor(predictor: Predictor) -> Predictor:
    if predictor.name in PREDICTOR_REGISTRY:
        raise ValueError(f"predictor {predictor.name!r} already registered")
    PREDICTOR_REGISTRY[predictor.name] = predictor
    return predictor


def get_predictor(name: str) -> Predictor:
    from eo_tasks import ConfigError

    if name not in PREDICTOR_REGISTRY:
        raise ConfigError(f"unknown predictor {name!r}, expected some of {tuple(PREDICTOR_REGISTRY)}")
    return PREDICTOR_REGISTRY[name]


def predictor_names() -> tuple[str, ...]:
    return tuple(PREDICTOR_REGISTRY)


def default_predictors() -> tuple[str, ...]:
    """The predictors a report runs when none are named."""
    return tuple(n for n, p in PREDICTOR_REGISTRY.items() if p.default and not p.supervised)


def own_feature_sets() -> tuple[str, ...]:
    """Feature sets a predictor builds itself (not in ``names.FEATURE_SETS``)."""
    return tuple(f for p in PREDICTOR_REGISTRY.values() if p.features is not None for f in p.feature_sets or ())


# ---- the built-in predictors: module-level factories, so that worker processes can unpickle them
def _property_predictor(ctx: FitContext, method: str):
    from hyperrep.downstream.predictors import PropertyPredictor

    return PropertyPredictor(ctx.kind, method, gbt_components=ctx.config.gbt_components, seed=ctx.config.seed)


def _ridge(ctx: FitContext):
    return _property_predictor(ctx, "ridge")


def _gbt(ctx: FitContext):
    return _property_predictor(ctx, "gbt")


def _blend(ctx: FitContext):
    from hyperrep.downstream.blend import BlendPredictor

    return BlendPredictor.for_context(ctx)


def _supervised(ctx: FitContext):
    from hyperrep.downstream.supervised import SupervisedEncoder

    return SupervisedEncoder(ctx.kind, ctx.run, ctx.config.fine_tune, ctx.config.seed)


def _encoder_features(data, run):
    if run is None:
        return "no hyper-representation run given"
    from hyperrep.downstream.supervised import encoder_features

    layouts = data.layouts if data.mixed else {0: data.layout}
    archs = data.rows["arch"].to_numpy() if data.mixed else [0] * len(data.rows)
    specs = None
    if run.reader is not None:  # function tokens run the models: each row's own spec
        from zoo import Zoo

        with Zoo.open(data.zoo) as zoo:
            spec_of = {int(m): zoo.spec(int(m)) for m in set(data.rows["model"].tolist())}
        specs = [spec_of[int(m)] for m in data.rows["model"]]
    return encoder_features(run, data.weights, layouts, archs, specs)


def _mlp(ctx: FitContext):
    from hyperrep.downstream.readouts import MLPReadout

    return MLPReadout(seed=ctx.config.seed)


def _krr(ctx: FitContext):
    from hyperrep.downstream.readouts import KernelRidgeReadout

    return KernelRidgeReadout()


register_predictor(Predictor(
    "ridge", _ridge, shares_preparation=True, cost=1.0,
    help="ridge regression (numbers) or logistic regression (classes), strength chosen on the validation models"))
register_predictor(Predictor(
    "gbt", _gbt, width_limit="max_gbt_features", shares_preparation=True,
    help="histogram gradient-boosted trees on the features most associated with the property, rounds chosen on "
         "the validation models"))
register_predictor(Predictor(
    BLEND, _blend, feature_sets=("emb+s(W)", "pool(emb)+s(W)"), kinds=("number",), shares_preparation=True,
    help="w * [s(W) · gbt] + (1 - w) * [the embedding · ridge], w in 0..0.95 chosen on the validation models"))
register_predictor(Predictor(
    SUPERVISED, _supervised, feature_sets=(SUPERVISED_SET,), supervised=True, features=_encoder_features,
    help="the run's encoder fine-tuned with a property head on the training models (not a self-supervised "
         "embedding)"))
def _probegen(ctx: FitContext):
    from hyperrep.downstream.learned_probes import LearnedProbeConfig, ProbeGenPredictor

    rows = ctx.config.rows
    return ProbeGenPredictor(ctx.zoo, LearnedProbeConfig(seed=ctx.config.seed), rows.probe_source, rows.data_root)


def _probegen_features(data, run):
    from hyperrep.downstream.learned_probes import probegen_features

    return probegen_features(data, run)


register_predictor(Predictor(
    "probegen", _probegen, feature_sets=("learned probes",), kinds=("number",), supervised=True,
    features=_probegen_features,
    help="supervised: probe inputs made by a shared deep linear generator, answered by each model and read by a "
         "small head, trained end to end on the training models (ProbeGen, Kahana et al. 2025)"))
register_predictor(Predictor(
    "mlp", _mlp, kinds=("number",), default=False,
    help="a two-layer MLP (256 wide), weight decay, dropout and epoch chosen on the validation models"))
register_predictor(Predictor(
    "krr", _krr, kinds=("number",), default=False,
    help="RBF kernel ridge, width and strength chosen on the validation models (O(n^3) in training checkpoints)"))

PREDICTORS = default_predictors()  # the built-in default set, as the package exports it
