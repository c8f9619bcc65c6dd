from eo_tasks.data.config import DataConfig
from eo_tasks.data.errors import DataError
from eo_tasks.data.types import ModalityInfo, TaskData, TaskInfo, TensorSet
