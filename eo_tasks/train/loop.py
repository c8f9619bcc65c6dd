"""A seeded training loop on in-memory task data.

Same spec, data and config give bit-identical weights on the CPU: the model is built
from its own generator, batches are drawn from another, and dropout's global RNG is
forked and seeded for the duration of the run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from eo_tasks.config import ConfigError
from eo_tasks.data.errors import DataError
from eo_tasks.data.splits import SPLITS
from eo_tasks.data.types import TaskData, TensorSet
from eo_tasks.models.family import build_model
from eo_tasks.models.spec import ModelSpec
from eo_tasks.train.config import TrainConfig
from eo_tasks.train.metrics import classification_metrics

# Images and conv weights are kept channels-last: on the CPU, torch's 2x2 max-pool of an NCHW
# tensor costs more than the convolutions around it; channels-last trains and evaluates the
# large EuroSAT zoo's models about 1.75x faster (benchmarks/train_memory_format.py).
# Flattened weights are the same either way (Layout.flatten copies in logical order).
MEMORY_FORMAT = torch.channels_last

# epoch, flat float32 weights, metrics of that epoch
Callback = Callable[[int, np.ndarray, dict[str, float]], None]


class DivergedError(RuntimeError):
    """The loss or the weights became NaN/inf."""

    def __init__(self, epoch: int, message: str) -> None:
        super().__init__(f"diverged at epoch {epoch}: {message}")
        self.epoch = epoch


@dataclass
class TrainResult:
    model: nn.Module
    history: list[dict[str, float]]  # one entry per evaluated epoch, epoch 0 = before training
    wall_time: float

    @property
    def final(self) -> dict[str, float]:
        return self.history[-1]


@dataclass(frozen=True)
class Distill:
    """Knowledge distillation (Hinton et al. 2015) from a fixed teacher of the same spec: the
    loss becomes ``(1 - weight) * task loss + weight * T^2 * soft loss``, the soft loss being the
    KL divergence from the teacher's softened class distribution (multi-label: binary cross-entropy
    against its softened sigmoids) at temperature ``T``. A pruned twin fine-tuned this way learns
    what the dense model computes, not only the labels of a small train split."""

    teacher: np.ndarray  # flat weights
    weight: float
    temperature: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 < self.weight <= 1.0:
            raise ConfigError(f"distillation weight must be in (0, 1], got {self.weight}")
        if not self.temperature > 0:
            raise ConfigError(f"distillation temperature must be > 0, got {self.temperature}")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available")
    return device


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` for the block and given back after (0 or None: left
    alone). Two processes of two threads each on a 2-core machine run several times slower
    than with one each, so a job sharing the cores asks for one."""
    if not n or n <= 0:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """The batch on ``device``, image planes channels-last (see :data:`MEMORY_FORMAT`)."""
    return {k: v.to(device, non_blocking=True, memory_format=MEMORY_FORMAT) if v.dim() == 4
            else v.to(device, non_blocking=True) for k, v in batch.items()}


def soft_loss(logits: torch.Tensor, teacher: torch.Tensor, temperature: float, multilabel: bool) -> torch.Tensor:
    """The distillation term, scaled by T^2 so that its gradients keep their size as T changes."""
    s, t = logits / temperature, teacher / temperature
    if multilabel:
        loss = F.binary_cross_entropy_with_logits(s, torch.sigmoid(t))
    else:
        loss = F.kl_div(F.log_softmax(s, dim=1), F.log_softmax(t, dim=1), reduction="batchmean", log_target=True)
    return loss * temperature**2


def loss_fn(logits: torch.Tensor, labels: torch.Tensor, multilabel: bool) -> torch.Tensor:
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
    return F.cross_entropy(logits, labels)


@torch.no_grad()
def predict_logits(model: nn.Module, data: TensorSet, batch_size: int = 1024,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    was_training = model.training
    model.eval()
    device = torch.device(device)
    outs = []
    for start in range(0, len(data), batch_size):
        batch = {k: v[start : start + batch_size] for k, v in data.inputs.items()}
        outs.append(model(_to(batch, device)).float().cpu())
    model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0)


def evaluate(model: nn.Module, data: TensorSet, multilabel: bool, batch_size: int = 1024,
             device: torch.device | str = "cpu") -> dict[str, float]:
    """Loss and accuracy (multi-label: micro-F1 as ``acc``, plus ``map``) of ``model`` on ``data``."""
    logits = predict_logits(model, data, batch_size, device)
    return classification_metrics(logits, data.labels, multilabel)


def cloudy_mask(meta: dict) -> np.ndarray | None:
    """Which samples are cloudy: synthetic ``cloud_fraction >= 0.5`` or BigEarthNet's cloud/shadow
    flag; None when the dataset does not say."""
    if "cloud_fraction" in meta:
        return np.asarray(meta["cloud_fraction"]) >= 0.5
    if "cloud_shadow" in meta:
        return np.asarray(meta["cloud_shadow"]) > 0
    return None


def sky_metrics(logits: torch.Tensor, data: TensorSet, multilabel: bool, prefix: str = "test") -> dict[str, float]:
    """``<prefix>_acc_cloudy`` and ``<prefix>_acc_clear`` from the logits of ``data`` (NaN for a
    side with no patches); empty where the dataset does not flag cloudy patches."""
    cloudy = cloudy_mask(data.meta)
    if cloudy is None:
        return {}
    out = {}
    for name, mask in (("cloudy", cloudy), ("clear", ~cloudy)):
        index = torch.from_numpy(np.flatnonzero(mask))
        out[f"{prefix}_acc_{name}"] = classification_metrics(logits[index], data.labels[index], multilabel)["acc"]
    return out


