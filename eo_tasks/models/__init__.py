from eo_tasks.models.family import (
    FusionCNN,
    build_model,
    check_spec,
    flat_weights,
    fusion_inputs,
    layout_for,
    load_flat,
    spec_for,
)
from eo_tasks.models.layout import AxisBlock, LayerSpec, Layout, SymmetryGroup, TensorSpec
from eo_tasks.models.spec import ArchConfig, InputSpec, ModelSpec
