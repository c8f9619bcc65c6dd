from eo_tasks.models.layout import AxisBlock, LayerSpec, Layout, SymmetryGroup, TensorSpec
from eo_tasks.models.spec import ArchConfig, InputSpec, ModelSpec
