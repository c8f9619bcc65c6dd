"""hyperzoo: hyper-representation learning on model zoos of Earth-observation CNNs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hyperzoo")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
