"""What a property report is asked to do: one :class:`PredictConfig`, passed whole from the
``hyperzoo predict`` flags (or a Python call) to the rows (:class:`Rows`), the evaluation
and every predictor's factory (:mod:`~hyperrep.downstream.registry`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hyperrep.downstream.bootstrap import RESAMPLES
from hyperrep.downstream.names import FEATURE_SETS
from hyperrep.downstream.spaces import GBT_COMPONENTS


@dataclass(frozen=True)
class Rows:
    """Which checkpoints are rows and how they are embedded (:func:`~hyperrep.downstream.data.load_data`).
    ``epochs``: only those (None: all); ``min_epoch``: drop earlier ones (1 drops the untrained
    initialisations); ``split_seed``: the seed of the split by model (None: the run's own
    ``data.split_seed``, 0 without a run); ``views``: each checkpoint's embedding is its mean
    over itself and ``views - 1`` random neuron permutations of it. ``probes``: see
    :mod:`~hyperrep.downstream.probing`. ``final_only``: each model's last stored checkpoint
    only (the Small CNN Zoo protocols). ``split_file``: the split by model given by a JSON file
    (:func:`zoo.read_split_file`) instead of the seeded one; models it does not list are dropped."""

    epochs: tuple[int, ...] | None = None
    min_epoch: int = 0
    final_only: bool = False
    split_seed: int | None = None
    split_file: str = ""
    views: int = 1
    # the "probe" feature sets: each checkpoint's outputs on this many probe inputs (0: none),
    # training-split images of the zoo's task ("data") or noise shaped like them ("random")
    probes: int = 0
    probe_source: str = "data"
    probe_seed: int = 0
    data_root: str = ""  # the task's data folder where the zoo's recorded one is not on this machine


@dataclass(frozen=True)
class FineTune:
    """How the supervised row fine-tunes the encoder (:mod:`~hyperrep.downstream.supervised`).
    ``lr`` is the head's learning rate, the encoder's is ``lr * encoder_lr_factor``; ``epochs``
    at most, stopping once ``patience`` epochs have not improved the validation score;
    ``augment``: training batches through the run's augmentations (off by default: on the
    synthetic zoo of docs/property-prediction.md they did not raise the validation scores and
    cost 1.6-2x the time); ``device`` None: the run's ``train.device`` ("auto": a GPU when
    there is one); ``threads``: torch threads (None: leave torch's); ``properties``: the
    properties an evaluation fits the row for (empty: all)."""

    epochs: int = 20
    patience: int = 5
    batch_size: int = 32
    lr: float = 3e-3
    encoder_lr_factor: float = 0.1
    weight_decay: float = 0.01
    hidden: int = 64
    augment: bool = False
    clip_grad: float = 1.0
    device: str | None = None
    threads: int | None = None
    eval_batch_size: int = 256
    properties: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if min(self.epochs, self.batch_size, self.hidden, self.eval_batch_size) < 1 or self.patience < 1:
            raise ValueError("epochs, patience, batch_size, hidden and eval_batch_size must be >= 1")
        if self.lr <= 0 or self.encoder_lr_factor < 0 or self.weight_decay < 0 or self.clip_grad < 0:
            raise ValueError("lr must be > 0; encoder_lr_factor, weight_decay and clip_grad >= 0")


@dataclass(frozen=True)
class PredictConfig:
    """A property report. ``predictors`` None: the registry's default set
    (:func:`~hyperrep.downstream.registry.default_predictors`); naming a predictor runs it on
    every feature set it applies to. ``supervised`` adds the supervised predictors (the run's
    encoder fine-tuned per property, ``fine_tune``), off by default as they train a network
    per property. ``max_gbt_features``: gradient boosting is n/a on wider feature sets;
    ``gbt_components``: narrower ones wider than this are boosted on that many features
    screened on the training rows (None: every feature). ``threads``: cores in all (None:
    every core); ``jobs``: cells fitted side by side (None: one per core). ``resamples``:
    bootstrap resamples of the test models behind each interval (0: none), drawn with ``seed``,
    which also seeds the predictors. ``properties``: predict only these (empty: every
    property the rows hold, :func:`~hyperrep.downstream.properties.select_properties`)."""

    feature_sets: tuple[str, ...] = FEATURE_SETS
    predictors: tuple[str, ...] | None = None
    properties: tuple[str, ...] = ()
    rows: Rows = field(default_factory=Rows)
    max_gbt_features: int = 4096
    gbt_components: int | None = GBT_COMPONENTS
    seed: int = 0
    resamples: int = RESAMPLES
    threads: int | None = None
    jobs: int | None = None
    supervised: bool = False
    fine_tune: FineTune = field(default_factory=FineTune)
