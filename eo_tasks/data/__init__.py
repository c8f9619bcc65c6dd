from eo_tasks.data.config import DataConfig
from eo_tasks.data.errors import DataError
from eo_tasks.data.types import ModalityInfo, TaskData, TaskInfo, TensorSet
from eo_tasks.data.splits import DEFAULT_FRACTIONS, SPLITS, stratified_split
from eo_tasks.data.eurosat import EUROSAT_MS_BANDS, EUROSAT_RGB_BANDS, EuroSATMS, EuroSATRGB
from eo_tasks.data.tiff import S2_BANDS
from eo_tasks.data.benge import SEASONS, WORLDCOVER_CLASSES, WORLDCOVER_CODES, BenGe
from eo_tasks.data.bigearthnet import BIGEARTHNET_19, BIGEARTHNET_43, BigEarthNet
from eo_tasks.data.materialise import ChannelStats, band_statistics, dataset_for, decode, load_task_data
