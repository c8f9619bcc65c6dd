"""Sample unseen models from a hyper-representation's embedding space.

anchors (top-Q training-split models) -> embed -> draw embeddings around them
(:mod:`hyperrep.sampling.samplers`) -> decode (detokenise and de-standardise: ``HyperRep.decode``)
-> load into the eo_tasks model -> evaluate. The family has no batch norm, so there are
no statistics to re-estimate. With ``select`` > 0 only the best ``select`` of the ``n``
draws by validation accuracy are kept (draw many, keep best). With ``residual = "anchor"``
each draw also gets its anchor's decoding error added back (``RESIDUALS``): the draw is
then the anchor itself, moved by what the decoder changes between the anchor's embedding
and the drawn one.

A zoo without task data (an imported public zoo) is sampled all the same: anchors are
ranked by the zoo's recorded accuracies (``context.anchor_metric``), the draws are decoded
and kept, but not scored (accuracy columns NaN), and ``select`` keeps the *first*
``select`` draws in draw order, since none can be ranked.

A run over several architectures of a mixed-fusion zoo samples one of them (``arch``: an
id or a fusion mode name, :mod:`hyperrep.sampling.archs`): anchors are that architecture's
training-split models, embedded and decoded with ``arch=``, so every draw is a model of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from eo_tasks import ConfigError
from eo_tasks.data import SPLITS
from eo_tasks.models import ModelSpec
from hyperrep.sampling.archs import arch_modes, resolve_arch
from hyperrep.sampling.context import ZooContext, anchor_metric, open_context, select_anchors
from hyperrep.sampling.evaluate import Evaluator
from hyperrep.sampling.novelty import Novelty
from hyperrep.sampling.samplers import (
    DEFAULT_METHOD, MIN_NOVELTY, RESIDUALS, SamplerConfig, residual_methods, resolve, sample_embeddings, sampler_names,
)

# RESIDUALS, what a draw adds to its decoded weights. "none": nothing, the draw is decode(z).
# "anchor": the decoding error of the anchor it was drawn around, anchor - decode(embed(anchor)),
# so that decode(z) + error = anchor + (decode(z) - decode(embed(anchor))). On the real EuroSAT
# zoos a decoded anchor loses about 0.1 of accuracy; this keeps the anchor's exact weights where
# the decoder smooths them and moves them only by what the embedding changed. Needs a sampler
# that draws around one anchor (Sampler.around_anchor).


@dataclass(frozen=True)
class SampleConfig:
    method: str = DEFAULT_METHOD  # a registered sampler's name or alias (samplers.sampler_names())
    n: int = 10  # embeddings drawn
    anchors: float = 0.3  # top-Q training models: a count (>= 1) or a fraction (< 1)
    select: int = 0  # keep the best ``select`` draws by validation accuracy; 0 keeps all
    seed: int = 0
    late: float = 0.25  # anchors' checkpoints come from the last ``late`` fraction of epochs
    anchor_checkpoints: int = 1  # K > 1: each anchor model's last K late checkpoints are anchors
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    residual: str = "none"  # one of RESIDUALS: what a draw adds to its decoded weights
    # novelty floor: draws nearer than this fraction of the zoo's model-to-model distance (aligned)
    # to a training model rank after every draw at or above it (hyperrep.sampling.novelty); 0: off
    min_novelty: float = MIN_NOVELTY

    def __post_init__(self) -> None:
        if self.method not in sampler_names():
            raise ConfigError(f"method must be one of {sampler_names()}, got {self.method!r}")
        if self.n < 1 or self.select < 0 or self.select > self.n:
            raise ConfigError(f"need n >= 1 and 0 <= select <= n, got n={self.n}, select={self.select}")
        if not 0.0 < self.late <= 1.0:
            raise ConfigError(f"late must be in (0, 1], got {self.late}")
        if not (isinstance(self.anchor_checkpoints, (int, np.integer)) and self.anchor_checkpoints >= 1):
            raise ConfigError(f"anchor_checkpoints must be a whole number >= 1, got {self.anchor_checkpoints!r}")
        if not 0.0 <= self.min_novelty:
            raise ConfigError(f"min_novelty must be >= 0, got {self.min_novelty}")
        if self.residual not in RESIDUALS:
            raise ConfigError(f"residual must be one of {RESIDUALS}, got {self.residual!r}")
        if self.residual == "anchor" and self.method not in residual_methods():
            raise ConfigError(f"residual \"anchor\" adds the decoding error of the anchor a draw was drawn around; "
                              f"method {self.method!r} draws around no single anchor (use one of "
                              f"{residual_methods()})")


@dataclass
class SampleResult:
    config: SampleConfig
    run_dir: Path
    spec: ModelSpec  # every sampled model runs with this spec (the anchors')
    anchors: pd.DataFrame  # model, name, epoch, val_acc, test_acc, train_acc, score
    anchor_weights: np.ndarray  # [Q, P]
    anchor_embeddings: np.ndarray  # [Q, D]
    names: list[str]  # kept samples
    embeddings: np.ndarray  # [K, D]
    weights: np.ndarray  # [K, P]
    scores: pd.DataFrame  # per kept sample: name, draw, anchor, {train,val,test}_{acc,loss}
    drawn: pd.DataFrame  # every draw: draw, anchor, val_acc, test_acc, novelty, kept
    context: ZooContext = field(repr=False)
    rep: object = field(repr=False)  # hyperrep.run.HyperRep
    anchors_by: str = "val_acc"  # the zoo-recorded metric anchors were ranked by
    novelty: Novelty | None = field(default=None, repr=False)  # the floor's reference (min_novelty > 0)

    @property
    def measured(self) -> bool:
        """Whether the models were scored on the task (False: the zoo has no task data)."""
        return self.context.data is not None

    @property
    def n_drawn(self) -> int:
        return len(self.drawn)

    @property
    def distinct_anchors(self) -> np.ndarray:
        """Row indices of ``anchors`` with one row per anchor model (its first: with several
        checkpoints per model, its latest), for figures that compare models, not checkpoints."""
        return np.flatnonzero(~self.anchors["model"].duplicated().to_numpy())


def anchor_ids(anchors: pd.DataFrame) -> np.ndarray:
    """Each anchor row's id as the kept samples' ``anchor`` column gives it: the model's name,
    or ``name@epoch`` when several checkpoints of one model are anchors."""
    ids = anchors["name"].to_numpy()
    if anchors["model"].duplicated().any():
        ids = np.array([f"{n}@{e}" for n, e in zip(ids, anchors["epoch"])])
    return ids


def load_run_and_context(zoo_path: str | Path, run_dir: str | Path, data_root: str | Path | None = None,
                         require_data: bool = True, arch: int | str | None = None):
    """The run and the zoo context of one of its architectures: ``arch`` is a zoo architecture
    id or a fusion mode name (:func:`hyperrep.sampling.archs.resolve_arch`), needed when the
    run spans several; the context then holds that architecture's models only."""
    from hyperrep.run import HyperRep

    rep = HyperRep.load(run_dir, device="cpu")
    a = resolve_arch(arch, arch_modes(zoo_path), rep.archs, what=f"the hyperrep run {run_dir}")
    data = rep.config.data
    ctx = open_context(zoo_path, split_seed=data.split_seed, status=tuple(data.status), data_root=data_root,
                       layout=rep.layout if a is None else rep.layouts[a], require_data=require_data)
    return rep, ctx


