"""Datasets (EuroSAT RGB / MS, ben-ge, BigEarthNet), their splits and the in-memory task
tensors (``TaskData``) that the trainer and the zoo read; ``load_task_data`` materialises a
``DataConfig`` into them (cached).

Names are imported on first use: the splits and configs do not import torch, the datasets do.
"""

from eo_tasks.lazy import lazy_exports

_EXPORTS = {
    "DataConfig": "eo_tasks.data.config",
    "DataError": "eo_tasks.data.errors",
    "ModalityInfo": "eo_tasks.data.types",
    "TaskData": "eo_tasks.data.types",
    "TaskInfo": "eo_tasks.data.types",
    "TensorSet": "eo_tasks.data.types",
    "DEFAULT_FRACTIONS": "eo_tasks.data.splits",
    "SPLITS": "eo_tasks.data.splits",
    "split_sizes": "eo_tasks.data.splits",
    "stratified_split": "eo_tasks.data.splits",
    "EUROSAT_MS_BANDS": "eo_tasks.data.eurosat",
    "EUROSAT_RGB_BANDS": "eo_tasks.data.eurosat",
    "EuroSATMS": "eo_tasks.data.eurosat",
    "EuroSATRGB": "eo_tasks.data.eurosat",
    "S2_BANDS": "eo_tasks.data.tiff",
    "SEASONS": "eo_tasks.data.benge",
    "WORLDCOVER_CLASSES": "eo_tasks.data.benge",
    "WORLDCOVER_CODES": "eo_tasks.data.benge",
    "BenGe": "eo_tasks.data.benge",
    "BIGEARTHNET_19": "eo_tasks.data.bigearthnet",
    "BIGEARTHNET_43": "eo_tasks.data.bigearthnet",
    "BigEarthNet": "eo_tasks.data.bigearthnet",
    "ChannelStats": "eo_tasks.data.materialise",
    "band_statistics": "eo_tasks.data.materialise",
    "dataset_for": "eo_tasks.data.materialise",
    "decode": "eo_tasks.data.materialise",
    "load_task_data": "eo_tasks.data.materialise",
    # the public zoos' datasets (MNIST, CIFAR-10, ...), which imported zoos are evaluated on
    "PUBLIC_KINDS": "eo_tasks.data.public",
    "public_kind": "eo_tasks.data.public",
    "files_hint": "eo_tasks.data.public",
    "MODELZOOS_SPLITS": "eo_tasks.data.public",
    "MODELZOOS_SPLIT_SEED": "eo_tasks.data.public",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