def _check_finite(model: nn.Module, epoch: int) -> None:
    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            raise DivergedError(epoch, f"parameter {name} is not finite")


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        # torch's smoothing (alpha 0.99) as the Model Zoos runs used; momentum as configured
        return torch.optim.RMSprop(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def train_model(
    spec: ModelSpec,
    data: TaskData,
    cfg: TrainConfig,
    callback: Callback | None = None,
    progress: Callable[[str], None] | None = None,
    init_weights: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    eval_epochs: Collection[int] | None = None,
    distill: Distill | None = None,
) -> TrainResult:
    """Train one model; evaluate at epoch 0 and after every epoch, handing each to ``callback``
    (metrics per split, plus ``test_acc_cloudy``/``test_acc_clear`` where the test split flags
    cloudy patches, :func:`cloudy_mask`).

    ``init_weights`` starts from a given flat vector instead of the seeded init (fine-tuning);
    ``mask`` (flat, 0/1) keeps pruned weights at zero after every step (masked fine-tuning).
    ``eval_epochs`` evaluates (and calls back) at those epochs only, e.g. the checkpoints a zoo
    keeps; None: every epoch. The weights are checked for divergence after every epoch either way.
    ``distill`` adds a soft loss against a fixed teacher's logits on the train split (:class:`Distill`).
    Raises :class:`DivergedError` when the loss or the weights stop being finite.
    """
    start_time = time.perf_counter()
    device = resolve_device(cfg.device)
    with torch_threads(cfg.threads):
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(cfg.seed)
            model = build_model(spec, seed=cfg.seed)
            layout = model.layout
            if init_weights is not None:
                model.load_state_dict(layout.unflatten(init_weights))
            mask_state = None
            if mask is not None:
                mask_state = {k: v.to(device) for k, v in layout.unflatten(mask).items()}
            model.to(device, memory_format=MEMORY_FORMAT)
            if mask_state is not None:
                with torch.no_grad():
                    for name, p in model.named_parameters():
                        p.mul_(mask_state[name])
            history = _fit(model, spec, data, cfg, device, callback, progress, mask_state, eval_epochs, distill)
    model.cpu()
    return TrainResult(model=model, history=history, wall_time=time.perf_counter() - start_time)


def _teacher_logits(spec: ModelSpec, distill: Distill, train: TensorSet, cfg: TrainConfig,
                    device: torch.device) -> torch.Tensor:
    teacher = build_model(spec, seed=cfg.seed)
    teacher.load_state_dict(teacher.layout.unflatten(np.asarray(distill.teacher, np.float32)))
    teacher.to(device, memory_format=MEMORY_FORMAT)
    return predict_logits(teacher, train, cfg.eval_batch_size, device).to(device)


def _fit(model, spec, data, cfg, device, callback, progress, mask_state, eval_epochs,
         distill) -> list[dict[str, float]]:
    train = data.splits["train"]
    if len(train) == 0:
        raise DataError("the train split is empty")
    eval_sets = {"train": train.sample(cfg.train_eval_size, seed=cfg.seed) if cfg.train_eval_size else train}
    eval_sets.update({s: data.splits[s] for s in SPLITS if s != "train" and s in data.splits and len(data.splits[s])})
    optimizer = _optimizer(model, cfg)
    order_gen = torch.Generator().manual_seed(cfg.seed + 7919)
    amp = cfg.amp and device.type == "cuda"
    history: list[dict[str, float]] = []

    def record(epoch: int) -> None:
        if eval_epochs is not None and epoch not in eval_epochs:
            return
        metrics: dict[str, float] = {"epoch": float(epoch)}
        for split, ts in eval_sets.items():
            logits = predict_logits(model, ts, cfg.eval_batch_size, device)
            for key, value in classification_metrics(logits, ts.labels, spec.multilabel).items():
                metrics[f"{split}_{key}"] = value
            if split == "test":  # accuracy on cloudy and on clear test patches, where they are flagged
                metrics.update(sky_metrics(logits, ts, spec.multilabel))
        if "test_acc" in metrics:
            metrics["gap"] = metrics["train_acc"] - metrics["test_acc"]
        history.append(metrics)
        if callback is not None:
            callback(epoch, model.layout.flatten(model.state_dict()), metrics)
        if progress is not None:
            shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k != "epoch")
            progress(f"epoch {epoch}/{cfg.epochs}: {shown}")

    record(0)
    model.train()
    n = len(train)
    # once, not per batch: a gathered batch of a channels-last tensor stays channels-last, so
    # each step copies its images once instead of twice (gather, then reformat)
    inputs, labels_all = _to(train.inputs, device), train.labels.to(device)
    soft = _teacher_logits(spec, distill, train, cfg, device) if distill is not None else None
    for epoch in range(1, cfg.epochs + 1):
        perm = torch.randperm(n, generator=order_gen).to(device)
        for start in range(0, n, cfg.batch_size):
            idx = perm[start : start + cfg.batch_size]
            batch = {k: v[idx] for k, v in inputs.items()}
            labels = labels_all[idx]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(batch)
            loss = loss_fn(logits.float(), labels, spec.multilabel)
            if soft is not None:
                loss = (1 - distill.weight) * loss + distill.weight * soft_loss(
                    logits.float(), soft[idx], distill.temperature, spec.multilabel)
            if not torch.isfinite(loss):
                raise DivergedError(epoch, f"loss is {loss.item()}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if mask_state is not None:
                with torch.no_grad():
                    for name, p in model.named_parameters():
                        p.mul_(mask_state[name])
        _check_finite(model, epoch)
        record(epoch)
    return history
