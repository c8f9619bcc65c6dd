"""hyperzoo: hyper-representation learning on model zoos of Earth-observation CNNs.

The ``hyperzoo`` command (``main``) and the demo pipeline's plans, which scripts/ and
benchmarks/ rerun. Names are imported on first use so that ``hyperzoo --help`` stays fast.
"""

from importlib.metadata import PackageNotFoundError, version

from eo_tasks import lazy_exports

try:
    __version__ = version("hyperzoo")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

_EXPORTS = {
    "main": "hyperzoo.cli",
    "make_plan": "hyperzoo.demo",
    "fusion_plan": "hyperzoo.plans",
    "eurosat_plan": "hyperzoo.eurosat",
    "run_plan": "hyperzoo.steps",
    "ZOOS": "hyperzoo.eurosat",
    "rerun_command": "hyperzoo.eurosat",
    "run_both": "hyperzoo.eurosat",
    # the generated results blocks of the README and docs/
    "doc_files": "hyperzoo.docblocks",
    "refresh": "hyperzoo.docblocks",
    "refreshed": "hyperzoo.docblocks",
    "publish": "hyperzoo.docblocks",
    "zoo_summary": "hyperzoo.docblocks",
    # the functional view against weights on a zoo of many architectures
    "run_wildpark": "hyperzoo.wildpark",
    "run_generation": "hyperzoo.generation",
    "wildpark_results": "hyperzoo.wildpark",
    "wildpark_rows": "hyperzoo.wildpark",
}
__getattr__, _lazy_names = lazy_exports(__name__, _EXPORTS)
__all__ = ["__version__", *_lazy_names]
