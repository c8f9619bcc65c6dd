"""Magnitude pruning and masked fine-tuning: the "sparsified twins" of zoo models.

What is pruned: the ``weight`` tensors of the layers the layout lists (every conv and
linear layer). Biases are never pruned: there are few of them and zeroing a bias moves
the neuron's operating point rather than removing a connection. The ratio is a fraction
of these prunable weights, and exactly ``round(ratio * prunable)`` of them are zeroed:

- ``scope="global"``: the smallest magnitudes over all layers together;
- ``scope="layer"``: every layer loses the same fraction, each layer's count apportioned by
  largest remainder so that the counts still add up to ``round(ratio * prunable)``;
- ``scope="lamp"``: the smallest LAMP scores over all layers (Lee et al. 2021, "Layer-adaptive
  sparsity for the magnitude-based pruning"): a weight's squared magnitude over the sum of the
  squares of its layer's weights that are at least as large. Global magnitude pruning empties
  the layers of small weights first; LAMP's score is scale-free per layer, so each layer keeps
  its own largest weights (its largest always scores 1, so it goes last), which at high
  sparsity is where global magnitude pruning loses accuracy.

``protect`` (< 1) caps the fraction pruned from the *protected* layers, the ones that read
an input (``*.conv0``) and the output layer: they are small and every weight there carries
a whole input channel or class, so losing them costs more accuracy than their size says.
The weights they keep are taken from the other layers instead, so the total is unchanged.

Ties in magnitude are broken by position (lower flat index is pruned first), so the
mask is a deterministic function of the weights.

:class:`PruneConfig` says how a twin is made: ``schedule="oneshot"`` prunes to the ratio
at once, then fine-tunes with the mask held; ``"gradual"`` prunes in ``steps`` steps on Zhu
& Gupta's (2017) cubic schedule, with ``step_epochs`` masked fine-tune epochs after every
step but the last, so the surviving weights adapt while the network thins out. Both end
with ``finetune_epochs`` masked epochs at the final ratio. The recipe's learning rate is
constant (``eo_tasks.train.loop``), so learning-rate rewinding (Renda et al. 2020) is what
fine-tuning at the recipe's rate already does. ``distill`` > 0 fine-tunes every step against a
dense teacher's outputs as well as the labels (:class:`~eo_tasks.train.loop.Distill`): the model
as given, or the teacher :func:`sparsify_model` is handed (``hyperrep.sparsify`` hands it the
dense reference, the model fine-tuned alike without pruning).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from eo_tasks.config import ConfigError
from eo_tasks.models.spec import ModelSpec
from eo_tasks.train.config import TrainConfig

if TYPE_CHECKING:  # annotations only: both import torch, which `hyperzoo sparsify --help` must not
    from eo_tasks.data.types import TaskData
    from eo_tasks.models.layout import Layout

SCOPES = ("global", "layer", "lamp")
SCHEDULES = ("oneshot", "gradual")
KEEPS = ("last", "best-val")


@dataclass(frozen=True)
class PruneConfig:
    """How a sparsified twin is made (see the module docstring)."""

    scope: str = "global"
    schedule: str = "oneshot"
    steps: int = 3  # gradual: pruning steps, the last one at the target ratio
    step_epochs: int = 1  # gradual: masked fine-tune epochs after each step but the last
    finetune_epochs: int = 1  # masked fine-tune epochs at the final ratio
    protect: float = 1.0  # most a protected layer (input convs, output layer) may lose; 1: no cap
    keep: str = "last"  # the twin is the final fine-tune's last epoch, or its best by validation accuracy
    lr_scale: float = 1.0  # fine-tune at this multiple of the recipe's learning rate
    distill: float = 0.0  # weight of the soft loss against a dense teacher (0: labels only)

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ConfigError(f"scope must be one of {SCOPES}, got {self.scope!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.steps < 1 or self.step_epochs < 0 or self.finetune_epochs < 0:
            raise ConfigError(f"steps must be >= 1, step_epochs and finetune_epochs >= 0, got steps {self.steps}, "
                              f"step_epochs {self.step_epochs}, finetune_epochs {self.finetune_epochs}")
        if not 0.0 <= self.protect <= 1.0:
            raise ConfigError(f"protect must be in [0, 1], got {self.protect}")
        if self.keep not in KEEPS:
            raise ConfigError(f"keep must be one of {KEEPS}, got {self.keep!r}")
        if not (math.isfinite(self.lr_scale) and self.lr_scale > 0):
            raise ConfigError(f"lr_scale must be a positive number, got {self.lr_scale}")
        if not 0.0 <= self.distill <= 1.0:
            raise ConfigError(f"distill must be in [0, 1], got {self.distill}")

    @property
    def total_epochs(self) -> int:
        """Masked fine-tune epochs a twin gets in all."""
        extra = (self.steps - 1) * self.step_epochs if self.schedule == "gradual" else 0
        return extra + self.finetune_epochs

    def describe(self) -> str:
        cap = f", protected layers lose at most {self.protect:g}" if self.protect < 1 else ""
        tail = (f" at {self.lr_scale:g} x the recipe's lr" if self.lr_scale != 1 else "") + (
            "; the twin is the final fine-tune's epoch with the best validation accuracy" if self.keep == "best-val"
            else "") + (f"; distilled from the dense model (weight {self.distill:g})" if self.distill else "")
        if self.schedule == "gradual":
            return (f"gradual magnitude pruning ({self.scope}{cap}): {self.steps} cubic steps, {self.step_epochs} masked "
                    f"epoch(s) after each but the last, then {self.finetune_epochs} at the final ratio{tail}")
        return (f"one-shot magnitude pruning ({self.scope}{cap}), then {self.finetune_epochs} masked fine-tune "
                f"epoch(s){tail}")


def cubic_ratios(target: float, steps: int) -> list[float]:
    """Zhu & Gupta's schedule from 0 to ``target`` in ``steps`` steps: big cuts first, when
    many small weights can go, small ones last. The last entry is ``target`` exactly."""
    out = [target * (1.0 - (1.0 - t / steps) ** 3) for t in range(1, steps + 1)]
    out[-1] = target
    return out


def protected_layers(layout: Layout) -> list[int]:
    """Indices (into ``layout.layers``) of the layers ``protect`` caps: those that read an
    input (``*.conv0``) and the output layer."""
    last = len(layout.layers) - 1
    return [i for i, layer in enumerate(layout.layers) if layer.name.split(".")[-1] == "conv0" or i == last]


def prunable_slices(layout: Layout) -> list[slice]:
    """Flat-vector slices of the prunable tensors (the layers' weights), in layout order."""
    return [layout.slice(layer.weight) for layer in layout.layers]


def _smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` smallest |values|, ties to the lower index."""
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(np.abs(values), kind="stable")
    return order[:k]


def lamp_scores(flat: np.ndarray, layout: Layout) -> np.ndarray:
    """LAMP score of every prunable weight (0 elsewhere): ``w_u^2 / sum_{v >= u} w_v^2`` over
    its layer's weights sorted by magnitude, ties in position order; a pruned (zero) weight
    scores 0, so a gradual schedule's masks only grow."""
    scores = np.zeros(layout.num_params, dtype=np.float64)
    for s in prunable_slices(layout):
        squared = np.asarray(flat[s], dtype=np.float64) ** 2
        order = np.argsort(squared, kind="stable")
        ranked = squared[order]
        # every weight's denominator: itself and all the layer's weights ranked after it
        tail = np.cumsum(ranked[::-1])[::-1]
        part = np.divide(ranked, tail, out=np.zeros_like(ranked), where=tail > 0)
        scores[s.start + order] = part
    return scores


def _apportion(sizes: list[int], ratio: float, total: int) -> list[int]:
    exact = [ratio * s for s in sizes]
    counts = [math.floor(e) for e in exact]
    # hand the remaining units to the largest fractional parts (ties: earlier layer first)
    rest = total - sum(counts)
    order = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[:rest]:
        counts[i] += 1
    return [min(c, s) for c, s in zip(counts, sizes)]


def _capped_counts(sizes: list[int], total: int, caps: list[int], ratio: float) -> list[int]:
    """Per-layer counts for layer scope with caps: every layer the same fraction, the capped
    ones at most their cap, what they keep spread over the others by size."""
    free = [i for i in range(len(sizes)) if caps[i] >= sizes[i]]
    counts = [min(c, k) for c, k in zip(_apportion(sizes, ratio, total), caps)]
    rest = total - sum(counts)
    if rest and free:
        room = [sizes[i] - counts[i] for i in free]
        extra = _apportion(room, rest / sum(room), rest) if sum(room) else [0] * len(free)
        for i, e in zip(free, extra):
            counts[i] += e
    return counts


def magnitude_mask(flat: np.ndarray, layout: Layout, ratio: float, scope: str = "global",
                   protect: float = 1.0) -> np.ndarray:
    """0/1 float32 mask over the flat vector zeroing ``round(ratio * prunable)`` weights,
    at most ``floor(protect * size)`` of them in a protected layer (:func:`protected_layers`)."""
    flat = np.asarray(flat)
    if flat.shape != (layout.num_params,):
        raise ValueError(f"flat vector has shape {flat.shape}, layout needs ({layout.num_params},)")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    if not 0.0 <= protect <= 1.0:
        raise ValueError(f"protect must be in [0, 1], got {protect}")
    if not np.isfinite(flat).all():
        raise ValueError("cannot prune a weight vector with NaN/inf entries")
    slices = prunable_slices(layout)
    sizes = [s.stop - s.start for s in slices]
    total = round(ratio * sum(sizes))
    guarded = set(protected_layers(layout)) if protect < 1.0 else set()
    caps = [math.floor(protect * n) if i in guarded else n for i, n in enumerate(sizes)]
    if total > sum(caps):
        raise ValueError(f"cannot prune {total} weights with the protected layers capped at {protect:g}: "
                         f"at most {sum(caps)} may go")
    mask = np.ones(layout.num_params, dtype=np.float32)
    if scope in ("global", "lamp"):
        score = np.abs(flat) if scope == "global" else lamp_scores(flat, layout)
        # the smallest scores overall, a layer's candidates being only its ``cap`` smallest:
        # the same set a greedy pass in score order that skips full layers would take
        index = []
        for s, cap in zip(slices, caps):
            order = np.argsort(score[s], kind="stable")
            index.append(s.start + order[:cap])
        index = np.sort(np.concatenate(index))
        mask[index[_smallest(score[index], total)]] = 0.0
    else:
        for s, k in zip(slices, _capped_counts(sizes, total, caps, ratio)):
            mask[s.start + _smallest(flat[s], k)] = 0.0
    return mask


def sparsity(flat: np.ndarray, layout: Layout) -> float:
    """Fraction of prunable weights that are exactly zero."""
    parts = [np.asarray(flat)[s] for s in prunable_slices(layout)]
    n = sum(p.size for p in parts)
    return float(sum(int((p == 0).sum()) for p in parts) / n) if n else 0.0


def prune_and_finetune(
    spec: ModelSpec,
    data: TaskData,
    cfg: TrainConfig,
    flat: np.ndarray,
    ratio: float,
    epochs: int,
    scope: str = "global",
) -> tuple[np.ndarray, dict[str, float]]:
    """Prune ``flat`` by magnitude, fine-tune ``epochs`` epochs with the mask held, and return
    the twin's weights and metrics.

    Metrics are the trainer's final ones (``epoch`` = fine-tune epochs) plus ``ratio``,
    ``sparsity`` (of the returned weights) and ``pruned_<split>_acc``/``pruned_<split>_loss``:
    the pruned model before any fine-tuning. ``cfg`` supplies seed, optimizer, lr and batch size.
    """
    from eo_tasks.models.family import layout_for
    from eo_tasks.train.loop import train_model

    out, metrics = sparsify_model(spec, data, cfg, flat, ratio, PruneConfig(scope=scope, finetune_epochs=epochs))
    # the zoo's stored twins keep the metrics they always had (and no wall time, which would
    # make two generations of one config differ)
    extra = {"finetune_epochs", "kept_epoch", "wall_s"}
    return out, {k: v for k, v in metrics.items() if k not in extra and not k.startswith("start_")}


def sparsify_model(
    spec: ModelSpec,
    data: TaskData,
    cfg: TrainConfig,
    flat: np.ndarray,
    ratio: float,
    prune: PruneConfig,
    teacher: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """One sparsified twin of ``flat`` made as ``prune`` says; returns its weights and metrics
    as :func:`prune_and_finetune` does, ``pruned_*`` being the model just after the last
    pruning step (for ``oneshot``: the pruned dense model), plus ``finetune_epochs`` (all
    masked epochs), ``kept_epoch`` (the final fine-tune's epoch the twin is), ``wall_s``, and
    ``start_<split>_acc``: the model after the first pruning step, before any fine-tune (at
    ratio 0 the model as given, for either schedule).
    Step ``t`` trains with seed ``cfg.seed + t``. ``keep="best-val"`` picks the final
    fine-tune's epoch (0 = just pruned) with the highest ``val_acc``, the earliest on ties:
    validation only, the test split never takes part. With ``prune.distill``, every fine-tune
    also learns ``teacher``'s outputs (flat weights of the same spec; None: ``flat`` as given)."""
    from eo_tasks.models.family import layout_for
    from eo_tasks.train.loop import Distill, train_model

    start = time.perf_counter()
    layout = layout_for(spec)
    ratios = cubic_ratios(float(ratio), prune.steps) if prune.schedule == "gradual" else [float(ratio)]
    current = np.asarray(flat, dtype=np.float32)
    teach = Distill(current if teacher is None else np.asarray(teacher, np.float32), prune.distill) \
        if prune.distill else None
    best: list = []  # [val_acc, epoch, weights, metrics] of the best final-fine-tune epoch so far

    def keep_best(epoch: int, weights: np.ndarray, metrics: dict[str, float]) -> None:
        score = metrics.get("val_acc", np.nan)
        if not best or (np.isfinite(score) and not score <= best[0]):
            best[:] = [score, epoch, weights.copy(), dict(metrics)]

    first: dict[str, float] = {}
    for t, step_ratio in enumerate(ratios):
        last = t == len(ratios) - 1
        # pruned weights are zero, so each step's mask keeps them pruned: the masks only grow
        mask = magnitude_mask(current, layout, step_ratio, prune.scope, prune.protect)
        epochs = prune.finetune_epochs if last else prune.step_epochs
        step_cfg = dataclasses.replace(cfg, epochs=epochs, seed=cfg.seed + t, lr=cfg.lr * prune.lr_scale)
        callback = keep_best if last and prune.keep == "best-val" else None
        result = train_model(spec, data, step_cfg, callback=callback, init_weights=current * mask, mask=mask,
                             distill=teach)
        current = result.model.layout.flatten(result.model.state_dict())
        first = first or {f"start_{k}": v for k, v in result.history[0].items() if k.endswith("_acc")}
    metrics = dict(result.final)
    if best:
        current, metrics = best[2], best[3]
    for key, value in result.history[0].items():
        if key.endswith(("_acc", "_loss")):
            metrics[f"pruned_{key}"] = value
    metrics.update(first)
    metrics["ratio"] = float(ratio)
    metrics["sparsity"] = sparsity(current, layout)
    metrics["finetune_epochs"] = float(prune.total_epochs)
    metrics["kept_epoch"] = float(metrics["epoch"])
    metrics["wall_s"] = time.perf_counter() - start
    return current, metrics