def run_arch(rep, ctx: ZooContext) -> int | None:
    """The ``arch=`` to pass ``rep.embed``/``rep.decode`` for ``ctx``'s models: None for a
    one-architecture run (which needs none), else the run's architecture of ``ctx.layout``."""
    if len(rep.archs) == 1:
        return None
    for a in rep.archs:
        if rep.layouts[a] == ctx.layout:
            return a
    raise ValueError(f"the hyperrep run has no architecture with the layout of {ctx.path}'s architecture {ctx.arch}")


def embedding_groups(rep, arch: int | None = None) -> np.ndarray | None:
    """The layer of each embedding dimension (what kde-layer splits by): a per-token
    embedding is ``num_tokens x lat_dim`` latents, token ``t``'s latent belongs to the layer
    of the neuron it holds (``Tokenizer.layer_of_token``). None for a summary-token
    embedding, whose latents belong to no layer."""
    if rep.config.model.embedding != "tokens":
        return None
    layers = rep.tokenizers[rep.arch(arch)].layer_of_token
    return np.repeat(np.asarray(layers, dtype=np.int64), rep.config.model.lat_dim)


def _score(evaluator: Evaluator | None, weights: np.ndarray, splits) -> pd.DataFrame:
    """Per weight vector ``{split}_acc``/``{split}_loss``; all NaN without an evaluator (no task data)."""
    if evaluator is None:
        return pd.DataFrame(np.nan, index=range(len(weights)),
                            columns=[f"{s}_{m}" for s in splits for m in ("acc", "loss")])
    return pd.DataFrame(evaluator.score(weights, splits))


@dataclass
class Draws:
    anchor_weights: np.ndarray  # [Q, P]
    anchor_embeddings: np.ndarray  # [Q, D]
    embeddings: np.ndarray  # kept [K, D]
    weights: np.ndarray  # kept [K, P]
    kept: pd.DataFrame  # per kept model: name, draw, anchor, {train,val,test}_{acc,loss}
    drawn: pd.DataFrame  # every draw: draw, anchor, val_acc, test_acc, novelty, kept
    novelty: Novelty | None = None


