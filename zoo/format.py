"""The zoo file format's constants and the errors of zoo files (docs/zoo-format.md).

Imports nothing heavy, so every other zoo module (reader and writer alike) can share it.
Callers decide by exception type, never by message text: a file that is not, or no longer,
a valid zoo raises a :class:`ZooFormatError` subclass (a ``ValueError``); a request that a
valid zoo cannot answer as asked (which architecture, which epochs) raises a ``ConfigError``
subclass, since the user's config or options have to change.
"""

from __future__ import annotations

from eo_tasks import ConfigError

FORMAT = "hyperzoo.zoo"
FORMAT_VERSION = 1
STATUS_CODES = {"pending": 0, "done": 1, "failed": 2, "diverged": 3}
STATUS_NAMES = {v: k for k, v in STATUS_CODES.items()}
FINISHED = ("done", "failed", "diverged")
ERROR_BYTES = 2048  # error text is fixed-length (SWMR cannot grow variable-length data)
NODE_BYTES = 64
ROW_CHUNK = 256
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
# /models columns in the order the table shows them
TABLE_COLUMNS = ("name", "arch", "num_params", "seed", "lr", "weight_decay", "momentum", "optimizer", "batch_size",
                 "epochs", "activation", "init", "dropout", "fusion", "train_size", "overrides", "spec",
                 "train_config", "status", "error", "wall_time", "finished_at", "run", "node", "code")
# root attributes the format defines; a plan's extra attributes may not reuse these names
ROOT_ATTRIBUTES = ("format", "format_version", "config_hash", "config_text", "config_json", "resources", "task",
                   "provenance", "num_models", "num_checkpoints", "max_params", "runs")


class ZooFormatError(ValueError):
    """A file that is not, or no longer, a valid zoo for this code."""


class NotAZooError(ZooFormatError):
    """Not an HDF5 file, or an HDF5 file without the zoo format's marks."""


class TruncatedZooError(ZooFormatError):
    """An HDF5 file shorter than its superblock says (a copy cut short, or a full disk)."""


class UnsupportedVersionError(ZooFormatError):
    """A zoo of a format version this code does not read (or write)."""


class ZooBusyError(RuntimeError):
    """Another process holds the zoo file open for writing."""


class AlreadyWrittenError(RuntimeError):
    """A model whose status is already final was given to the writer again."""


class MultipleArchitecturesError(ConfigError):
    """The zoo (or the selected models) use several architectures and none was chosen."""


class UnknownLayoutError(ConfigError):
    """No architecture of the zoo has the given weight-space layout."""
