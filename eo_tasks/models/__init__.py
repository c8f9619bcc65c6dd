"""The fusion-CNN family (and the public zoos' ConvNets): specs, building a model from a
spec, and the weight-space ``Layout`` that maps a model to one flat weight vector.

Names are imported on first use: the specs do not import torch, the models do.
"""

from eo_tasks.lazy import lazy_exports

_EXPORTS = {
    "FusionCNN": "eo_tasks.models.family",
    "build_model": "eo_tasks.models.family",
    "check_spec": "eo_tasks.models.family",
    "flat_weights": "eo_tasks.models.family",
    "fusion_inputs": "eo_tasks.models.family",
    "layout_for": "eo_tasks.models.family",
    "load_flat": "eo_tasks.models.family",
    "spec_for": "eo_tasks.models.family",
    "AxisBlock": "eo_tasks.models.layout",
    "LayerSpec": "eo_tasks.models.layout",
    "Layout": "eo_tasks.models.layout",
    "SymmetryGroup": "eo_tasks.models.layout",
    "TensorSpec": "eo_tasks.models.layout",
    "ArchConfig": "eo_tasks.models.spec",
    "InputSpec": "eo_tasks.models.spec",
    "ModelSpec": "eo_tasks.models.spec",
    "ConvNetArch": "eo_tasks.models.convspec",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
