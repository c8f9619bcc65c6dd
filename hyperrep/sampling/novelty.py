"""How far a drawn model is from every training model, in units of the zoo's own spacing.

The training-split models of the sampled architecture, at their final checkpoints, are the
reference (:func:`training_reference`); the zoo's spacing is the median aligned distance
from a training model to its nearest other one (:func:`memorisation.zoo_spacing`). A draw's
novelty is its aligned distance to the nearest reference model over that spacing: 0 is a
copy, 1 is as far as two independently trained models of the zoo. Sampling keeps draws at or
above a floor (``SampleConfig.min_novelty``) before it ranks them by validation accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eo_tasks.models import Layout
from hyperrep.sampling.context import ZooContext
from hyperrep.sampling.evaluate import Evaluator
from hyperrep.sampling.memorisation import Reference, nearest_aligned, zoo_spacing


def training_reference(rep, ctx: ZooContext) -> Reference:
    """The training-split zoo models at their final checkpoints, each predicting with its own spec
    (no predictions without task data)."""
    from hyperrep.sampling.sample import run_arch

    models = ctx.splits["train"]  # of the sampled architecture only
    weights = ctx.weights_many(models)
    embeddings = np.asarray(rep.embed(weights, arch=run_arch(rep, ctx), spec=[ctx.specs[int(m)] for m in models]))
    if ctx.data is None:
        return Reference([ctx.name(m) for m in models], weights, embeddings, None)
    evaluators: dict[object, Evaluator] = {}
    cache: dict[int, np.ndarray] = {}

    def predictions(k: int) -> np.ndarray:
        if k not in cache:
            spec = ctx.specs[int(models[k])]
            key = spec.for_eval()
            if key not in evaluators:
                evaluators[key] = Evaluator(spec, ctx.data)
            cache[k] = evaluators[key].predictions(weights[k], "test")
        return cache[k]

    return Reference([ctx.name(m) for m in models], weights, embeddings, predictions)


@dataclass
class Novelty:
    reference: Reference
    layout: Layout
    spacing: float  # the zoo's median model-to-nearest-other-model aligned distance
    candidates: int = 16

    @staticmethod
    def of(rep, ctx: ZooContext, candidates: int = 16, seed: int = 0) -> Novelty:
        ref = training_reference(rep, ctx)
        return Novelty(ref, ctx.layout, zoo_spacing(ref, ctx.layout, candidates=candidates, seed=seed), candidates)

    def distances(self, weights: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """Aligned distance from each row of ``weights`` to its nearest training model (NaN for
        a non-finite row)."""
        out = np.full(len(weights), np.nan)
        for i, (w, e) in enumerate(zip(weights, embeddings)):
            if np.isfinite(w).all():
                out[i] = nearest_aligned(w, e, self.reference, self.layout, self.candidates)[1]
        return out

    def relative(self, weights: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """:meth:`distances` over the zoo's spacing."""
        return self.distances(weights, embeddings) / self.spacing
