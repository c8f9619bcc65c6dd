"""Score flat weight vectors as eo_tasks models on a task's splits.

The fusion-CNN family has no batch normalisation, so a decoded weight vector is a
complete model: there are no running statistics to re-estimate before evaluating it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from eo_tasks.data import TaskData
from eo_tasks.models import ModelSpec, build_model, load_flat
from eo_tasks.train import classification_metrics, predict_logits


class Evaluator:
    """One model skeleton of ``spec``, reloaded with each weight vector to score."""

    def __init__(self, spec: ModelSpec, data: TaskData, batch_size: int = 1024) -> None:
        self.spec = spec
        self.data = data
        self.batch_size = batch_size
        self.model = build_model(spec, seed=0)
        self.layout = self.model.layout
        for split in ("val", "test"):
            if split not in data.splits or len(data.splits[split]) == 0:
                raise ValueError(f"the task data has no {split!r} split to evaluate sampled models on")

    def _logits(self, flat: np.ndarray, split: str) -> torch.Tensor | None:
        flat = np.asarray(flat, dtype=np.float32)
        if not np.isfinite(flat).all():
            return None
        load_flat(self.model, flat)
        return predict_logits(self.model, self.data.splits[split], self.batch_size)

    def metrics(self, flat: np.ndarray, splits: Sequence[str] = ("val", "test")) -> dict[str, float]:
        """``{split}_acc`` and ``{split}_loss`` per split; NaN for a non-finite weight vector."""
        out: dict[str, float] = {}
        for split in splits:
            logits = self._logits(flat, split)
            if logits is None:
                out[f"{split}_acc"] = out[f"{split}_loss"] = float("nan")
                continue
            m = classification_metrics(logits, self.data.splits[split].labels, self.spec.multilabel)
            out[f"{split}_acc"], out[f"{split}_loss"] = m["acc"], m["loss"]
        return out

    def score(self, flats: np.ndarray, splits: Sequence[str] = ("val", "test")) -> list[dict[str, float]]:
        return [self.metrics(f, splits) for f in flats]

    def predictions(self, flat: np.ndarray, split: str = "test") -> np.ndarray:
        """Predicted labels: class indices ``[N]``, or a boolean ``[N, K]`` for multi-label tasks."""
        logits = self._logits(flat, split)
        n = len(self.data.splits[split])
        if logits is None:
            return np.full((n, self.spec.num_classes) if self.spec.multilabel else n, -1)
        return (logits > 0).numpy() if self.spec.multilabel else logits.argmax(1).numpy()


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of predictions (per sample, or per sample and label) on which ``a`` and ``b`` agree."""
    return float(np.mean(np.asarray(a) == np.asarray(b)))


def random_init_weights(spec: ModelSpec, n: int, seed: int) -> np.ndarray:
    """``n`` freshly initialised models of ``spec`` (the family's own init), seeds ``seed .. seed+n-1``."""
    from eo_tasks.models import flat_weights

    return np.stack([flat_weights(build_model(spec, seed=seed + k)) for k in range(n)])
