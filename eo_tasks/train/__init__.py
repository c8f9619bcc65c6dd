"""The seeded trainer (``train_model``), its config and metrics, pruning with masked
fine-tuning, and ``hyperzoo train``'s one-model run.

Names are imported on first use: ``TrainConfig`` does not import torch, the trainer does.
"""

from eo_tasks.lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": "eo_tasks.train.config",
    "DivergedError": "eo_tasks.train.loop",
    "cloudy_mask": "eo_tasks.train.loop",
    "predict_logits": "eo_tasks.train.loop",
    "resolve_device": "eo_tasks.train.loop",
    "torch_threads": "eo_tasks.train.loop",
    "train_model": "eo_tasks.train.loop",
    "classification_metrics": "eo_tasks.train.metrics",
    "PruneConfig": "eo_tasks.train.prune",
    "SCOPES": "eo_tasks.train.prune",
    "SCHEDULES": "eo_tasks.train.prune",
    "KEEPS": "eo_tasks.train.prune",
    "prune_and_finetune": "eo_tasks.train.prune",
    "sparsify_model": "eo_tasks.train.prune",
    "load_run_config": "eo_tasks.train.run",
    "run_training": "eo_tasks.train.run",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