def draw_models(
    rep, ctx: ZooContext, anchors: pd.DataFrame, cfg: SampleConfig, evaluator: Evaluator | None,
    shift: np.ndarray | None = None, prefix: str = "s", novelty: Novelty | None = None,
) -> Draws:
    """Draw ``cfg.n`` around ``anchors``, decode, score, keep the best ``cfg.select``.

    ``shift`` ([D]) is added to every drawn embedding (robust sampling moves draws with it).
    ``evaluator`` None (no task data): nothing is scored and ``select`` keeps the first draws.
    ``cfg.min_novelty`` > 0: each draw's distance to its nearest training model is measured
    (column ``novelty``, in units of the zoo's spacing) and draws below the floor rank after
    every draw at or above it. ``novelty``: the floor's reference already measured for ``ctx``
    (e.g. by an earlier call's ``Draws.novelty``), so that it is not measured again.
    """
    rng = np.random.default_rng(cfg.seed)
    a = run_arch(rep, ctx)
    anchor_w = ctx.weights_many(anchors["model"].to_numpy(), anchors["epoch"].to_numpy())
    anchor_e = np.asarray(rep.embed(anchor_w, arch=a, spec=[ctx.specs[int(m)] for m in anchors["model"]]),
                          dtype=np.float32)
    groups = None
    if resolve(cfg.method, cfg.sampler)[0].needs_groups:
        groups = embedding_groups(rep, a)
        if groups is None:
            raise ConfigError(f"{cfg.method} needs a per-token embedding ([model] embedding = \"tokens\"); this run "
                              "embeds models in summary tokens, which belong to no layer")
    emb, origin = sample_embeddings(anchor_e, cfg.n, cfg.method, rng, cfg.sampler, groups=groups)
    if shift is not None:
        emb = (emb + shift[None, :]).astype(np.float32)
    weights = np.asarray(rep.decode(emb, arch=a), dtype=np.float32)
    if cfg.residual == "anchor":
        error = anchor_w - np.asarray(rep.decode(anchor_e, arch=a), dtype=np.float32)
        weights = weights + error[origin]
    scores = _score(evaluator, weights, ("val", "test"))
    ids = anchor_ids(anchors)
    drawn = pd.DataFrame({
        "draw": np.arange(cfg.n),
        "anchor": [ids[o] if o >= 0 else "" for o in origin],
        "val_acc": scores["val_acc"].to_numpy(),
        "test_acc": scores["test_acc"].to_numpy(),
    })
    if cfg.min_novelty > 0:
        novelty = novelty or Novelty.of(rep, ctx)
        drawn["novelty"] = novelty.relative(weights, emb)
    else:
        novelty = None
        drawn["novelty"] = np.nan
    if cfg.select:
        # draws at or above the novelty floor first, then best validation accuracy; NaN
        # (non-finite decodes, or no task data to score on: then the first draws are kept)
        # last; ties keep draw order
        acc = np.nan_to_num(drawn["val_acc"].to_numpy(), nan=-np.inf)
        below = ~(drawn["novelty"].to_numpy() >= cfg.min_novelty) if novelty is not None else np.zeros(cfg.n, bool)
        order = np.lexsort((-acc, below))[: cfg.select]
        keep = np.sort(order)
    else:
        keep = np.arange(cfg.n)
    drawn["kept"] = np.isin(drawn["draw"], keep)
    kept_w = weights[keep]
    full = _score(evaluator, kept_w, SPLITS)
    kept = pd.concat([drawn.loc[keep, ["draw", "anchor"]].reset_index(drop=True), full], axis=1)
    kept.insert(0, "name", [f"{prefix}{k:04d}" for k in range(len(keep))])
    return Draws(anchor_w, anchor_e, emb[keep], kept_w, kept, drawn, novelty)


def sample_models(zoo_path: str | Path, run_dir: str | Path, config: SampleConfig = SampleConfig(), *,
                  data_root: str | Path | None = None, arch: int | str | None = None) -> SampleResult:
    """Sample ``config.n`` models (keep the best ``config.select`` when > 0) and score them on the task.

    ``arch``: the architecture to sample, a zoo architecture id or a fusion mode name
    (``"late_shared"``); required when the run spans several (anchors are then models of
    that architecture, draws decode to it). A zoo without task data (an imported public zoo)
    is sampled unscored (``result.measured`` False; see the module docstring).
    """
    rep, ctx = load_run_and_context(zoo_path, run_dir, data_root, require_data=False, arch=arch)
    return sample_with(rep, ctx, config, Path(run_dir))


def sample_with(rep, ctx: ZooContext, cfg: SampleConfig, run_dir: Path, novelty: Novelty | None = None) -> SampleResult:
    anchors = select_anchors(ctx, cfg.anchors, cfg.late, checkpoints=cfg.anchor_checkpoints)
    spec = ctx.specs[int(anchors["model"].iloc[0])]
    evaluator = Evaluator(spec, ctx.data) if ctx.data is not None else None
    d = draw_models(rep, ctx, anchors, cfg, evaluator, novelty=novelty)
    return SampleResult(
        config=cfg, run_dir=run_dir, spec=spec, anchors=anchors, anchor_weights=d.anchor_weights,
        anchor_embeddings=d.anchor_embeddings, names=list(d.kept["name"]), embeddings=d.embeddings,
        weights=d.weights, scores=d.kept, drawn=d.drawn, context=ctx, rep=rep,
        anchors_by=anchor_metric(ctx, cfg.late), novelty=d.novelty,
    )
