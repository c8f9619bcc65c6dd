"""EO learning tasks: datasets, synthetic stand-ins, the fusion-CNN family and a seeded trainer.

The public API is this package's exports and those of its subpackages ``eo_tasks.data``
(datasets, splits, task tensors), ``eo_tasks.models`` (the model family and its weight-space
layout) and ``eo_tasks.train`` (the trainer, metrics, pruning). Here: TOML configs and their
``ConfigError``, the command-line conventions (``run_command``, option checks, ``add_parser``)
and ``lazy_exports``, which every package's ``__init__`` uses. Rule: docs/architecture.md.

Names are imported on first use so that ``hyperzoo --help`` does not pay for torch.
"""

from eo_tasks.lazy import lazy_exports

_EXPORTS = {
    # TOML configs
    "ConfigError": "eo_tasks.config",
    "load_toml": "eo_tasks.config",
    "dump_toml": "eo_tasks.config",
    "from_dict": "eo_tasks.config",
    "to_dict": "eo_tasks.config",
    # the command line: exit statuses, option checks, the `hyperzoo data` / `train` parsers
    "run_command": "eo_tasks.command",
    "Interval": "eo_tasks.options",
    "NON_NEGATIVE_INT": "eo_tasks.options",
    "POSITIVE_INT": "eo_tasks.options",
    "SEED": "eo_tasks.options",
    "check_device": "eo_tasks.options",
    "check_options": "eo_tasks.options",
    "option_error": "eo_tasks.options",
    # one command-line vocabulary: the options every command spells alike, old spellings
    "FINETUNE_EPOCHS": "eo_tasks.options",
    "add_zoo_option": "eo_tasks.options",
    "add_data_root_option": "eo_tasks.options",
    "add_quiet_option": "eo_tasks.options",
    "add_overwrite_option": "eo_tasks.options",
    "add_seed_option": "eo_tasks.options",
    "add_output_options": "eo_tasks.options",
    "add_deprecated_option": "eo_tasks.options",
    "add_deprecated_positional": "eo_tasks.options",
    "deprecation_warning": "eo_tasks.options",
    "refuse_existing": "eo_tasks.options",
    "replace_output": "eo_tasks.options",
    "required_option": "eo_tasks.options",
    "add_parser": "eo_tasks.cli",
}
__getattr__, _lazy_names = lazy_exports(__name__, _EXPORTS)
__all__ = ["lazy_exports", *_lazy_names]
